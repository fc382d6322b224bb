"""A wave's own sign-off (e.g. 1 × business_owner before prod-eu): given while the release rolls
out and before the wave starts, bound to the release's content, and waking the wave it lets
start. The verdict itself is written by the signoffs app; this module knows the wave."""

from django.contrib.auth.models import User
from django.db import transaction

from apps.core.errors import Conflict, NotAllowed, NotFound
from apps.releases import rules
from apps.releases.models import Release
from apps.releases.services import get_release
from apps.signoffs.eligibility import signoff_roles
from apps.signoffs.models import ApprovalLink, SignOff, SignoffRequirement
from apps.signoffs.services import signoff_record, verdict_clean

from .models import Wave
from .queue import wake
from .rules import WAITING_STATES


def wave_signoff_give(
    *, wave_id: int, decision: str, actor: User, comment: str = "", role: str | None = None
) -> tuple[SignOff, bool]:
    """A verdict (a `Decision`) on one wave's own sign-off requirement, as the stakeholder role
    `role` (its slug; None: the only one the actor holds here). Returns the sign-off and whether
    it is new (False: the same verdict was given before)."""
    release_id = Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
    if release_id is None:
        raise NotFound("No such wave.", field="wave")
    decision, comment, role = verdict_clean(decision, comment, role)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        wave = _wave_to_sign(release, wave_id)
        eligible = signoff_roles(actor, release, wave.pk)
        if not eligible:
            raise NotAllowed(_refusal(actor, release))
        signoff, created = signoff_record(
            release=release,
            wave_id=wave.pk,
            wave_name=wave.name,
            actor=actor,
            decision=decision,
            comment=comment,
            role=role,
            eligible=eligible,
        )
        if created:
            wake(wave)
    return signoff, created


def _wave_to_sign(release: Release, wave_id: int) -> Wave:
    """The wave, if its own sign-off can be given now: the release rolls out, the wave has a
    requirement and has not started."""
    wave = (
        Wave.objects.select_related("environment").filter(pk=wave_id, plan__release=release).first()
    )
    if wave is None:
        raise NotFound("No such wave in this release.", field="wave")
    if release.phase != rules.ROLLOUT:
        raise Conflict(
            f"A wave's own sign-off is given while the release rolls out, not in {release.phase}."
        )
    if not SignoffRequirement.objects.filter(wave=wave).exists():
        raise Conflict(f"{wave.name} has no sign-off requirement of its own.")
    if wave.state not in WAITING_STATES:  # its sign-off matters until it starts
        raise Conflict(f"{wave.name} is {wave.state}; its sign-off no longer matters.")
    return wave


def _refusal(actor: User, release: Release) -> str:
    if actor.pk in (release.owner_id, release.created_by_id):
        return "You own or created this release, so you cannot sign its waves off."
    return (
        "Only an approver named on this release in a role this wave's sign-off asks for "
        "can sign it."
    )


def wave_signoff_asked(wave_id: int) -> bool:
    """Whether the wave's own sign-off is still asked: the release rolls out, the wave has a
    requirement and has not started (the same test `wave_signoff_give` makes)."""
    return Wave.objects.filter(
        pk=wave_id,
        plan__release__phase=rules.ROLLOUT,
        state__in=WAITING_STATES,
        signoff_requirements__isnull=False,
    ).exists()


def wave_link_give(link: ApprovalLink, decision: str, comment: str) -> SignOff:
    """A mailed wave link's verdict, as its approver and role (see apps.signoffs.links)."""
    assert link.wave_id is not None
    signoff, _ = wave_signoff_give(
        wave_id=link.wave_id,
        decision=decision,
        comment=comment,
        role=link.role.slug,
        actor=link.user,
    )
    return signoff

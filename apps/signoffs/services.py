from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch
from apps.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from apps.core.validation import clean_choice, clean_id, clean_int, clean_text
from apps.notifications.outbox import Sends
from apps.releases import rules
from apps.releases.services import get_release, record_change
from apps.stakeholders.models import StakeholderRole

from .eligibility import signoff_roles
from .models import Decision, SignOff, SignoffRequirement

SIGNING_PHASES = frozenset({rules.PREPARATION, rules.TESTING})
POLICY_PHASES = frozenset({rules.PLANNING, rules.PREPARATION, rules.TESTING})


def policy_set(
    *, release_id: Any, requirements: Any, actor: Any, expiry_days: Any = None
) -> list[SignoffRequirement]:
    """Replace a release's sign-off policy: `requirements` is [{"role": slug, "count": n}, ...]."""
    if not isinstance(requirements, list | tuple):
        raise ServiceError("requirements must be a list.", field="requirements")
    wanted: dict[str, int] = {}
    for entry in requirements:
        if not isinstance(entry, dict):
            raise ServiceError("Each requirement is {role, count}.", field="requirements")
        slug = clean_text(entry.get("role"), field="role", max_length=32, required=True)
        count = clean_int(entry.get("count", 1), field="count", minimum=1, maximum=50)
        if slug in wanted:
            raise ServiceError(f"Role {slug!r} is named twice.", field="requirements")
        wanted[slug] = count
    if expiry_days is not None:
        expiry_days = clean_int(expiry_days, field="expiry_days", minimum=1, maximum=3650)
    roles = {r.slug: r for r in StakeholderRole.objects.filter(slug__in=wanted)}
    unknown = sorted(set(wanted) - set(roles))
    if unknown:
        raise ServiceError(f"Unknown stakeholder role(s): {', '.join(unknown)}.", field="role")
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.SET_POLICY, release)
        if release.phase not in POLICY_PHASES:
            raise Conflict("The sign-off policy is fixed once the release is rolling out.")
        current = {
            r.role.slug: r.count
            for r in SignoffRequirement.objects.filter(
                release=release, wave__isnull=True
            ).select_related("role")
        }
        if current == wanted and release.signoff_expiry_days == expiry_days:
            return list(SignoffRequirement.objects.filter(release=release, wave__isnull=True))
        SignoffRequirement.objects.filter(release=release, wave__isnull=True).delete()
        created = [
            SignoffRequirement.objects.create(release=release, role=roles[slug], count=count)
            for slug, count in sorted(wanted.items())
        ]
        before_expiry = release.signoff_expiry_days
        release.signoff_expiry_days = expiry_days
        release.save(update_fields=["signoff_expiry_days", "updated_at"])
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="policy.set",
            obj=release,
            before={"requirements": current, "expiry_days": before_expiry},
            after={"requirements": wanted, "expiry_days": expiry_days},
        )
    return created


def signoff_give(
    *,
    release_id: Any,
    decision: Any,
    actor: Any,
    comment: Any = "",
    role: Any = None,
    wave_id: Any = None,
) -> SignOff:
    """Approve or reject the release's current content, or with `wave_id` one wave's own
    requirement before it starts. One verdict per person per content (and wave); repeating
    the same verdict is a no-op. A rejection needs a comment."""
    return _give(
        release_id=release_id,
        decision=decision,
        actor=actor,
        comment=comment,
        role=role,
        wave_id=wave_id,
    )[0]


def wave_signoff_give(
    *, wave_id: Any, decision: Any, actor: Any, comment: Any = "", role: Any = None
) -> tuple[SignOff, bool]:
    """A verdict on one wave's own sign-off requirement (e.g. 1 × business_owner before
    prod-eu), given while the release rolls out and before the wave starts, bound to the
    release's content. Returns the sign-off and whether it is new (False: the same verdict
    was given before)."""
    from apps.rollouts.models import Wave

    wave_id = clean_id(wave_id, field="wave")
    release_id = Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
    if release_id is None:
        raise NotFound("No such wave.", field="wave")
    return _give(
        release_id=release_id,
        decision=decision,
        actor=actor,
        comment=comment,
        role=role,
        wave_id=wave_id,
    )


def _give(
    *,
    release_id: Any,
    decision: Any,
    actor: Any,
    comment: Any,
    role: Any,
    wave_id: Any,
) -> tuple[SignOff, bool]:
    decision = clean_choice(decision, field="decision", choices=Decision)
    comment = clean_text(comment, field="comment", max_length=5000)
    if role is not None:
        role = clean_text(role, field="role", max_length=32, required=True)
    if decision == Decision.REJECT and not comment:
        raise ServiceError("Say why you reject: a rejection needs a comment.", field="comment")
    if wave_id is not None:
        wave_id = clean_id(wave_id, field="wave")
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        wave = None
        if wave_id is None:
            require(actor, Action.SIGN_OFF, release)
            if release.phase not in SIGNING_PHASES:
                raise Conflict(
                    f"Sign-offs are given in preparation or testing, not in {release.phase}."
                )
            eligible = signoff_roles(actor, release)
        else:
            wave = _wave_to_sign(release, wave_id)
            eligible = signoff_roles(actor, release, wave)
            if not eligible:
                raise NotAllowed(_wave_refusal(actor, release))
        if role is None:
            if len(eligible) > 1:
                raise ServiceError(
                    f"You hold several roles here; say which one you sign as: {', '.join(eligible)}.",
                    field="role",
                )
            role = eligible[0]
        elif role not in eligible:
            raise ServiceError(f"You cannot sign off as {role!r} on this release.", field="role")
        existing = SignOff.objects.filter(
            release=release, signer=actor, fingerprint=release.fingerprint, wave=wave
        ).first()
        if existing is not None:
            if existing.decision == decision:
                return existing, False
            raise Conflict("You have already given your verdict on this content of the release.")
        try:
            with transaction.atomic():
                signoff = SignOff.objects.create(
                    release=release,
                    signer=actor,
                    role=StakeholderRole.objects.get(slug=role),
                    decision=decision,
                    comment=comment,
                    fingerprint=release.fingerprint,
                    wave=wave,
                )
        except IntegrityError:
            raise Conflict(
                "You have already given your verdict on this content of the release."
            ) from None
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="signoff.approved" if decision == Decision.APPROVE else "signoff.rejected",
            obj=signoff,
            after={
                "decision": decision,
                "role": role,
                "fingerprint": release.fingerprint,
                "wave": wave.name if wave else None,
            },
            reason=comment,
        )
        if wave is not None:
            from apps.rollouts.queue import wake

            wake(wave)
    return signoff, True


def _wave_to_sign(release: Any, wave_id: int) -> Any:
    """The wave, if its own sign-off can be given now: the release rolls out, the wave has a
    requirement and has not started."""
    from apps.rollouts.models import Wave, WaveState

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
    if wave.state not in (WaveState.PENDING, WaveState.SCHEDULED, WaveState.WAITING):
        raise Conflict(f"{wave.name} is {wave.state}; its sign-off no longer matters.")
    return wave


def _wave_refusal(actor: Any, release: Any) -> str:
    if actor.pk in (release.owner_id, release.created_by_id):
        return "You own or created this release, so you cannot sign its waves off."
    return (
        "Only an approver named on this release in a role this wave's sign-off asks for "
        "can sign it."
    )


def wave_signoff_request(
    *,
    release: Any,
    wave: Any,
    roles: list[str],
    now: datetime,
    batch: AuditBatch | None = None,
    sends: Sends | None = None,
) -> list[str]:
    """Ask the stakeholders of `roles` for a wave's own sign-off, once per requirement; called
    as the wave comes up, with the release and wave locked. Returns the roles asked now.
    `batch` and `sends` are the engine run's (see AuditBatch and Sends)."""
    from apps.notifications.outbox import notify
    from apps.rollouts.models import WaveState

    pending = list(
        SignoffRequirement.objects.filter(
            wave=wave, role__slug__in=roles, requested_at__isnull=True
        ).values_list("pk", "role__slug", "role__name")
    )
    if not pending:
        return []
    SignoffRequirement.objects.filter(pk__in=[pk for pk, _, _ in pending]).update(requested_at=now)
    asked = sorted(slug for _, slug, _ in pending)
    names = sorted(name for _, _, name in pending)
    record_change(
        release_id=release.pk,
        actor=None,
        verb="wave.signoff_requested",
        obj=wave,
        after={"wave": wave.name, "roles": asked},
        batch=batch,
    )
    link = settings.RELEASEDECK_PUBLIC_URL.rstrip("/") + reverse("signoffs:page", args=[release.pk])
    notify(
        release=release,
        event="signoff.requested",
        wave=wave,
        roles=set(asked),
        text=(
            f"Wave {wave.name} ({wave.environment.name}) waits for a sign-off from "
            f"{' and '.join(names)} before it starts. Approve or reject it here: "
            f"{link}#wave-{wave.pk}"
        ),
        phase=release.phase,
        wave_state=WaveState.WAITING,
        sends=sends,
    )
    return asked

from collections.abc import Sequence
from datetime import datetime
from typing import NotRequired, TypedDict, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Model, Q
from django.urls import reverse

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch
from apps.core.errors import Conflict, ServiceError
from apps.notifications.outbox import Sends, WaveFacts, notify
from apps.releases import rules
from apps.releases.models import Release
from apps.releases.services import get_release, record_change
from apps.stakeholders.models import StakeholderRole

from .eligibility import signoff_roles
from .models import Decision, SignOff, SignoffRequirement

SIGNING_PHASES = frozenset({rules.PREPARATION, rules.TESTING})
POLICY_PHASES = frozenset({rules.PLANNING, rules.PREPARATION, rules.TESTING})

# What the services take is shaped and checked by the API's serializers and the pages' forms
# (a choice of decision, lengths, a role's slug, counts, one line per role); the services check
# permission, the phase, who may sign as what, and that a rejection says why.


class Requirement(TypedDict):
    """One line of a sign-off policy: `count` approvals (1 unless given) from the role."""

    role: str
    count: NotRequired[int]


def policy_set(
    *,
    release_id: int,
    requirements: Sequence[Requirement],
    actor: User,
    expiry_days: int | None = None,
) -> list[SignoffRequirement]:
    """Replace a release's sign-off policy, one requirement per role."""
    wanted = {r["role"]: r.get("count", 1) for r in requirements}
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


def signoff_ask_on_testing(*, release: Release, **_: object) -> None:
    """A release entering testing asks the policy's roles for their sign-off
    (`releases.signals.release_moved`). Release-level policy only: a wave's own sign-off is
    asked for when that wave waits."""
    if release.phase != rules.TESTING:
        return
    roles = SignoffRequirement.objects.filter(release=release, wave__isnull=True).values_list(
        "role__slug", flat=True
    )
    notify(release=release, event="signoff.requested", roles=set(roles))


def signoff_give(
    *, release_id: int, decision: str, actor: User, comment: str = "", role: str | None = None
) -> SignOff:
    """Approve or reject the release's current content. One verdict per person per content;
    repeating the same verdict is a no-op. A rejection needs a comment. (A wave's own
    requirement is signed through `rollouts.wave_signoffs.wave_signoff_give`.)"""
    decision, comment, role = verdict_clean(decision, comment, role)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.SIGN_OFF, release)
        if release.phase not in SIGNING_PHASES:
            raise Conflict(
                f"Sign-offs are given in preparation or testing, not in {release.phase}."
            )
        return signoff_record(
            release=release,
            wave_id=None,
            wave_name=None,
            actor=actor,
            decision=decision,
            comment=comment,
            role=role,
            eligible=signoff_roles(actor, release),
        )[0]


def verdict_clean(decision: str, comment: str, role: str | None) -> tuple[str, str, str | None]:
    """A verdict's decision, comment and role, refused when it breaks the rule every verdict
    keeps: a rejection says why. (The serializer or form that took it checked its shape.)"""
    if decision == Decision.REJECT and not comment.strip():
        raise ServiceError("Say why you reject: a rejection needs a comment.", field="comment")
    return decision, comment, role


def signoff_record(
    *,
    release: Release,
    wave_id: int | None,
    wave_name: str | None,
    actor: User,
    decision: str,
    comment: str,
    role: str | None,
    eligible: list[str],
) -> tuple[SignOff, bool]:
    """Write `actor`'s verdict on `release` (or on the own requirement of the wave `wave_id`,
    named `wave_name`) as one of the `eligible` roles. The caller holds the release's lock and
    has checked the verdict may be given now. Returns the sign-off and whether it is new
    (False: the same verdict was given before)."""
    if role is None:
        if len(eligible) > 1:
            raise ServiceError(
                f"You hold several roles here; say which one you sign as: {', '.join(eligible)}.",
                field="role",
            )
        role = eligible[0]
    elif role not in eligible:
        raise ServiceError(f"You cannot sign off as {role!r} on this release.", field="role")
    same_wave = Q(wave_id=wave_id) if wave_id is not None else Q(wave__isnull=True)
    existing = SignOff.objects.filter(
        same_wave, release=release, signer=actor, fingerprint=release.fingerprint
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
                wave_id=wave_id,
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
            "wave": wave_name,
        },
        reason=comment,
    )
    return signoff, True


def wave_signoff_request(
    *,
    release: Release,
    wave: WaveFacts,
    roles: list[str],
    now: datetime,
    wave_state: str,
    batch: AuditBatch | None = None,
    sends: Sends | None = None,
) -> list[str]:
    """Ask the stakeholders of `roles` for a wave's own sign-off, once per requirement; called
    as the wave comes up, with the release and wave locked. Returns the roles asked now.
    `batch` and `sends` are the engine run's (see AuditBatch and Sends)."""
    pending = list(
        SignoffRequirement.objects.filter(
            wave_id=wave.pk, role__slug__in=roles, requested_at__isnull=True
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
        obj=cast(Model, wave),  # the rollout engine's Wave row
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
        wave_state=wave_state,
        sends=sends,
    )
    return asked

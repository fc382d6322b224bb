from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch
from apps.core.errors import Conflict, ServiceError
from apps.core.validation import clean_choice, clean_int, clean_text
from apps.notifications.outbox import Sends, notify
from apps.releases import rules
from apps.releases.models import Release
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


def signoff_ask_on_testing(*, release: Release, **_: Any) -> None:
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
    *, release_id: Any, decision: Any, actor: Any, comment: Any = "", role: Any = None
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


def verdict_clean(decision: Any, comment: Any, role: Any) -> tuple[str, str, str | None]:
    """A verdict's decision, comment and role as given, checked for shape."""
    decision = clean_choice(decision, field="decision", choices=Decision)
    comment = clean_text(comment, field="comment", max_length=5000)
    if role is not None:
        role = clean_text(role, field="role", max_length=32, required=True)
    if decision == Decision.REJECT and not comment:
        raise ServiceError("Say why you reject: a rejection needs a comment.", field="comment")
    return decision, comment, role


def signoff_record(
    *,
    release: Release,
    wave_id: int | None,
    wave_name: str | None,
    actor: Any,
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
    release: Any,
    wave: Any,
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
        wave_state=wave_state,
        sends=sends,
    )
    return asked

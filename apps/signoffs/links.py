"""Approve and Reject links in a sign-off request mail.

A link is bound to one approver, one release (or one of its waves), one stakeholder role and
the release's content, works once and expires. Opening it changes nothing; the confirmation
page's POST decides, through `signoff_give` (a wave's: the decider the rollouts app registers)
and so under every rule a verdict from the sign-off page meets. The
link is the approver's credential for that one verdict: it signs nobody in. Only the token's
SHA-256 is stored, so the table cannot be turned back into working links.
"""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.permissions import Action, can
from apps.audit.services import audit_record
from apps.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from apps.notifications.models import Notification
from apps.releases.models import Release
from apps.releases.services import get_release
from apps.stakeholders.models import Stakeholder

from .eligibility import signoff_roles
from .models import ApprovalLink, Decision, LinkVoid, SignOff, SignoffRequirement
from .services import SIGNING_PHASES, signoff_give

TOKEN_BYTES = 32


class LinkRefused(ServiceError):
    """A link that decides nothing now: 409 when it was used or the verdict was given, 410
    when it expired or became void, 403 when another person is signed in. `code` is stable."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_lifetime() -> timedelta:
    return timedelta(hours=settings.RELEASEDECK_APPROVAL_LINK_HOURS)


def link_url(token: str, decision: str) -> str:
    base = settings.RELEASEDECK_PUBLIC_URL.rstrip("/")
    return f"{base}{reverse('signoffs:link', args=[token])}?decision={decision}"


@dataclass(frozen=True)
class WaveDecider:
    """How a wave's link is decided, from the app that owns waves (signoffs sits below it):
    `asked(wave_id)` says whether the wave's own sign-off is still asked (the release rolls
    out, the wave has not started); `give(link, decision, comment)` is its one writer."""

    asked: Callable[[int], bool]
    give: Callable[[ApprovalLink, str, str], SignOff]


_wave_decider: WaveDecider | None = None


def register_wave_decider(decider: WaveDecider) -> None:
    """Called from the rollouts app's AppConfig.ready(); without it no wave link is made."""
    global _wave_decider
    _wave_decider = decider


def _wave_asked(wave_id: int) -> bool:
    return _wave_decider is not None and _wave_decider.asked(wave_id)


@dataclass(frozen=True)
class MintedLink:
    link: ApprovalLink
    token: str


def approval_link_mint(
    *,
    release: Release,
    user: User,
    role_slug: str,
    wave_id: int | None = None,
    now: datetime | None = None,
) -> MintedLink:
    """A new link for `user` to sign `release`'s current content (or the wave `wave_id`'s own
    sign-off on it) off as `role_slug`."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ApprovalLink.objects.create(
        token_hash=hash_token(token),
        user=user,
        release=release,
        wave_id=wave_id,
        role=_requirements(release, wave_id).get(role__slug=role_slug).role,
        fingerprint=release.fingerprint,
        expires_at=now + link_lifetime(),
    )
    return MintedLink(link=link, token=token)


def _requirements(release: Release, wave_id: int | None) -> Any:
    requirements = SignoffRequirement.objects.filter(release=release).select_related("role")
    if wave_id is None:
        return requirements.filter(wave__isnull=True)
    return requirements.filter(wave_id=wave_id)


def approval_links_for_mail(
    *, release_id: int, email: str, wave_id: int | None = None
) -> list[MintedLink]:
    """Links for whoever a sign-off request mail to `email` on the release (or on the wave
    `wave_id`'s own sign-off) goes to: one per policy role they hold and may sign as now.
    None when the release, or the wave, takes no sign-offs."""
    with transaction.atomic():
        release = Release.objects.filter(pk=release_id).select_related("application").first()
        if release is None:
            return []
        if wave_id is None and release.phase not in SIGNING_PHASES:
            return []
        if wave_id is not None and not _wave_asked(wave_id):
            return []
        stakeholders = (
            Stakeholder.objects.filter(release=release, user__email=email, user__is_active=True)
            .select_related("user", "role")
            .order_by("user_id", "role__slug")
        )
        minted = []
        eligible: dict[int, list[str]] = {}
        for stakeholder in stakeholders:
            user = stakeholder.user
            if user.pk not in eligible:
                eligible[user.pk] = signoff_roles(user, release, wave_id)
            if stakeholder.role.slug in eligible[user.pk]:
                minted.append(
                    approval_link_mint(
                        release=release,
                        user=user,
                        role_slug=stakeholder.role.slug,
                        wave_id=wave_id,
                    )
                )
        return minted


def approval_link_find(token: str) -> ApprovalLink | None:
    if not token or len(token) > 128:
        return None
    return (
        ApprovalLink.objects.select_related("user", "role", "signoff", "release", "wave")
        .filter(token_hash=hash_token(token))
        .first()
    )


def _name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def _verdict_text(signoff: SignOff, link: ApprovalLink) -> str:
    verb = "approved" if signoff.decision == Decision.APPROVE else "rejected"
    what = f"wave {link.wave.name}" if link.wave is not None else "it"
    when = timezone.localtime(signoff.created_at).strftime("%-d %b %Y, %H:%M %Z")
    return f"{verb} {what} as {signoff.role.name} on {when}"


def approval_link_refusal(
    link: ApprovalLink, *, release: Release, viewer: Any, now: datetime | None = None
) -> LinkRefused | None:
    """Why `link` cannot decide now, seen by `viewer` (the signed-in person, or anonymous);
    None when it can. The rules of the verdict itself are `signoff_give`'s."""
    now = now or timezone.now()
    if viewer is not None and viewer.is_authenticated and viewer.pk != link.user_id:
        return LinkRefused(
            f"This approval link is not yours, {_name(viewer)}: it was sent to another "
            "approver. Sign out to use it on their behalf, or give your own verdict on the "
            "release's sign-off page.",
            status=403,
            code="not_yours",
        )
    if link.used_at is not None:
        what = f" to say {link.signoff.decision}" if link.signoff else ""
        when = timezone.localtime(link.used_at).strftime("%-d %b %Y, %H:%M %Z")
        return LinkRefused(
            f"This link was already used{what} on {when}; a link works once.",
            status=409,
            code="used",
        )
    if link.void_reason:
        return LinkRefused(_void_text(link.void_reason), status=410, code=link.void_reason)
    given = (
        SignOff.objects.filter(
            release=release,
            signer_id=link.user_id,
            fingerprint=link.fingerprint,
            wave=link.wave,  # None: the release's own verdict
        )
        .select_related("role")
        .first()
    )
    if given is not None:
        return LinkRefused(
            f"This request is already decided: {_name(link.user)} {_verdict_text(given, link)}.",
            status=409,
            code="decided",
        )
    void = _void(link, release, now)
    if void:
        return LinkRefused(_void_text(void), status=410, code=void)
    if not can(link.user, Action.VIEW, release):
        # Before the confirmation page shows the release to whoever holds the link.
        return LinkRefused(
            f"{_name(link.user)} may no longer see this release, so the link does not open it.",
            status=403,
            code="not_allowed",
        )
    return None


def _void(link: ApprovalLink, release: Release, now: datetime) -> str:
    if link.expires_at <= now:
        return LinkVoid.EXPIRED
    if release.fingerprint != link.fingerprint:
        return LinkVoid.CONTENT_CHANGED
    if link.wave_id is not None:
        if not _wave_asked(link.wave_id) or not (
            _requirements(release, link.wave_id).filter(role_id=link.role_id).exists()
        ):
            return LinkVoid.NOT_ASKED
    elif release.phase not in SIGNING_PHASES:
        return LinkVoid.NOT_SIGNING
    if not link.user.is_active:
        return LinkVoid.DEACTIVATED
    if not Stakeholder.objects.filter(
        release=release, user_id=link.user_id, role_id=link.role_id
    ).exists():
        return LinkVoid.NOT_STAKEHOLDER
    return ""


VOID_WHY = {
    LinkVoid.EXPIRED.value: "it has expired",
    LinkVoid.CONTENT_CHANGED.value: (
        "the release's version, build or scope changed after it was sent, and a verdict "
        "counts only for the content it was given for"
    ),
    LinkVoid.NOT_SIGNING.value: "the release no longer takes sign-offs",
    LinkVoid.NOT_STAKEHOLDER.value: "its approver no longer holds that role on the release",
    LinkVoid.DEACTIVATED.value: "its approver's account is deactivated",
    LinkVoid.NOT_ASKED.value: (
        "the wave's own sign-off is no longer asked (the wave started, was skipped or rolled "
        "back, or its requirement was removed)"
    ),
}


def _void_text(code: str) -> str:
    why = VOID_WHY.get(code, "it is void")
    return f"This link no longer works: {why}. Give your verdict on the release's sign-off page."


def approval_link_use(
    *, token: str, decision: str, comment: str, viewer: Any, now: datetime | None = None
) -> SignOff:
    """Give the link's verdict as the link's approver, once. A refusal is recorded in the audit
    trail (and a void link keeps why) before it is raised."""
    now = now or timezone.now()
    found = approval_link_find(token)
    if found is None:
        raise NotFound("This approval link is not known. Check that the whole address was used.")
    try:
        with transaction.atomic():
            # The release first, as every sign-off writer locks it: then the link.
            release = get_release(found.release_id, lock=True)
            link = (
                ApprovalLink.objects.select_for_update(of=("self",))
                .select_related("user", "role", "signoff")
                .get(pk=found.pk)
            )
            refusal = approval_link_refusal(link, release=release, viewer=viewer, now=now)
            if refusal is not None:
                raise refusal
            signoff = _give(link, decision=decision, comment=comment)
            link.used_at, link.signoff = now, signoff
            link.save(update_fields=["used_at", "signoff"])
            audit_record(
                actor=link.user,
                verb="signoff.link_used",
                obj=link,
                release_id=release.pk,
                after={
                    "decision": decision,
                    "role": link.role.slug,
                    "signoff": signoff.pk,
                    **({"wave": link.wave_id} if link.wave_id else {}),
                },
            )
        return signoff
    except (LinkRefused, NotAllowed, Conflict) as exc:
        _refusal_record(found, exc, viewer=viewer, decision=decision)
        raise
    except ServiceError as exc:
        if exc.field != "comment":  # a rejection without a reason is a form to finish
            _refusal_record(found, exc, viewer=viewer, decision=decision)
        raise


def _give(link: ApprovalLink, *, decision: str, comment: str) -> SignOff:
    if link.wave_id is None:
        return signoff_give(
            release_id=link.release_id,
            decision=decision,
            comment=comment,
            role=link.role.slug,
            actor=link.user,
        )
    if _wave_decider is None:
        raise LinkRefused(_void_text(LinkVoid.NOT_ASKED), status=410, code=LinkVoid.NOT_ASKED)
    return _wave_decider.give(link, decision, comment)


def _refusal_record(link: ApprovalLink, exc: ServiceError, *, viewer: Any, decision: str) -> None:
    code = getattr(exc, "code", "refused")
    with transaction.atomic():
        if code in LinkVoid.values:
            ApprovalLink.objects.filter(pk=link.pk, void_reason="").update(void_reason=code)
        audit_record(
            actor=viewer if viewer is not None and viewer.is_authenticated else link.user,
            verb="signoff.link_refused",
            obj=link,
            release_id=link.release_id,
            after={
                "code": code,
                "status": exc.status,
                "decision": decision,
                "link_for": link.user.get_username(),
                "role": link.role.slug,
                **({"wave": link.wave_id} if link.wave_id else {}),
            },
            reason=exc.message,
        )


def request_mail_links(row: Notification) -> str:
    """The Approve/Reject links a sign-off request mail (the release's, or a wave's own)
    carries for its recipient (registered with the outbox)."""
    if row.release_id is None:
        return ""
    wave = row.payload.get("wave") or {}
    wave_id = wave.get("id") if isinstance(wave, dict) else None
    minted = approval_links_for_mail(
        release_id=row.release_id, email=row.recipient, wave_id=wave_id
    )
    if not minted:
        return ""
    hours = settings.RELEASEDECK_APPROVAL_LINK_HOURS
    lines = ["", "Give your verdict from here:"]
    for item in minted:
        lines += [
            "",
            f"As {item.link.role.name}:",
            f"  Approve: {link_url(item.token, Decision.APPROVE)}",
            f"  Reject:  {link_url(item.token, Decision.REJECT)}",
        ]
    until = "the release's content changes"
    if wave_id is not None:
        until += " or the wave no longer waits for its sign-off"
    lines += [
        "",
        "Each link opens a page with the scope, test evidence and open defects; nothing is "
        "decided until you confirm there. The links are for you alone, work once, and stop "
        f"working after {hours:g} hours or as soon as {until}.",
        "",
    ]
    return "\n".join(lines)

"""Outbox: notifications are rows written with the change that causes them, sent after commit."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.core import signing
from apps.core.http import post_json

from .models import Channel, DeliveryState, Notification, OutboundWebhook

MAX_ATTEMPTS = 6

SUBJECTS = {
    "release.moved": "moved to {phase}",
    "release.rolled_back": "rolled back",
    "signoff.requested": "your sign-off is requested",
    "wave.started": "wave {wave} started",
    "wave.halted": "wave {wave} halted",
    "wave.rolled_back": "wave {wave} rolled back",
}


def _enqueue(notification_id: int) -> None:
    from .tasks import send_notification

    transaction.on_commit(lambda: send_notification.delay(notification_id))


def notify(
    *, release: Any, event: str, wave: Any = None, text: str = "", roles: Any = None
) -> list[Notification]:
    """Write one notification per stakeholder e-mail and per active webhook; `roles` narrows
    the stakeholders to those roles (e.g. the roles whose sign-off is requested)."""
    from apps.stakeholders.models import Stakeholder

    now = timezone.now()
    stakeholders = Stakeholder.objects.filter(release=release).exclude(user__email="")
    if roles is not None:
        stakeholders = stakeholders.filter(role__slug__in=list(roles))
    emails = sorted(set(stakeholders.values_list("user__email", flat=True)))
    hooks = list(OutboundWebhook.objects.filter(active=True))
    if not emails and not hooks:
        return []
    # Callers may hold objects read before their own change; say what is true now.
    phase = type(release).objects.filter(pk=release.pk).values_list("phase", flat=True).first()
    wave_state = (
        type(wave).objects.filter(pk=wave.pk).values_list("state", flat=True).first()
        if wave is not None
        else None
    )
    title = SUBJECTS.get(event, event).format(phase=phase, wave=wave.name if wave else "")
    subject = f"[ReleaseDeck] {release.name}: {title}"[:300]
    payload = {
        "event": event,
        "at": now.isoformat(),
        "release": {
            "id": release.pk,
            "name": release.name,
            "version": release.version,
            "phase": phase,
        },
        "wave": (
            {
                "id": wave.pk,
                "name": wave.name,
                "state": wave_state,
                "environment": wave.environment.name,
            }
            if wave is not None
            else None
        ),
        "text": text,
    }
    link = f"{settings.RELEASEDECK_PUBLIC_URL.rstrip('/')}/releases/{release.pk}/"
    body = f"{text}\n\n{link}\n" if text else f"{link}\n"
    common = {
        "event": event,
        "release": release,
        "subject": subject,
        "body": body,
        "payload": payload,
        "next_attempt_at": now,
    }
    rows = [Notification(channel=Channel.EMAIL, recipient=email, **common) for email in emails]
    rows += [
        Notification(channel=Channel.WEBHOOK, recipient=hook.url[:254], webhook=hook, **common)
        for hook in hooks
    ]
    created = Notification.objects.bulk_create(rows)
    for row in created:
        _enqueue(row.pk)
    return created


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2**attempts))


def notification_send(*, notification_id: int, now: datetime | None = None) -> str:
    """Claim one due notification, deliver it outside the transaction, record the outcome.
    A failing channel only retries its own row; nothing else waits for it."""
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(pk=notification_id, state=DeliveryState.PENDING)
            .first()
        )
        if row is None:
            return "not pending"
        if row.next_attempt_at and row.next_attempt_at > now:
            return "not due"
        row.attempts += 1
        row.next_attempt_at = now + _backoff(row.attempts)
        row.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    error = ""
    try:
        if row.channel == Channel.EMAIL:
            send_mail(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, [row.recipient])
        else:
            hook = row.webhook
            body = signing.canonical_body(row.payload)
            status, error = post_json(
                hook.url,
                body,
                signing.signed_headers(body, hook.secret),
                timeout=settings.RELEASEDECK_HTTP_TIMEOUT,
            )
            if not error and not (status and 200 <= status < 300):
                error = f"HTTP {status}"
    except Exception as exc:  # any channel failure is recorded and retried, never raised
        error = f"{type(exc).__name__}: {exc}"
    with transaction.atomic():
        row = Notification.objects.select_for_update().get(pk=notification_id)
        if row.state != DeliveryState.PENDING:
            return row.state
        row.last_error = error[:2000]
        if not error:
            row.state, row.sent_at = DeliveryState.SENT, timezone.now()
        elif row.attempts >= MAX_ATTEMPTS:
            row.state = DeliveryState.FAILED
        row.save(update_fields=["state", "sent_at", "last_error", "updated_at"])
    return row.state


def notifications_tick(*, now: datetime | None = None) -> int:
    """Re-find due notifications (a lost message, or a retry whose time has come)."""
    now = now or timezone.now()
    ids = list(
        Notification.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lte=now
        ).values_list("pk", flat=True)[:500]
    )
    for notification_id in ids:
        _enqueue(notification_id)
    return len(ids)

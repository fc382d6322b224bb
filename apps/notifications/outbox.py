"""Outbox: notifications are rows written with the change that causes them, sent after commit.

One send task carries every e-mail of a change, and one carries each webhook's rows, so a
slow receiver holds up only its own deliveries and a change does not cost a task per person.
Within a task each row is claimed, sent and recorded on its own: a broken mail backend or a
dead receiver fails only its own rows, which retry with backoff.
"""

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.core import signing
from apps.core.egress import post_json
from apps.releases.models import Release

from . import slack
from .facts import WaveFacts
from .models import Channel, DeliveryState, Notification, OutboundWebhook

MAX_ATTEMPTS = 6
BATCH = 100

SUBJECTS = {
    "release.moved": "moved to {phase}",
    "release.rolled_back": "rolled back",
    "signoff.requested": "your sign-off is requested",
    "wave.started": "wave {wave} started",
    "wave.halted": "wave {wave} halted",
    "wave.rolled_back": "wave {wave} rolled back",
}
# Events about shared things (environments, freezes, incidents), told to every active webhook.
SHARED_SUBJECTS = {
    "incident.opened": "incident opened",
    "incident.resolved": "incident resolved",
    "freeze.created": "freeze declared",
    "freeze.lift_approved": "freeze lift approved",
    "freeze.lifted": "freeze lifted",
}


def _batches(rows: Sequence[tuple[int, str, int | None]]) -> list[list[int]]:
    """(id, channel, webhook id) rows as send batches: the e-mails together, the chat messages
    together, each webhook's rows together, in id order, at most BATCH to a task."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    for pk, channel, hook_id in sorted(rows):
        key = (channel, hook_id if channel == Channel.WEBHOOK else None)
        groups.setdefault(key, []).append(pk)
    return [ids[i : i + BATCH] for ids in groups.values() for i in range(0, len(ids), BATCH)]


def _publish(rows: Sequence[tuple[int, str, int | None]]) -> None:
    from .tasks import send_notifications

    for ids in _batches(rows):
        send_notifications.delay(ids)


class Sends:
    """Notifications committed by several transactions, sent by tasks published together once
    they are all done (`publish`), e.g. by one engine run: a change does not cost a task per
    transaction. Should the run fail before `publish`, the tick finds the rows instead."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, int | None]] = []

    def publish(self) -> None:
        rows, self.rows = self.rows, []
        _publish(rows)


def _enqueue(rows: list[Notification], sends: Sends | None) -> None:
    keys = [(row.pk, row.channel, row.webhook_id) for row in rows]
    if sends is None:
        transaction.on_commit(lambda: _publish(keys))
    else:
        transaction.on_commit(lambda: sends.rows.extend(keys))


def _emails(release: Release, roles: Collection[str] | None) -> list[str]:
    from apps.stakeholders.models import Stakeholder

    stakeholders = Stakeholder.objects.filter(release=release).exclude(user__email="")
    if roles is not None:
        stakeholders = stakeholders.filter(role__slug__in=list(roles))
    return sorted(set(stakeholders.values_list("user__email", flat=True)))


class Recipients:
    """Who notifications go to, looked up once and kept: for one transaction that holds the
    releases locked (stakeholders change only under that lock), e.g. an engine run's."""

    def __init__(self) -> None:
        self._emails: dict[tuple[int, tuple[str, ...] | None], list[str]] = {}
        self._hooks: list[OutboundWebhook] | None = None

    def emails(self, release: Release, roles: Collection[str] | None) -> list[str]:
        key = (release.pk, None if roles is None else tuple(sorted(roles)))
        if key not in self._emails:
            self._emails[key] = _emails(release, roles)
        return self._emails[key]

    def hooks(self) -> list[OutboundWebhook]:
        if self._hooks is None:
            self._hooks = list(OutboundWebhook.objects.filter(active=True))
        return self._hooks


def notify(
    *,
    release: Release,
    event: str,
    wave: WaveFacts | None = None,
    text: str = "",
    roles: Collection[str] | None = None,
    phase: str | None = None,
    wave_state: str | None = None,
    sends: Sends | None = None,
    recipients: Recipients | None = None,
) -> list[Notification]:
    """Write one notification per stakeholder e-mail and per active webhook; `roles` narrows
    the stakeholders to those roles (e.g. the roles whose sign-off is requested). `phase` is
    the current one when the caller holds the release locked; else it is re-read. A `wave`
    comes with its `wave_state`: whoever tells of a wave holds it locked.
    With `sends`, the rows are sent when it is published rather than when this commits;
    with `recipients`, who to tell is looked up once for many notifications."""
    if wave is not None and wave_state is None:
        raise TypeError("notify() takes a wave's state with the wave.")
    now = timezone.now()
    if recipients is None:
        recipients = Recipients()
    emails = recipients.emails(release, roles)
    hooks = recipients.hooks()
    chat = slack.enabled() and event in slack.EVENTS
    if not emails and not hooks and not chat:
        return []
    # Callers may hold objects read before their own change; say what is true now.
    if phase is None:
        phase = Release.objects.filter(pk=release.pk).values_list("phase", flat=True).first()
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
    if chat:
        message = slack.message_for(
            event=event,
            release=release,
            wave=wave,
            text=text,
            roles=_role_names(roles),
        )
        common["payload"] = message
        rows.append(Notification(channel=Channel.SLACK, recipient=slack.SLACK_WEBHOOK, **common))
    created = Notification.objects.bulk_create(rows)
    _enqueue(created, sends)
    return created


def notify_shared(
    *, event: str, text: str, about: dict[str, object], sends: Sends | None = None
) -> list[Notification]:
    """Tell every active webhook of a change to something all teams share (an incident, a
    freeze): one row per webhook, written in the caller's transaction, sent after it commits.
    `about` is the payload's description of what changed."""
    hooks = list(OutboundWebhook.objects.filter(active=True))
    if not hooks:
        return []
    now = timezone.now()
    subject = f"[ReleaseDeck] {SHARED_SUBJECTS.get(event, event)}: {text}"[:300]
    payload = {"event": event, "at": now.isoformat(), "release": None, "text": text, **about}
    rows = [
        Notification(
            channel=Channel.WEBHOOK,
            recipient=hook.url[:254],
            webhook=hook,
            event=event,
            subject=subject,
            body=f"{text}\n",
            payload=payload,
            next_attempt_at=now,
        )
        for hook in hooks
    ]
    created = Notification.objects.bulk_create(rows)
    _enqueue(created, sends)
    return created


def _role_names(roles: Collection[str] | None) -> list[str]:
    from apps.stakeholders.models import StakeholderRole

    if not roles:
        return []
    return list(
        StakeholderRole.objects.filter(slug__in=list(roles))
        .order_by("name")
        .values_list("name", flat=True)
    )


def chat_reply(*, url: str, message: dict[str, Any], release_id: int | None, event: str) -> None:
    """Post `message` to a chat message's `response_url` once the caller's transaction commits,
    through the outbox like every notification (retried, recorded)."""
    if len(url) > 254:
        return  # no such response_url is handed out; never store a cut one
    row = Notification.objects.create(
        event=event,
        release_id=release_id,
        channel=Channel.SLACK,
        recipient=url,
        subject=str(message.get("text", ""))[:300],
        body="",
        payload=message,
        next_attempt_at=timezone.now(),
    )
    _enqueue([row], None)


# Text an app above this one adds to a mail as it is sent, for one recipient (the sign-off
# request's Approve/Reject links): made at delivery so that no secret waits in the outbox.
MailPart = Callable[[Notification], str]
_mail_parts: dict[str, list[MailPart]] = {}


def register_mail_part(event: str, part: MailPart) -> None:
    """Let `part(row)` add text to each mail of `event` when it is sent (from AppConfig.ready)."""
    parts = _mail_parts.setdefault(event, [])
    if part not in parts:
        parts.append(part)


def _mail_body(row: Notification) -> str:
    return row.body + "".join(part(row) for part in _mail_parts.get(row.event, []))


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2**attempts))


def notifications_send(
    *, notification_ids: list[int], now: datetime | None = None
) -> dict[int, str]:
    """Send each of these on its own (see `notification_send`): one row's failing channel
    never holds up another row. Returns each id's state, or why it was not sent."""
    return {
        pk: notification_send(notification_id=pk, now=now) for pk in dict.fromkeys(notification_ids)
    }


def notification_send(*, notification_id: int, now: datetime | None = None) -> str:
    """Claim the row if it is due (a row another worker holds is skipped), deliver it after
    that commit, and record the outcome on the row: sent, or the error and the next attempt
    (failed for good after MAX_ATTEMPTS). Returns its state, or why it was not sent."""
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
        # The claim doubles as the retry time: nobody sends it again before then.
        row.next_attempt_at = now + _backoff(row.attempts)
        row.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    error, final = _deliver(row)
    with transaction.atomic():
        row = Notification.objects.select_for_update().get(pk=notification_id)
        if row.state != DeliveryState.PENDING:
            return row.state
        row.last_error = error[:2000]
        if not error:
            row.state, row.sent_at = DeliveryState.SENT, timezone.now()
        elif final or row.attempts >= MAX_ATTEMPTS:
            row.state = DeliveryState.FAILED
        row.save(update_fields=["state", "sent_at", "last_error", "updated_at"])
    return row.state


def _deliver(row: Notification) -> tuple[str, bool]:
    """Send one row: (the error or "" when it went out, whether retrying is pointless)."""
    try:
        if row.channel == Channel.EMAIL:
            send_mail(row.subject, _mail_body(row), settings.DEFAULT_FROM_EMAIL, [row.recipient])
            return "", False
        if row.channel == Channel.SLACK:
            return _deliver_chat(row)
        hook = row.webhook
        if hook is None or not hook.active:
            return "Not sent: the webhook is inactive.", True
        body = signing.canonical_body(row.payload)
        headers = signing.signed_headers(body, hook.secret) | {"Idempotency-Key": str(row.key)}
        status, error = webhook_post(hook.url, body, headers)
        if not error and not (status and 200 <= status < 300):
            error = f"HTTP {status}"
        return error, False
    except Exception as exc:  # any channel failure is recorded and retried, never raised
        return f"{type(exc).__name__}: {exc}", False


def _deliver_chat(row: Notification) -> tuple[str, bool]:
    url = row.recipient
    if url == slack.SLACK_WEBHOOK:
        url = settings.RELEASEDECK_SLACK_WEBHOOK_URL
        if not url:
            return "Not sent: no Slack incoming webhook is configured.", True
    body = json.dumps(row.payload, separators=(",", ":")).encode()
    status, error = webhook_post(url, body, {"Content-Type": "application/json"})
    if not error and not (status and 200 <= status < 300):
        error = f"HTTP {status}"
    return error, False


def webhook_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """The one outbound HTTP request of notification webhooks: (status, error text)."""
    return post_json(url, body, headers, timeout=settings.RELEASEDECK_HTTP_TIMEOUT)


def notifications_tick(*, now: datetime | None = None) -> int:
    """Re-find due notifications (a lost message, or a retry whose time has come)."""
    now = now or timezone.now()
    rows = list(
        Notification.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lte=now
        ).values_list("pk", "channel", "webhook_id")[:500]
    )
    transaction.on_commit(lambda: _publish(rows))
    return len(rows)

"""Writes to what end users are told about a release (its announcements), and to the
outbound webhooks that receive release events."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core import egress
from apps.core.errors import NotFound, ServiceError
from apps.core.validation import clean_datetime, clean_id, clean_text
from apps.releases.services import get_release, record_change

from .models import Announcement, OutboundWebhook

_url = URLValidator(schemes=["http", "https"])
_FIELDS = ("title", "body", "publish_at", "training_url")


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(_FIELDS)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.", field=min(unknown))
    cleaned: dict[str, Any] = {}
    if "title" in changes:
        cleaned["title"] = clean_text(
            changes["title"], field="title", max_length=200, required=True
        )
    if "body" in changes:
        cleaned["body"] = clean_text(changes["body"], field="body", max_length=20000, required=True)
    if "publish_at" in changes:
        cleaned["publish_at"] = clean_datetime(changes["publish_at"], field="publish_at")
    if "training_url" in changes:
        url = clean_text(changes["training_url"], field="training_url", max_length=200)
        if url:
            try:
                _url(url)
            except ValidationError:
                raise ServiceError(
                    "training_url must be an http(s) URL.", field="training_url"
                ) from None
        cleaned["training_url"] = url
    return cleaned


def _snapshot(a: Announcement) -> dict[str, Any]:
    return {
        "title": a.title,
        "body": a.body,
        "publish_at": a.publish_at.isoformat() if a.publish_at else None,
        "training_url": a.training_url,
    }


def announcement_create(
    *,
    release_id: Any,
    title: Any,
    body: Any,
    actor: Any,
    publish_at: Any = None,
    training_url: Any = "",
) -> Announcement:
    """Write what end users are told: what changes, when, where to learn it."""
    cleaned = _clean(
        {"title": title, "body": body, "publish_at": publish_at, "training_url": training_url}
    )
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.MANAGE_ANNOUNCEMENTS, release)
        announcement = Announcement.objects.create(release=release, author=actor, **cleaned)
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="announcement.created",
            obj=announcement,
            after=_snapshot(announcement),
        )
    return announcement


def _locked(announcement_id: Any) -> Announcement:
    announcement = (
        Announcement.objects.select_for_update()
        .filter(pk=clean_id(announcement_id, field="announcement"))
        .first()
    )
    if announcement is None:
        raise NotFound("No such announcement.", field="announcement")
    return announcement


def announcement_update(*, announcement_id: Any, actor: Any, **changes: Any) -> Announcement:
    cleaned = _clean(changes)
    with transaction.atomic():
        announcement = _locked(announcement_id)
        release = get_release(announcement.release_id, lock=True)
        require(actor, Action.MANAGE_ANNOUNCEMENTS, release)
        before = _snapshot(announcement)
        changed = [f for f, v in cleaned.items() if getattr(announcement, f) != v]
        if not changed:
            return announcement
        for f in changed:
            setattr(announcement, f, cleaned[f])
        announcement.save(update_fields=[*changed, "updated_at"])
        after = _snapshot(announcement)
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="announcement.updated",
            obj=announcement,
            before={f: before[f] for f in changed},
            after={f: after[f] for f in changed},
        )
    return announcement


def announcement_delete(*, announcement_id: Any, actor: Any) -> None:
    with transaction.atomic():
        announcement = _locked(announcement_id)
        release = get_release(announcement.release_id, lock=True)
        require(actor, Action.MANAGE_ANNOUNCEMENTS, release)
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="announcement.deleted",
            obj=announcement,
            before=_snapshot(announcement),
        )
        announcement.delete()


# Outbound webhooks: who receives release events. The secret is written, never read back.

_HOOK_FIELDS = ("name", "url", "secret", "active")
SECRET_MIN_LENGTH = 16


def _clean_hook(changes: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(changes) - set(_HOOK_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown field(s): {', '.join(sorted(unknown))}.", field=min(unknown))
    if creating:
        for name in ("name", "url", "secret"):
            if name not in changes:
                raise ServiceError(f"{name} is required.", field=name)
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = clean_text(changes["name"], field="name", max_length=100, required=True)
    if "url" in changes:
        url = clean_text(changes["url"], field="url", max_length=200, required=True)
        try:
            _url(url)
        except ValidationError:
            raise ServiceError("url must be an http(s) URL.", field="url") from None
        cleaned["url"] = egress.check_url(url, field="url")  # refused now, not at each send
    if "secret" in changes:
        secret = changes["secret"]
        if not isinstance(secret, str) or not secret.isprintable() or secret != secret.strip():
            raise ServiceError(
                "secret must be printable text without surrounding spaces.", field="secret"
            )
        if not SECRET_MIN_LENGTH <= len(secret) <= 128:
            raise ServiceError(
                f"secret must be {SECRET_MIN_LENGTH} to 128 characters.", field="secret"
            )
        cleaned["secret"] = secret
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ServiceError("active must be true or false.", field="active")
        cleaned["active"] = changes["active"]
    return cleaned


def _hook_snapshot(hook: OutboundWebhook) -> dict[str, Any]:
    return {"name": hook.name, "url": hook.url, "active": hook.active}


def _locked_hook(webhook_id: Any) -> OutboundWebhook:
    hook = (
        OutboundWebhook.objects.select_for_update()
        .filter(pk=clean_id(webhook_id, field="webhook"))
        .first()
    )
    if hook is None:
        raise NotFound("No such webhook.", field="webhook")
    return hook


def webhook_create(*, actor: Any, **fields: Any) -> OutboundWebhook:
    """Add a receiver of release events; from the next event on it gets signed JSON."""
    require(actor, Action.MANAGE_WEBHOOKS)
    cleaned = _clean_hook(fields, creating=True)
    with transaction.atomic():
        hook = OutboundWebhook.objects.create(**cleaned)
        audit_record(actor=actor, verb="webhook.created", obj=hook, after=_hook_snapshot(hook))
    return hook


def webhook_update(*, webhook_id: Any, actor: Any, **changes: Any) -> OutboundWebhook:
    """Change a receiver; a new secret signs every request sent from then on, retries too."""
    require(actor, Action.MANAGE_WEBHOOKS)
    cleaned = _clean_hook(changes, creating=False)
    with transaction.atomic():
        hook = _locked_hook(webhook_id)
        changed = [f for f, v in cleaned.items() if getattr(hook, f) != v]
        if not changed:
            return hook
        before = _hook_snapshot(hook)
        for f in changed:
            setattr(hook, f, cleaned[f])
        hook.save(update_fields=[*changed, "updated_at"])
        after = _hook_snapshot(hook)
        shown = [f for f in changed if f != "secret"]
        audit_record(
            actor=actor,
            verb="webhook.updated",
            obj=hook,
            before={f: before[f] for f in shown},
            after={f: after[f] for f in shown}
            | ({"secret": "changed"} if "secret" in changed else {}),
        )
    return hook


def webhook_delete(*, webhook_id: Any, actor: Any) -> None:
    """Remove a receiver and its delivery records; what was waiting for it is not sent."""
    require(actor, Action.MANAGE_WEBHOOKS)
    with transaction.atomic():
        hook = _locked_hook(webhook_id)
        audit_record(actor=actor, verb="webhook.deleted", obj=hook, before=_hook_snapshot(hook))
        hook.delete()

"""Writes to what end users are told about a release (its announcements), and to the
outbound webhooks that receive release events."""

from datetime import datetime
from typing import TypedDict, Unpack

from django.contrib.auth.models import User
from django.db import transaction

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core.errors import NotFound, ServiceError
from apps.releases.services import get_release, record_change

from .models import Announcement, ChatIdentity, OutboundWebhook

# What the services take is shaped and checked by the API's serializers and the pages' forms
# (see validators.py); the services check permission, existence and state.


class AnnouncementChanges(TypedDict, total=False):
    title: str
    body: str
    publish_at: datetime | None
    training_url: str


def _snapshot(a: Announcement) -> dict[str, str | None]:
    return {
        "title": a.title,
        "body": a.body,
        "publish_at": a.publish_at.isoformat() if a.publish_at else None,
        "training_url": a.training_url,
    }


def announcement_create(
    *,
    release_id: int,
    title: str,
    body: str,
    actor: User,
    publish_at: datetime | None = None,
    training_url: str = "",
) -> Announcement:
    """Write what end users are told: what changes, when, where to learn it."""
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.MANAGE_ANNOUNCEMENTS, release)
        announcement = Announcement.objects.create(
            release=release,
            author=actor,
            title=title,
            body=body,
            publish_at=publish_at,
            training_url=training_url,
        )
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="announcement.created",
            obj=announcement,
            after=_snapshot(announcement),
        )
    return announcement


def _locked(announcement_id: int) -> Announcement:
    announcement = Announcement.objects.select_for_update().filter(pk=announcement_id).first()
    if announcement is None:
        raise NotFound("No such announcement.", field="announcement")
    return announcement


def announcement_update(
    *, announcement_id: int, actor: User, **changes: Unpack[AnnouncementChanges]
) -> Announcement:
    """Change what end users are told; only the fields given, and only if they differ."""
    with transaction.atomic():
        announcement = _locked(announcement_id)
        release = get_release(announcement.release_id, lock=True)
        require(actor, Action.MANAGE_ANNOUNCEMENTS, release)
        before = _snapshot(announcement)
        changed = [f for f, v in changes.items() if getattr(announcement, f) != v]
        if not changed:
            return announcement
        for f, v in changes.items():
            setattr(announcement, f, v)
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


def announcement_delete(*, announcement_id: int, actor: User) -> None:
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


class WebhookChanges(TypedDict, total=False):
    name: str
    url: str
    secret: str
    active: bool


def _hook_snapshot(hook: OutboundWebhook) -> dict[str, str | bool]:
    return {"name": hook.name, "url": hook.url, "active": hook.active}


def _locked_hook(webhook_id: int) -> OutboundWebhook:
    hook = OutboundWebhook.objects.select_for_update().filter(pk=webhook_id).first()
    if hook is None:
        raise NotFound("No such webhook.", field="webhook")
    return hook


def webhook_create(
    *, actor: User, name: str, url: str, secret: str, active: bool = True
) -> OutboundWebhook:
    """Add a receiver of release events; from the next event on it gets signed JSON."""
    require(actor, Action.MANAGE_WEBHOOKS)
    with transaction.atomic():
        hook = OutboundWebhook.objects.create(name=name, url=url, secret=secret, active=active)
        audit_record(actor=actor, verb="webhook.created", obj=hook, after=_hook_snapshot(hook))
    return hook


def webhook_update(
    *, webhook_id: int, actor: User, **changes: Unpack[WebhookChanges]
) -> OutboundWebhook:
    """Change a receiver; a new secret signs every request sent from then on, retries too."""
    require(actor, Action.MANAGE_WEBHOOKS)
    with transaction.atomic():
        hook = _locked_hook(webhook_id)
        changed = [f for f, v in changes.items() if getattr(hook, f) != v]
        if not changed:
            return hook
        before = _hook_snapshot(hook)
        for f, v in changes.items():
            setattr(hook, f, v)
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


def webhook_delete(*, webhook_id: int, actor: User) -> None:
    """Remove a receiver and its delivery records; what was waiting for it is not sent."""
    require(actor, Action.MANAGE_WEBHOOKS)
    with transaction.atomic():
        hook = _locked_hook(webhook_id)
        audit_record(actor=actor, verb="webhook.deleted", obj=hook, before=_hook_snapshot(hook))
        hook.delete()


# Chat identities: which chat account acts as which person. An administrator sets them.


def chat_identity_set(
    *, user: User, provider: str, external_user_id: str, actor: User
) -> ChatIdentity:
    """Link a chat account to a person (replacing that person's earlier account there); a
    button pressed by that account then acts as them."""
    require(actor, Action.MANAGE_PEOPLE)
    with transaction.atomic():
        holder = (
            ChatIdentity.objects.filter(provider=provider, external_user_id=external_user_id)
            .exclude(user=user)
            .select_related("user")
            .first()
        )
        if holder is not None:
            raise ServiceError(
                f"That {provider} account is linked to {holder.user.get_username()}; unlink it "
                "there first.",
                field="external_user_id",
            )
        current = ChatIdentity.objects.select_for_update().filter(user=user, provider=provider)
        identity = current.first()
        before = {"external_user_id": identity.external_user_id} if identity else None
        if identity is not None and identity.external_user_id == external_user_id:
            return identity
        if identity is None:
            identity = ChatIdentity(user=user, provider=provider)
        identity.external_user_id = external_user_id
        identity.save()
        audit_record(
            actor=actor,
            verb="chat_identity.set",
            obj=identity,
            before=before,
            after={
                "user": user.get_username(),
                "provider": provider,
                "external_user_id": external_user_id,
            },
        )
    return identity


def chat_identity_remove(*, identity_id: int, actor: User) -> None:
    require(actor, Action.MANAGE_PEOPLE)
    with transaction.atomic():
        identity = ChatIdentity.objects.select_for_update().filter(pk=identity_id).first()
        if identity is None:
            raise NotFound("No such chat identity.")
        audit_record(
            actor=actor,
            verb="chat_identity.removed",
            obj=identity,
            before={"provider": identity.provider, "external_user_id": identity.external_user_id},
        )
        identity.delete()

"""Writes to what end users are told about a release: its announcements."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from apps.accounts.permissions import Action, require
from apps.core.errors import NotFound, ServiceError
from apps.core.validation import clean_datetime, clean_id, clean_text
from apps.releases.services import get_release, record_change

from .models import Announcement

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

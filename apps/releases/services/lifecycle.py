"""Writes that create and edit a release, and the audit of every change to it. (Its phase is
`moves`.)"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TypedDict, Unpack

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Model
from django.utils import timezone

from apps.accounts.permissions import Action, can, require
from apps.audit.services import AuditBatch, audit_record
from apps.core.errors import Conflict, ServiceError

from .. import rules
from ..models import Application, Phase, Release
from ..selectors import release_get

# What the services take is shaped and checked by the API's serializers and the pages' forms
# (see validators.py); the services check permission, existence, state and the invariants
# that need the stored release (a window that ends after it starts, one release per version).


def record_change(
    *,
    release_id: int,
    actor: User | None,
    verb: str,
    obj: Model | None = None,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
    reason: str = "",
    batch: AuditBatch | None = None,
) -> None:
    """Audit a change to a release (or something it holds) and bump its revision for live pages.
    With `batch` (see AuditBatch), the event joins the chain with the batch, and one bump per
    release in that transaction is enough for readers to see all its changes at commit."""
    # Row lock on the release first, audit chain lock second: writers that lock the release up
    # front (release_move, sign-offs) take them in this order, and the reverse would deadlock.
    if batch is None or release_id not in batch.releases:
        Release.objects.filter(pk=release_id).update(
            revision=F("revision") + 1, updated_at=timezone.now()
        )
        if batch is not None:
            batch.releases.add(release_id)
    audit_record(
        batch=batch,
        actor=actor,
        verb=verb,
        obj=obj,
        release_id=release_id,
        before=before,
        after=after,
        reason=reason,
    )


def get_release(release_id: int, *, lock: bool = False) -> Release:
    """The release a writer is about to change, its row locked with `lock`."""
    return release_get(release_id, queryset=Release.objects.select_for_update() if lock else None)


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start and end and end <= start:
        raise ServiceError("The planned window must end after it starts.", field="planned_end")


def _active_user(user_id: int, field: str) -> User:
    try:
        return User.objects.get(pk=user_id, is_active=True)
    except User.DoesNotExist:
        raise ServiceError(f"No such active user for {field}.", field=field) from None


def release_create(
    *,
    application_id: int,
    name: str,
    version: str,
    actor: User,
    build_ref: str = "",
    scope: str = "",
    owner_id: int | None = None,
    planned_start: datetime | None = None,
    planned_end: datetime | None = None,
    signoff_expiry_days: int | None = None,
    hypercare_days: int = 7,
) -> Release:
    """Create a release in planning; the creator owns it unless another owner is named."""
    require(actor, Action.CREATE_RELEASE)
    _check_window(planned_start, planned_end)
    application = Application.objects.filter(pk=application_id).first()
    if application is None or not can(actor, Action.VIEW, application):  # hidden: the same
        raise ServiceError("No such application.", field="application")
    require(actor, Action.CREATE_RELEASE, application)
    owner = _active_user(owner_id, "owner") if owner_id is not None else actor
    now = timezone.now()
    with transaction.atomic():
        if Release.objects.filter(application=application, version=version).exists():
            raise ServiceError(f"{application} already has a release {version}.", field="version")
        release = Release(
            application=application,
            name=name,
            version=version,
            build_ref=build_ref,
            scope=scope,
            owner=owner,
            created_by=actor,
            planned_start=planned_start,
            planned_end=planned_end,
            phase=Phase.PLANNING,
            phase_entered_at=now,
            signoff_expiry_days=signoff_expiry_days,
            hypercare_days=hypercare_days,
        )
        release.fingerprint = release.compute_fingerprint()
        try:
            with transaction.atomic():
                release.save()
        except IntegrityError:
            raise ServiceError(
                f"{application} already has a release {version}.", field="version"
            ) from None
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="release.created",
            obj=release,
            after=_snapshot(release),
        )
    return release


class ReleaseChanges(TypedDict, total=False):
    """What an edit may change; the owner by id."""

    name: str
    version: str
    build_ref: str
    scope: str
    owner_id: int
    planned_start: datetime | None
    planned_end: datetime | None
    signoff_expiry_days: int | None
    hypercare_days: int


_CONTENT_FIELDS = ("version", "build_ref", "scope")


def _snapshot(release: Release) -> dict[str, str | int | None]:
    return {
        "name": release.name,
        "version": release.version,
        "build_ref": release.build_ref,
        "scope": release.scope,
        "owner_id": release.owner_id,
        "planned_start": release.planned_start.isoformat() if release.planned_start else None,
        "planned_end": release.planned_end.isoformat() if release.planned_end else None,
        "signoff_expiry_days": release.signoff_expiry_days,
        "hypercare_days": release.hypercare_days,
        "phase": release.phase,
        "fingerprint": release.fingerprint,
    }


def release_update(*, release_id: int, actor: User, **changes: Unpack[ReleaseChanges]) -> Release:
    """Edit a release. Changing version, build or scope makes earlier sign-offs stale."""
    if "owner_id" in changes:
        _active_user(changes["owner_id"], "owner")
    given: dict[str, object] = dict(changes)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.EDIT_RELEASE, release)
        if "planned_start" in changes or "planned_end" in changes:
            _check_window(
                changes.get("planned_start", release.planned_start),
                changes.get("planned_end", release.planned_end),
            )
        if release.phase in rules.TERMINAL:
            raise Conflict(f"A {release.phase} release cannot be edited.")
        owner_id = changes.get("owner_id", release.owner_id)
        if owner_id != release.owner_id:
            # Separation of duties: an owner's own sign-off would otherwise count for the gate.
            if release.signoffs.filter(signer_id=owner_id).exists():
                raise ServiceError(
                    "That person has signed this release off and cannot own it.", field="owner"
                )
        content_changes = {
            f for f in _CONTENT_FIELDS if f in given and given[f] != getattr(release, f)
        }
        if content_changes and release.phase not in rules.CONTENT_EDITABLE:
            raise Conflict(
                "Version, build and scope are frozen once a release is rolling out.",
                blockers=[],
            )
        if "version" in content_changes and (
            Release.objects.filter(
                application_id=release.application_id, version=changes["version"]
            )
            .exclude(pk=release.pk)
            .exists()
        ):
            raise ServiceError(
                "Another release of this application has that version.", field="version"
            )
        before = _snapshot(release)
        changed = [f for f, v in given.items() if getattr(release, f) != v]
        if not changed:
            return release
        for f in changed:
            setattr(release, f, given[f])
        release.fingerprint = release.compute_fingerprint()
        extra = []
        if "hypercare_days" in changed and release.phase == rules.SUPPORT:
            # Hypercare is counted from entering support; a new length moves its end.
            release.hypercare_until = release.phase_entered_at + timedelta(
                days=release.hypercare_days
            )
            extra.append("hypercare_until")
        release.save(update_fields=[*changed, *extra, "fingerprint", "updated_at"])
        after = _snapshot(release)
        reason = "Content changed: earlier sign-offs are stale." if content_changes else ""
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="release.updated",
            obj=release,
            before={k: before[k] for k in after if before[k] != after[k]},
            after={k: after[k] for k in after if before[k] != after[k]},
            reason=reason,
        )
    return release

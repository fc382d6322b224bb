"""Writes that create and edit a release, and the audit of every change to it. (Its phase is
`moves`.)"""

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch, audit_record
from apps.core.errors import Conflict, ServiceError
from apps.core.validation import clean_datetime, clean_id, clean_int, clean_text

from .. import rules
from ..models import Application, Phase, Release
from ..selectors import release_get


def record_change(
    *,
    release_id: int,
    actor: Any,
    verb: str,
    obj: Any = None,
    before: Any = None,
    after: Any = None,
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


def get_release(release_id: Any, *, lock: bool = False) -> Release:
    """The release a writer is about to change, its row locked with `lock`."""
    return release_get(release_id, queryset=Release.objects.select_for_update() if lock else None)


def _clean_window(start: Any, end: Any) -> tuple[datetime | None, datetime | None]:
    start = clean_datetime(start, field="planned_start")
    end = clean_datetime(end, field="planned_end")
    if start and end and end <= start:
        raise ServiceError("The planned window must end after it starts.", field="planned_end")
    return start, end


def _get_user(user_id: Any, field: str) -> Any:
    User = get_user_model()
    try:
        return User.objects.get(pk=clean_id(user_id, field=field), is_active=True)
    except User.DoesNotExist:
        raise ServiceError(f"No such active user for {field}.", field=field) from None


def release_create(
    *,
    application_id: Any,
    name: Any,
    version: Any,
    actor: Any,
    build_ref: Any = "",
    scope: Any = "",
    owner_id: Any = None,
    planned_start: Any = None,
    planned_end: Any = None,
    signoff_expiry_days: Any = None,
    hypercare_days: Any = 7,
) -> Release:
    """Create a release in planning; the creator owns it unless another owner is named."""
    require(actor, Action.CREATE_RELEASE)
    name = clean_text(name, field="name", max_length=200, required=True)
    version = clean_text(version, field="version", max_length=64, required=True)
    build_ref = clean_text(build_ref, field="build_ref", max_length=200)
    scope = clean_text(scope, field="scope", max_length=20000)
    start, end = _clean_window(planned_start, planned_end)
    if signoff_expiry_days is not None:
        signoff_expiry_days = clean_int(
            signoff_expiry_days, field="signoff_expiry_days", minimum=1, maximum=3650
        )
    hypercare_days = clean_int(hypercare_days, field="hypercare_days", minimum=0, maximum=365)
    try:
        application = Application.objects.get(pk=clean_id(application_id, field="application"))
    except Application.DoesNotExist:
        raise ServiceError("No such application.", field="application") from None
    owner = _get_user(owner_id, "owner") if owner_id is not None else actor
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
            planned_start=start,
            planned_end=end,
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


_CONTENT_FIELDS = ("version", "build_ref", "scope")
_EDITABLE = (
    "name",
    "version",
    "build_ref",
    "scope",
    "owner_id",
    "planned_start",
    "planned_end",
    "signoff_expiry_days",
    "hypercare_days",
)


def _snapshot(release: Release) -> dict[str, Any]:
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


def release_update(*, release_id: Any, actor: Any, **changes: Any) -> Release:
    """Edit a release. Changing version, build or scope makes earlier sign-offs stale."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise ServiceError(f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = clean_text(changes["name"], field="name", max_length=200, required=True)
    if "version" in changes:
        cleaned["version"] = clean_text(
            changes["version"], field="version", max_length=64, required=True
        )
    if "build_ref" in changes:
        cleaned["build_ref"] = clean_text(changes["build_ref"], field="build_ref", max_length=200)
    if "scope" in changes:
        cleaned["scope"] = clean_text(changes["scope"], field="scope", max_length=20000)
    if "owner_id" in changes:
        cleaned["owner_id"] = _get_user(changes["owner_id"], "owner").pk
    if "signoff_expiry_days" in changes:
        value = changes["signoff_expiry_days"]
        cleaned["signoff_expiry_days"] = (
            None
            if value is None
            else clean_int(value, field="signoff_expiry_days", minimum=1, maximum=3650)
        )
    if "hypercare_days" in changes:
        cleaned["hypercare_days"] = clean_int(
            changes["hypercare_days"], field="hypercare_days", minimum=0, maximum=365
        )
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.EDIT_RELEASE, release)
        if "planned_start" in changes or "planned_end" in changes:
            start, end = _clean_window(
                changes.get("planned_start", release.planned_start),
                changes.get("planned_end", release.planned_end),
            )
            cleaned["planned_start"], cleaned["planned_end"] = start, end
        if release.phase in rules.TERMINAL:
            raise Conflict(f"A {release.phase} release cannot be edited.")
        if cleaned.get("owner_id", release.owner_id) != release.owner_id:
            # Separation of duties: an owner's own sign-off would otherwise count for the gate.
            if release.signoffs.filter(signer_id=cleaned["owner_id"]).exists():
                raise ServiceError(
                    "That person has signed this release off and cannot own it.", field="owner"
                )
        content_changes = {
            f for f in _CONTENT_FIELDS if f in cleaned and cleaned[f] != getattr(release, f)
        }
        if content_changes and release.phase not in rules.CONTENT_EDITABLE:
            raise Conflict(
                "Version, build and scope are frozen once a release is rolling out.",
                blockers=[],
            )
        if "version" in content_changes and (
            Release.objects.filter(
                application_id=release.application_id, version=cleaned["version"]
            )
            .exclude(pk=release.pk)
            .exists()
        ):
            raise ServiceError(
                "Another release of this application has that version.", field="version"
            )
        before = _snapshot(release)
        changed = [f for f, v in cleaned.items() if getattr(release, f) != v]
        if not changed:
            return release
        for f in changed:
            setattr(release, f, cleaned[f])
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

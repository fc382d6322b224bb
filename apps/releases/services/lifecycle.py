"""Every write to a release's lifecycle. `release_move` is the only code that changes a phase."""

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch, audit_record
from apps.core.errors import Conflict, NotAllowed, ServiceError
from apps.core.validation import clean_choice, clean_datetime, clean_id, clean_int, clean_text

from .. import rules
from ..models import Application, MoveState, Phase, PhaseMove, Release
from ..selectors import release_facts, release_get


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
            from apps.signoffs.models import SignOff

            # Separation of duties: an owner's own sign-off would otherwise count for the gate.
            if SignOff.objects.filter(release=release, signer_id=cleaned["owner_id"]).exists():
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


def _check_move_request(to: Any, reason: Any, override: Any) -> tuple[str, str, bool]:
    to = clean_choice(to, field="to", choices=Phase)
    reason = clean_text(reason, field="reason", max_length=2000)
    if not isinstance(override, bool):
        raise ServiceError("override must be true or false.", field="override")
    if to in rules.REASON_REQUIRED and not reason:
        raise ServiceError(f"Say why the release is {to.replace('_', ' ')}.", field="reason")
    if override and not reason:
        raise ServiceError("An override needs a reason.", field="reason")
    return to, reason, override


def release_move(
    *,
    release_id: Any,
    to: Any,
    actor: Any,
    reason: Any = "",
    override: Any = False,
    batch: AuditBatch | None = None,
) -> Release:
    """Move a release to `to` if its gate allows; a no-op if it is already there.

    `actor` None means the system (engine, periodic tick). An override (administrators only,
    with a reason) passes a gate that still has blockers; the blockers are kept in the audit.
    """
    to, reason, override = _check_move_request(to, reason, override)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        if actor is not None:
            require(actor, Action.OVERRIDE_GATE if override else Action.MOVE_PHASE, release)
        if release.phase == to:
            return release
        now = timezone.now()
        blockers = rules.move_blockers(release_facts(release, now=now), to)
        not_allowed = [b for b in blockers if b.code == "move_not_allowed"]
        if not_allowed or (blockers and not override):
            raise Conflict(f"The release cannot move to {to} now.", blockers=blockers)
        before = {"phase": release.phase, "phase_entered_at": release.phase_entered_at.isoformat()}
        release.phase = to
        release.phase_entered_at = now
        fields = ["phase", "phase_entered_at", "updated_at"]
        if to == rules.SUPPORT:
            release.hypercare_until = now + timedelta(days=release.hypercare_days)
            fields.append("hypercare_until")
        release.save(update_fields=fields)
        after = {"phase": to, "phase_entered_at": now.isoformat()}
        if override and blockers:
            after["overridden_blockers"] = [b.as_dict() for b in blockers]
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="release.override_moved" if override and blockers else "release.moved",
            obj=release,
            before=before,
            after=after,
            reason=reason,
            batch=batch,
        )
        _notify_moved(release, reason)
    return release


def _notify_moved(release: Release, reason: str) -> None:
    from apps.notifications.outbox import notify
    from apps.signoffs.models import SignoffRequirement

    notify(release=release, event="release.moved", text=reason)
    if release.phase == rules.TESTING:
        # Release-level policy only: a wave's own sign-off is asked for when that wave waits.
        roles = SignoffRequirement.objects.filter(release=release, wave__isnull=True).values_list(
            "role__slug", flat=True
        )
        notify(release=release, event="signoff.requested", roles=set(roles))


def _enqueue_move(move_id: int) -> None:
    from ..tasks import carry_out_move

    carry_out_move.delay(move_id)


def _create_move(release: Release, to: str, actor: Any, reason: str, override: bool) -> PhaseMove:
    """Insert the pending move row and enqueue its task once committed."""
    now = timezone.now()
    try:
        with transaction.atomic():
            move = PhaseMove.objects.create(
                release=release,
                from_phase=release.phase,
                to_phase=to,
                requested_by=actor,
                reason=reason,
                override=override,
                enqueued_at=now,
            )
            record_change(
                release_id=release.pk,
                actor=actor,
                verb="release.move_requested",
                obj=move,
                before={"phase": release.phase},
                after={"to": to, "override": override},
                reason=reason,
            )
    except IntegrityError:
        pending = PhaseMove.objects.filter(release=release, state=MoveState.PENDING).first()
        if pending is not None and pending.to_phase == to:
            return pending
        if pending is None:  # the other move finished in between; the caller may ask again
            raise Conflict(
                "Another move of this release just happened; reload and try again."
            ) from None
        raise Conflict(
            f"A move to {pending.to_phase} is already in progress.",
        ) from None
    transaction.on_commit(lambda: _enqueue_move(move.pk))
    return move


def release_request_move(
    *, release_id: Any, to: Any, actor: Any, reason: Any = "", override: Any = False
) -> PhaseMove | None:
    """Check a move now and hand it to a worker; raises Conflict with the blockers if refused.

    Returns the pending move (an existing one if the same move is already on its way), or None
    when the release is already in `to`.
    """
    to, reason, override = _check_move_request(to, reason, override)
    release = get_release(release_id)
    require(actor, Action.OVERRIDE_GATE if override else Action.MOVE_PHASE, release)
    if release.phase == to:
        return None
    blockers = rules.move_blockers(release_facts(release), to)
    if any(b.code == "move_not_allowed" for b in blockers) or (blockers and not override):
        raise Conflict(f"The release cannot move to {to} now.", blockers=blockers)
    return _create_move(release, to, actor, reason, override)


def phase_move_carry_out(*, move_id: int) -> PhaseMove | None:
    """Worker side of a requested move: claim the row, re-check under the lock, record the outcome."""
    with transaction.atomic():
        move = (
            # of=("self",): the requester join is nullable, and only the move row needs the lock.
            PhaseMove.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=move_id, state=MoveState.PENDING)
            .select_related("requested_by")
            .first()
        )
        if move is None:
            return None  # already carried out, or another worker holds it
        try:
            release_move(
                release_id=move.release_id,
                to=move.to_phase,
                actor=move.requested_by,
                reason=move.reason,
                override=move.override,
            )
            move.state = MoveState.DONE
        except (Conflict, NotAllowed, ServiceError) as exc:
            move.state = MoveState.REFUSED
            blockers = getattr(exc, "blockers", None) or []
            move.blockers = [b.as_dict() for b in blockers] or [
                {"code": "refused", "message": exc.message}
            ]
            record_change(
                release_id=move.release_id,
                actor=move.requested_by,
                verb="release.move_refused",
                obj=move,
                after={"to": move.to_phase, "blockers": move.blockers},
                reason=exc.message,
            )
        move.processed_at = timezone.now()
        move.save(update_fields=["state", "blockers", "processed_at", "updated_at"])
    return move


UNFINISHED_WAVE_STATES = ("pending", "scheduled", "waiting", "deploying", "verifying", "halted")


def releases_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Periodic: start automatic moves that are due and re-enqueue moves whose message was lost."""
    now = now or timezone.now()
    counts = {"requeued": 0, "to_support": 0, "to_completed": 0}
    stale = now - settings.RELEASEDECK_MOVE_RETRY_AFTER
    for move_id in PhaseMove.objects.filter(
        state=MoveState.PENDING, enqueued_at__lt=stale
    ).values_list("pk", flat=True):
        # Compare-and-set so two ticks never both re-enqueue the same move.
        if PhaseMove.objects.filter(
            pk=move_id, state=MoveState.PENDING, enqueued_at__lt=stale
        ).update(enqueued_at=now):
            transaction.on_commit(partial(_enqueue_move, move_id))
            counts["requeued"] += 1
    auto = (
        (
            rules.SUPPORT,
            "to_support",
            # Only releases with no wave still to finish are worth reading the gate for.
            Release.objects.filter(phase=rules.ROLLOUT).exclude(
                rollout_plan__waves__state__in=UNFINISHED_WAVE_STATES
            ),
        ),
        (
            rules.COMPLETED,
            "to_completed",
            Release.objects.filter(
                phase=rules.SUPPORT, hypercare_until__lte=now, review__isnull=False
            ),
        ),
    )
    for to, key, candidates in auto:
        for release in candidates.exclude(moves__state=MoveState.PENDING):
            if rules.move_blockers(release_facts(release, now=now), to):
                continue
            try:
                _create_move(release, to, None, "All conditions met.", False)
                counts[key] += 1
            except Conflict:
                continue
    return counts

"""A release's phase: `release_move` is the only code that changes it; requested moves are
rows a task carries out, and the tick re-finds the ones whose message was lost."""

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch
from apps.core.errors import Conflict, NotAllowed, ServiceError

from .. import rules
from ..models import MoveState, PhaseMove, Release
from ..selectors import release_facts
from ..signals import release_moved
from .lifecycle import get_release, record_change


def _check_reason(to: str, reason: str, override: bool) -> None:
    """Ending a release early, and passing a gate that has blockers, each need a reason."""
    if to in rules.REASON_REQUIRED and not reason.strip():
        raise ServiceError(f"Say why the release is {to.replace('_', ' ')}.", field="reason")
    if override and not reason.strip():
        raise ServiceError("An override needs a reason.", field="reason")


def release_move(
    *,
    release_id: int,
    to: str,
    actor: User | None,
    reason: str = "",
    override: bool = False,
    batch: AuditBatch | None = None,
) -> Release:
    """Move a release to `to` if its gate allows; a no-op if it is already there.

    `actor` None means the system (engine, periodic tick). An override (administrators only,
    with a reason) passes a gate that still has blockers; the blockers are kept in the audit.
    """
    _check_reason(to, reason, override)
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
        after: dict[str, object] = {"phase": to, "phase_entered_at": now.isoformat()}
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
        # Notifications tells the release's people; sign-offs asks for them on entering testing.
        release_moved.send(sender=Release, release=release, reason=reason)
    return release


def _enqueue_move(move_id: int) -> None:
    from ..tasks import carry_out_move

    carry_out_move.delay(move_id)


def _create_move(
    release: Release, to: str, actor: User | None, reason: str, override: bool
) -> PhaseMove:
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
    *, release_id: int, to: str, actor: User, reason: str = "", override: bool = False
) -> PhaseMove | None:
    """Check a move now and hand it to a worker; raises Conflict with the blockers if refused.

    Returns the pending move (an existing one if the same move is already on its way), or None
    when the release is already in `to`.
    """
    _check_reason(to, reason, override)
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

"""A wave's state: `wave_move` is the only code that changes it; `wave_transition` is the
service that moves a wave for a person (or the system) outside the engine's steps."""

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import AuditBatch
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.services import record_change

from . import queue, rules
from .locking import lock
from .models import TERMINAL_WAVE_STATES, Wave, WaveState


def wave_move(
    release: Release,
    wave: Wave,
    to: str,
    *,
    actor: User | None,
    reason: str,
    now: datetime,
    by_stop_line: bool = False,
    batch: AuditBatch | None = None,
) -> bool:
    """The one writer of a wave's state: move `wave` to `to`, in the caller's transaction, which
    holds `release` and then `wave` locked (the order every writer follows). Staying in the
    same state with a new reason records the new reason. Returns whether anything changed.
    `actor` None is the engine; whoever calls has checked the actor's right. `batch` is the
    engine run's (see AuditBatch). Entering deploying from a waiting state is a new deploy
    round; an ended wave has no next step."""
    if to in rules.REASON_REQUIRED and not reason:
        raise ServiceError(f"Say why the wave is {to.replace('_', ' ')}.", field="reason")
    if wave.state == to:
        if not reason or wave.state_reason == reason:
            return False
        # Same state, new explanation (a waiting wave now waits for something else).
        before = {"state": wave.state, "state_reason": wave.state_reason}
        wave.state_reason = reason
        wave.save(update_fields=["state_reason", "updated_at"])
        _record(release, wave, "wave.reason_changed", before, actor=actor, batch=batch)
        return True
    if not rules.wave_move_allowed(wave.state, to):
        raise Conflict(f"A {wave.state} wave cannot become {to}.")
    if to in rules.LIVE_STATES and release.phase != release_rules.ROLLOUT:
        raise Conflict(f"The release is in {release.phase}; waves run only during rollout.")
    before = {"state": wave.state, "state_reason": wave.state_reason}
    fields = ["state", "state_reason", "updated_at"]
    if to == WaveState.HALTED:
        wave.paused_from = wave.state
        wave.halted_by_stop_line = by_stop_line
        fields += ["paused_from", "halted_by_stop_line"]
    elif wave.state == WaveState.HALTED:
        wave.paused_from = ""
        wave.halted_by_stop_line = False
        fields += ["paused_from", "halted_by_stop_line"]
    if to == WaveState.DEPLOYING and wave.state in rules.WAITING_STATES:
        wave.deploy_round += 1
        fields.append("deploy_round")
    wave.state = to
    wave.state_reason = reason
    if to == WaveState.SKIPPED:
        wave.skip_reason = reason
        fields.append("skip_reason")
    if to == WaveState.SCHEDULED and wave.scheduled_at is None:
        wave.scheduled_at = wave.planned_start or now
        fields.append("scheduled_at")
    if to == WaveState.DEPLOYING and wave.started_at is None:
        wave.started_at = now
        fields.append("started_at")
    if to == WaveState.VERIFYING and before["state"] != WaveState.HALTED:
        wave.bake_started_at = now
        fields.append("bake_started_at")
    if to in TERMINAL_WAVE_STATES:
        wave.finished_at = now
        fields.append("finished_at")
    wave.save(update_fields=fields)
    if to in TERMINAL_WAVE_STATES and wave.next_step_at is not None:
        queue.set_due(wave, None)
    _record(release, wave, "wave.state_changed", before, actor=actor, batch=batch)
    return True


def _record(
    release: Release,
    wave: Wave,
    verb: str,
    before: dict[str, str],
    *,
    actor: User | None,
    batch: AuditBatch | None,
) -> None:
    after = {"state": wave.state, "state_reason": wave.state_reason}
    record_change(
        release_id=release.pk,
        actor=actor,
        verb=verb,
        obj=wave,
        before=before,
        after=after,
        reason=wave.state_reason,
        batch=batch,
    )


def wave_transition(
    *, wave_id: int, to: str, actor: User | None, reason: str = "", now: datetime | None = None
) -> Wave:
    """Move a wave to `to` (a `WaveState`) for `actor` (None: the system); a no-op when it is
    already there with the same reason. Operators' actions on a running rollout are
    `wave_operate`."""
    reason = reason.strip()  # blank says nothing: a move that needs a reason is refused
    if to in rules.REASON_REQUIRED and not reason:
        raise ServiceError(f"Say why the wave is {to.replace('_', ' ')}.", field="reason")
    with transaction.atomic():
        locked = lock(wave_id)
        if locked is None:
            raise NotFound("No such wave.", field="wave")
        release, wave = locked
        if actor is not None:
            require(actor, Action.OPERATE_WAVES, release, tier=wave.environment.tier)
        wave_move(release, wave, to, actor=actor, reason=reason, now=now or timezone.now())
    return wave

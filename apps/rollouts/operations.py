"""What operators do to a running rollout. Each goes through `wave_move`, the one writer
of wave states, with the operator recorded as the actor. (What deploy tools report is in
`reports`.)"""

from datetime import datetime
from enum import StrEnum

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.core.errors import Blocker, Conflict, NotFound, ServiceError
from apps.environments.models import StopTheLine
from apps.releases import rules as release_rules
from apps.releases.models import Release

from . import delivery, gates, queue, steps
from .locking import LockedWave, is_current, lock
from .models import (
    CallState,
    Check,
    CheckKind,
    DeployAction,
    DeployCall,
    Deployer,
    Wave,
    WaveState,
)
from .rollbacks import request_wave_rollback
from .rules import ENDED_STATES, RUNNING_STATES, WAITING_STATES
from .transitions import wave_move


class WaveAction(StrEnum):
    """What an operator can do to a wave."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"
    SKIP = "skip"
    CONFIRM = "confirm"


def _locked(wave_id: int) -> tuple[Release, LockedWave]:
    locked = lock(wave_id)
    if locked is None:
        raise NotFound("No such wave.", field="wave")
    return locked


# How a wave's reason names what a person did to it: "Paused by oscar: …".
DONE_BY = {
    "start": "Started",
    "pause": "Paused",
    "resume": "Resumed",
    "abort": "Aborted",
    "rollback": "Rollback asked",
    "skip": "Skipped",
    "confirm": "Confirmed",
}


def wave_operate(*, wave_id: int, action: WaveAction, actor: User, reason: str = "") -> Wave:
    """start | pause | resume | abort | rollback | skip | confirm one wave. Repeating an
    action whose effect already holds is a no-op."""
    reason = reason.strip()  # blank says nothing: an action that needs a reason is refused
    if action in ("abort", "rollback", "skip") and not reason:
        raise ServiceError(f"Say why you {action} this wave.", field="reason")
    now = timezone.now()
    with transaction.atomic():
        release, wave = _locked(wave_id)
        require(actor, Action.OPERATE_WAVES, release, tier=wave.environment.tier)
        if release.phase != release_rules.ROLLOUT:
            raise Conflict(f"The release is in {release.phase}; waves are operated during rollout.")
        if action != "rollback":
            if wave.rollback_requested_at is not None:
                raise Conflict(
                    "This wave's rollback waits for the deploy tool.",
                    blockers=[
                        Blocker(
                            "rollback_pending",
                            "The deploy tool has not confirmed the rollback yet; nothing else "
                            "can happen to the wave until it does (or the deploy timeout passes).",
                        )
                    ],
                )
            if wave.plan.rollback_requested_at is not None and action in ("start", "resume"):
                raise Conflict(
                    "The release is being rolled back.",
                    blockers=[Blocker("release_rolling_back", wave.plan.rollback_reason)],
                )
        who = actor.get_username()
        handler = {
            "start": _start,
            "pause": _pause,
            "resume": _resume,
            "abort": _abort,
            "rollback": _rollback,
            "skip": _skip,
            "confirm": _confirm,
        }[action]
        handler(
            wave,
            release,
            now,
            actor,
            f"{DONE_BY[action]} by {who}" + (f": {reason}" if reason else ""),
        )
    wave.refresh_from_db()
    return wave


def _start(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state in RUNNING_STATES or wave.state in ENDED_STATES:
        if wave.state in RUNNING_STATES:
            return
        raise Conflict(f"A {wave.state} wave cannot be started.")
    if wave.state == WaveState.HALTED:
        raise Conflict("The wave is halted: resume it instead.")
    if not is_current(wave):
        raise Conflict(
            "An earlier wave has not finished.",
            blockers=[
                Blocker(
                    "earlier_wave_running", "Waves run in order; finish or skip the earlier ones."
                )
            ],
        )
    # "Start now" overrides the planned time only.
    blockers, _ = gates.start_blockers(wave, release, now, keep_planned_start=False)
    if blockers:
        raise Conflict(
            "The wave cannot start now.",
            blockers=[Blocker("wave_blocked", b.message) for b in blockers],
        )
    outcome = steps.start_deploy(wave, release, now, steps.Writes(), actor=actor, why=reason)
    steps.follow_and_send(wave, outcome, now)


def _pause(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state == WaveState.HALTED:
        return
    if wave.state in ENDED_STATES:
        raise Conflict(f"A {wave.state} wave cannot be paused.")
    halt(release, wave, now, actor=actor, reason=reason)


def halt(
    release: Release,
    wave: Wave,
    now: datetime,
    *,
    actor: User | None,
    reason: str,
    by_stop_line: bool = False,
) -> None:
    """Halt a wave the caller holds locked: nothing is due for it until it is resumed."""
    wave_move(
        release,
        wave,
        WaveState.HALTED,
        actor=actor,
        reason=reason,
        now=now,
        by_stop_line=by_stop_line,
    )
    queue.set_due(wave, None)
    steps.Writes().notify(release, "wave.halted", wave=wave, text=reason)


def resume_wave(
    release: Release, wave: Wave, now: datetime, actor: User | None, reason: str
) -> None:
    """Continue a halted wave the caller holds locked where it stopped; a deploy that failed is
    sent again. Whoever calls has checked the actor's right."""
    back_to = wave.paused_from or WaveState.WAITING
    if back_to in WAITING_STATES:
        wave_move(release, wave, WaveState.WAITING, actor=actor, reason=reason, now=now)
    elif back_to == WaveState.DEPLOYING:
        last = (
            DeployCall.objects.filter(
                wave=wave, action=DeployAction.DEPLOY, round=wave.deploy_round
            )
            .order_by("-pk")
            .first()
        )
        if wave.deployer == Deployer.WEBHOOK and (last is None or last.state == CallState.FAILED):
            wave_move(release, wave, WaveState.WAITING, actor=actor, reason=reason, now=now)
            outcome = steps.start_deploy(wave, release, now, steps.Writes(), actor=actor)
            steps.follow_and_send(wave, outcome, now)
            return
        wave_move(release, wave, WaveState.DEPLOYING, actor=actor, reason=reason, now=now)
    else:
        wave_move(release, wave, WaveState.VERIFYING, actor=actor, reason=reason, now=now)
        # The operator has looked at the failures; checks start counting afresh.
        automatic = Check.objects.filter(wave=wave).exclude(kind=CheckKind.MANUAL)
        automatic.update(consecutive_failures=0, next_run_at=now)
        for check_id in automatic.values_list("pk", flat=True):
            queue.send_check(check_id)
    queue.step_soon(wave, now)


def _resume(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state != WaveState.HALTED:
        if wave.state in RUNNING_STATES or wave.state in WAITING_STATES:
            return
        raise Conflict(f"A {wave.state} wave cannot be resumed.")
    if wave.paused_from in ENDED_STATES:
        # Halted because its rollback failed after it had ended: there is nothing to go on with.
        raise Conflict(
            f"The wave had {wave.paused_from} when its rollback failed: roll it back again, "
            "or abort it."
        )
    if StopTheLine.objects.filter(pk=1, active=True).exists():
        raise Conflict(
            "Stop the line is on.",
            blockers=[Blocker("stop_the_line", "Lift stop the line before resuming waves.")],
        )
    frozen = gates.halt_reason(wave, now)
    if frozen is not None and wave.paused_from in RUNNING_STATES:
        raise Conflict(
            "The wave's environment is frozen for an incident.",
            blockers=[Blocker("incident_freeze", f"{frozen}. Lift the freeze before resuming.")],
        )
    resume_wave(release, wave, now, actor, reason)


def _abort(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state == WaveState.FAILED:
        return
    if wave.state in (WaveState.PENDING, WaveState.SCHEDULED) or wave.state in ENDED_STATES:
        raise Conflict(f"A {wave.state} wave cannot be aborted.")
    wave_move(release, wave, WaveState.FAILED, actor=actor, reason=reason, now=now)


def _rollback(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state == WaveState.ROLLED_BACK or wave.rollback_requested_at is not None:
        return
    if wave.started_at is None:
        raise Conflict("This wave was never deployed; skip it instead.")
    if not request_wave_rollback(wave, release, now, reason=reason, actor=actor):
        steps.Writes().notify(release, "wave.rolled_back", wave=wave, text=reason)


def _skip(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state == WaveState.SKIPPED:
        return
    if wave.state not in WAITING_STATES and wave.state != WaveState.HALTED:
        raise Conflict(f"A {wave.state} wave cannot be skipped.")
    wave_move(release, wave, WaveState.SKIPPED, actor=actor, reason=reason, now=now)
    steps.follow_and_send(wave, steps.Outcome("skipped", next_wave=steps.next_wave(wave)), now)


def _confirm(wave: Wave, release: Release, now: datetime, actor: User, reason: str) -> None:
    if wave.state == WaveState.VERIFYING:
        return
    if wave.state != WaveState.DEPLOYING or wave.deployer != Deployer.MANUAL:
        raise Conflict("Only a wave waiting for a manual deploy can be confirmed.")
    outcome = steps.begin_verifying(wave, release, now, steps.Writes(), reason=reason, actor=actor)
    steps.follow_and_send(wave, outcome, now)


def check_confirm(*, check_id: int, ok: bool, actor: User, note: str = "") -> str:
    """An operator's verdict on a manual check."""
    try:
        check = Check.objects.select_related(
            "wave__plan__release__application", "wave__environment"
        ).get(pk=check_id)
    except Check.DoesNotExist:
        raise NotFound("No such check.", field="check") from None
    require(actor, Action.OPERATE_WAVES, check.wave.plan.release, tier=check.wave.environment.tier)
    if check.kind != CheckKind.MANUAL:
        raise Conflict("Only manual checks take an operator's verdict.")
    if check.wave.state != WaveState.VERIFYING:
        raise Conflict("The wave is not verifying.")
    return delivery.record_check_result(
        check_id=check.pk,
        ok=ok,
        value="confirmed" if ok else "rejected",
        detail=note or f"by {actor.get_username()}",
        actor=actor,
    )


def follow_stop_the_line(*, switch: StopTheLine, actor: User, now: datetime) -> None:
    """The stop-the-line switch changed (in this transaction): halt every running wave, or
    resume those it halted and let waiting waves look again."""
    if switch.active:
        # A wave being rolled back is left to finish that: halting it would not stop it.
        running = Wave.objects.filter(
            state__in=RUNNING_STATES,
            plan__release__phase=release_rules.ROLLOUT,
            rollback_requested_at__isnull=True,
        )
        for wave_id in running.values_list("pk", flat=True):
            locked = lock(wave_id)
            if locked is not None:
                release, wave = locked
                reason = f"Stop the line: {switch.reason}"
                halt(release, wave, now, actor=actor, reason=reason, by_stop_line=True)
        return
    halted = Wave.objects.filter(
        state=WaveState.HALTED,
        halted_by_stop_line=True,
        plan__release__phase=release_rules.ROLLOUT,  # a release that ended stays put
    )
    for wave_id in halted.values_list("pk", flat=True):
        locked = lock(wave_id)
        if locked is not None:
            release, wave = locked
            resume_wave(release, wave, now, actor, "Stop the line lifted")
    queue.wake_waiting()

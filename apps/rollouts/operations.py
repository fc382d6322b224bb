"""What operators do to a running rollout. Each goes through `wave_transition`, the one writer
of wave states, with the operator recorded as the actor. (What deploy tools report is in
`reports`.)"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core.errors import Blocker, Conflict, NotFound, ServiceError
from apps.core.validation import clean_id, clean_text
from apps.environments.models import StopTheLine
from apps.releases import rules as release_rules

from . import delivery, engine
from .dispatch import enqueue_check, kick_wave, set_due
from .gates import start_blockers
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
from .rules import ENDED_STATES, WAITING_STATES
from .rules import RUNNING_STATES as RUNNING
from .services import wave_transition

ACTIONS = ("start", "pause", "resume", "abort", "rollback", "skip", "confirm")


def _locked(wave_id: Any) -> tuple[Any, Wave]:
    locked = engine._lock(clean_id(wave_id, field="wave"))
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


def wave_operate(*, wave_id: Any, action: Any, actor: Any, reason: Any = "") -> Wave:
    """start | pause | resume | abort | rollback | skip | confirm one wave. Repeating an
    action whose effect already holds is a no-op."""
    if action not in ACTIONS:
        raise ServiceError(f"action must be one of: {', '.join(ACTIONS)}.", field="action")
    reason = clean_text(reason, field="reason", max_length=2000)
    if action in ("abort", "rollback", "skip") and not reason:
        raise ServiceError(f"Say why you {action} this wave.", field="reason")
    now = timezone.now()
    with transaction.atomic():
        release, wave = _locked(wave_id)
        require(actor, Action.OPERATE_WAVES, release)
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


def _start(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state in RUNNING or wave.state in ENDED_STATES:
        if wave.state in RUNNING:
            return
        raise Conflict(f"A {wave.state} wave cannot be started.")
    if wave.state == WaveState.HALTED:
        raise Conflict("The wave is halted: resume it instead.")
    if not engine.is_current(wave):
        raise Conflict(
            "An earlier wave has not finished.",
            blockers=[
                Blocker(
                    "earlier_wave_running", "Waves run in order; finish or skip the earlier ones."
                )
            ],
        )
    planned, wave.planned_start = (
        wave.planned_start,
        None,
    )  # "start now" overrides the planned time only
    reasons, _ = start_blockers(wave, release, now)
    wave.planned_start = planned
    if reasons:
        raise Conflict(
            "The wave cannot start now.", blockers=[Blocker("wave_blocked", r) for r in reasons]
        )
    engine.start_deploy(wave, release, now, actor=actor, why=reason)


def _pause(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state == WaveState.HALTED:
        return
    if wave.state in ENDED_STATES:
        raise Conflict(f"A {wave.state} wave cannot be paused.")
    wave_transition(wave_id=wave.pk, to=WaveState.HALTED, actor=actor, reason=reason, now=now)
    set_due(wave, None)
    engine._notify(release, "wave.halted", wave=wave, text=reason)


def resume_wave(
    wave: Wave, now: datetime, actor: Any, reason: str, *, permission_checked: bool = False
) -> None:
    """Continue a halted wave where it stopped; a deploy that failed is sent again."""
    back_to = wave.paused_from or WaveState.WAITING
    if back_to in WAITING_STATES:
        wave_transition(
            wave_id=wave.pk,
            to=WaveState.WAITING,
            actor=actor,
            reason=reason,
            now=now,
            permission_checked=permission_checked,
        )
    elif back_to == WaveState.DEPLOYING:
        last = (
            DeployCall.objects.filter(
                wave=wave, action=DeployAction.DEPLOY, round=wave.deploy_round
            )
            .order_by("-pk")
            .first()
        )
        if wave.deployer == Deployer.WEBHOOK and (last is None or last.state == CallState.FAILED):
            wave_transition(
                wave_id=wave.pk,
                to=WaveState.WAITING,
                actor=actor,
                reason=reason,
                now=now,
                permission_checked=permission_checked,
            )
            engine.start_deploy(
                wave, wave.plan.release, now, actor=actor, permission_checked=permission_checked
            )
            return
        wave_transition(
            wave_id=wave.pk,
            to=WaveState.DEPLOYING,
            actor=actor,
            reason=reason,
            now=now,
            permission_checked=permission_checked,
        )
    else:
        wave_transition(
            wave_id=wave.pk,
            to=WaveState.VERIFYING,
            actor=actor,
            reason=reason,
            now=now,
            permission_checked=permission_checked,
        )
        # The operator has looked at the failures; checks start counting afresh.
        Check.objects.filter(wave=wave).exclude(kind=CheckKind.MANUAL).update(
            consecutive_failures=0, next_run_at=now
        )
        for check_id in (
            Check.objects.filter(wave=wave)
            .exclude(kind=CheckKind.MANUAL)
            .values_list("pk", flat=True)
        ):
            enqueue_check(check_id)
    set_due(wave, now)
    kick_wave(wave.pk)


def _resume(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state != WaveState.HALTED:
        if wave.state in RUNNING or wave.state in WAITING_STATES:
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
    resume_wave(wave, now, actor, reason)


def _abort(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state == WaveState.FAILED:
        return
    if wave.state in (WaveState.PENDING, WaveState.SCHEDULED) or wave.state in ENDED_STATES:
        raise Conflict(f"A {wave.state} wave cannot be aborted.")
    wave_transition(wave_id=wave.pk, to=WaveState.FAILED, actor=actor, reason=reason, now=now)


def _rollback(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state == WaveState.ROLLED_BACK or wave.rollback_requested_at is not None:
        return
    if wave.started_at is None:
        raise Conflict("This wave was never deployed; skip it instead.")
    if not request_wave_rollback(wave, release, now, reason=reason, actor=actor, locked=True):
        engine._notify(release, "wave.rolled_back", wave=wave, text=reason, locked=True)


def _skip(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state == WaveState.SKIPPED:
        return
    if wave.state not in WAITING_STATES and wave.state != WaveState.HALTED:
        raise Conflict(f"A {wave.state} wave cannot be skipped.")
    wave_transition(wave_id=wave.pk, to=WaveState.SKIPPED, actor=actor, reason=reason, now=now)
    engine.arm_next(wave, now)


def _confirm(wave: Wave, release: Any, now: datetime, actor: Any, reason: str) -> None:
    if wave.state == WaveState.VERIFYING:
        return
    if wave.state != WaveState.DEPLOYING or wave.deployer != Deployer.MANUAL:
        raise Conflict("Only a wave waiting for a manual deploy can be confirmed.")
    engine.begin_verifying(wave, now, reason=reason, actor=actor)


def check_confirm(*, check_id: Any, ok: Any, actor: Any, note: Any = "") -> str:
    """An operator's verdict on a manual check."""
    note = clean_text(note, field="note", max_length=2000)
    if not isinstance(ok, bool):
        raise ServiceError("ok must be true or false.", field="ok")
    try:
        check = Check.objects.select_related("wave__plan__release").get(
            pk=clean_id(check_id, field="check")
        )
    except Check.DoesNotExist:
        raise NotFound("No such check.", field="check") from None
    require(actor, Action.OPERATE_WAVES, check.wave.plan.release)
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


def stop_the_line_set(*, active: Any, actor: Any, reason: Any = "") -> StopTheLine:
    """Halt every running wave at once, or lift the switch and let them carry on."""
    if not isinstance(active, bool):
        raise ServiceError("active must be true or false.", field="active")
    reason = clean_text(reason, field="reason", max_length=300)
    require(actor, Action.STOP_THE_LINE)
    if active and not reason:
        raise ServiceError("Say why the line is stopped.", field="reason")
    now = timezone.now()
    with transaction.atomic():
        StopTheLine.objects.get_or_create(pk=1)
        switch = StopTheLine.objects.select_for_update().get(pk=1)
        if switch.active == active:
            return switch
        before = {"active": switch.active, "reason": switch.reason}
        switch.active, switch.reason, switch.changed_by, switch.changed_at = (
            active,
            reason,
            actor,
            now,
        )
        switch.save()
        audit_record(
            actor=actor,
            verb="stop_the_line.on" if active else "stop_the_line.off",
            obj=switch,
            before=before,
            after={"active": active, "reason": reason},
            reason=reason,
        )
        if active:
            # A wave being rolled back is left to finish that: halting it would not stop it.
            running = Wave.objects.filter(
                state__in=RUNNING,
                plan__release__phase=release_rules.ROLLOUT,
                rollback_requested_at__isnull=True,
            )
            for wave_id in running.values_list("pk", flat=True):
                # Waves follow the switch whatever the puller's role (release managers may
                # pull it too), so the switch's permission is the one that counts.
                wave_transition(
                    wave_id=wave_id,
                    to=WaveState.HALTED,
                    actor=actor,
                    permission_checked=True,
                    reason=f"Stop the line: {reason}",
                    now=now,
                    by_stop_line=True,
                )
                Wave.objects.filter(pk=wave_id).update(next_step_at=None)
                halted = Wave.objects.select_related("plan__release", "environment").get(pk=wave_id)
                engine._notify(
                    halted.plan.release, "wave.halted", wave=halted, text=f"Stop the line: {reason}"
                )
        else:
            for wave in Wave.objects.filter(
                state=WaveState.HALTED,
                halted_by_stop_line=True,
                plan__release__phase=release_rules.ROLLOUT,  # a release that ended stays put
            ).select_related("plan__release", "environment"):
                resume_wave(wave, now, actor, "Stop the line lifted", permission_checked=True)
            for wave_id in Wave.objects.filter(state=WaveState.WAITING).values_list(
                "pk", flat=True
            ):
                Wave.objects.filter(pk=wave_id).update(next_step_at=now)
                kick_wave(wave_id)
    return switch

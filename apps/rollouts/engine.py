"""The rollout engine: due times live in rows; a tick finds what is due; small steps act.

Every step locks the release row before the wave (the order all writers follow), re-reads the
state, and does nothing if the step is not due any more, so a duplicate message or a re-run
after a crash is harmless. Network I/O (deploy calls, checks) happens outside transactions:
a step claims its row, commits, talks to the network, then records the outcome.

A step whose successor is due at once (a simulated deploy, no bake time, the next wave) does
not queue it: the task that ran it carries on with it (`dispatch.wave_run`), up to a bound,
and holds its lease (`kicked_at`) meanwhile so the tick does not send it as well.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.releases import rules as release_rules
from apps.releases.models import Release

from .dispatch import carry_on as _carry_on
from .dispatch import enqueue_call as _enqueue_call
from .dispatch import enqueue_check as _enqueue_check
from .dispatch import set_due as _set_due
from .gates import start_blockers
from .models import (
    CallState,
    Check,
    CheckKind,
    CheckResult,
    DeployAction,
    DeployCall,
    Deployer,
    FailurePolicy,
    Wave,
    WaveState,
)
from .rollbacks import auto_rollback_capped, roll_back_release, rollback_step
from .rules import DONE_STATES, ENDED_STATES, WAITING_STATES
from .services import wave_transition

log = logging.getLogger(__name__)

KEEP = object()  # `_move` leaves the due time as it is

# A wave waiting for a person (manual deploy or check) is looked at again this often anyway;
# the operator's action wakes it at once. No live wave is ever left without a due time.
MANUAL_RECHECK = timedelta(hours=1)


# --- the wave step --------------------------------------------------------------------------


def _lock(wave_id: int, release: Release | None = None) -> tuple[Release, Wave] | None:
    """Lock the wave's release, then the wave: the order every writer follows. `release` is
    its release when this transaction holds it locked already. The wave comes with `behind`:
    whether an earlier wave of its plan is unfinished."""
    if release is None:
        release_id = (
            Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
        )
        if release_id is None:
            return None
        release = Release.objects.select_for_update().get(pk=release_id)
    wave = _waves_locked().filter(pk=wave_id).first()
    if wave is None:
        return None
    if wave.plan.release_id != release.pk:
        return _lock(wave_id)
    return release, wave


def _waves_locked() -> Any:
    """Waves to lock, each with `behind`: whether an earlier wave of its plan is unfinished."""
    earlier = Wave.objects.filter(
        plan_id=OuterRef("plan_id"), position__lt=OuterRef("position")
    ).exclude(state__in=DONE_STATES)
    return (
        Wave.objects.select_for_update(of=("self",))
        .select_related("environment", "plan")
        .annotate(behind=Exists(earlier))
    )


def is_current(wave: Wave) -> bool:
    """Waves run one after another: every earlier wave has succeeded or was skipped."""
    return not (
        Wave.objects.filter(plan_id=wave.plan_id, position__lt=wave.position)
        .exclude(state__in=DONE_STATES)
        .exists()
    )


def wave_step(*, wave_id: int, now: datetime | None = None) -> str:
    """Advance one wave by one step; returns what it did, for logs and tests."""
    with transaction.atomic():
        return run_step(wave_id, now or timezone.now())[0]


# Steps that changed the wave only through `_move` on the step's own locked rows: those rows,
# still locked, are what the database holds, so the next step in the same transaction may go
# on from them instead of reading them again.
_KEPT_ROWS = frozenset({"deploying", "verifying", "succeeded"})


def run_step(
    wave_id: int, now: datetime, held: tuple[Release, Wave] | None = None
) -> tuple[str, tuple[Release, Wave] | None]:
    """One step, in the caller's transaction; `held` are rows an earlier step of that
    transaction left locked and current. Returns what it did and the rows it leaves so."""
    if held is not None and held[1].pk == wave_id:
        locked: tuple[Release, Wave] | None = held
    else:
        locked = _lock(wave_id, held[0] if held is not None else None)
    if locked is None:
        return "gone", None
    release, wave = locked
    if wave.next_step_at is None or wave.next_step_at > now:
        return "not due", locked
    if wave.rollback_requested_at is not None and release.phase == release_rules.ROLLOUT:
        return rollback_step(wave, release, now), None
    if (
        release.phase != release_rules.ROLLOUT
        or wave.state in ENDED_STATES
        or wave.state == WaveState.HALTED
        or wave.plan.rollback_requested_at is not None  # the release is being rolled back
    ):
        _set_due(wave, None)
        return "idle", locked
    if wave.behind:
        _set_due(wave, None)
        return "not current", locked
    if wave.state in WAITING_STATES:
        did = _try_start(wave, release, now)
    elif wave.state == WaveState.DEPLOYING:
        did = _deploying(wave, release, now)
    elif wave.state == WaveState.VERIFYING:
        did, following = _verifying(wave, release, now)
        if following is not None:  # armed and locked: the next step is most likely its
            return did, (release, following)
    else:
        return "idle", locked
    return did, (locked if did in _KEPT_ROWS else None)


def _move(
    wave: Wave,
    release: Release | None,
    to: str,
    reason: str,
    now: datetime,
    *,
    locked: bool,
    due: Any = KEEP,
    actor: Any = None,
    permission_checked: bool = False,
    deploy_round: int | None = None,
) -> None:
    """`wave_transition`, on the step's own locked rows when it holds them, with the next due
    time (unless KEEP) written in the same UPDATE. A step due at once is carried on with,
    under a lease taken in that UPDATE."""
    bookkeeping: dict[str, Any] = {} if deploy_round is None else {"deploy_round": deploy_round}
    at_once = isinstance(due, datetime) and due <= now
    if due is not KEEP:
        bookkeeping.update(next_step_at=due, kicked_at=now if at_once else None)
    moved = wave_transition(
        wave_id=wave.pk,
        to=to,
        actor=actor,
        reason=reason,
        now=now,
        permission_checked=permission_checked,
        locked=(release, wave) if locked and release is not None else None,
        bookkeeping=bookkeeping,
    )
    if moved is not wave:
        for name in ("state", "next_step_at", "kicked_at", "bake_started_at", "started_at"):
            setattr(wave, name, getattr(moved, name))
        wave.deploy_round = moved.deploy_round
    if at_once and moved.state not in ENDED_STATES:
        _carry_on(wave.pk)


def _try_start(wave: Wave, release: Release, now: datetime) -> str:
    reasons, recheck = start_blockers(wave, release, now)
    if reasons:
        only_planned = len(reasons) == 1 and reasons[0].startswith("Planned for")
        state = WaveState.SCHEDULED if only_planned else WaveState.WAITING
        _move(wave, release, state, "; ".join(reasons), now, locked=True, due=recheck)
        return state
    start_deploy(wave, release, now, locked=True)
    return "deploying"


def start_deploy(
    wave: Wave,
    release: Release,
    now: datetime,
    *,
    actor: Any = None,
    why: str = "",
    permission_checked: bool = False,
    locked: bool = False,
) -> None:
    """Enter deploying and hand the work to the wave's deployer (inside the caller's transaction).
    `locked`: `wave` and `release` are the rows the caller holds locked in it."""
    if wave.deployer == Deployer.WEBHOOK and not wave.environment.deploy_url:
        # Nothing was deployed, so nothing to roll back: halt until the URL is set and resumed.
        reason = f"{wave.environment.name} has no deploy URL for the webhook deployer"
        _move(wave, release, WaveState.HALTED, reason, now, locked=locked, due=None)
        _notify(release, "wave.halted", wave=wave, text=reason, locked=locked)
        return
    if wave.deployer == Deployer.MANUAL:
        reason = f"Waiting for an operator to confirm {wave.percentage}% is deployed to {wave.environment.name}"
        due = now + MANUAL_RECHECK
    elif wave.deployer == Deployer.WEBHOOK:
        reason = f"Deploying {wave.percentage}% to {wave.environment.name}"
        due = now + settings.RELEASEDECK_DEPLOY_TIMEOUT
    else:
        reason = f"Deploying {wave.percentage}% to {wave.environment.name}"
        due = now + settings.RELEASEDECK_SIMULATED_DEPLOY
    if why:  # an operator's "start now", with their reason
        reason = f"{why}. {reason}"
    _move(
        wave,
        release,
        WaveState.DEPLOYING,
        reason,
        now,
        locked=locked,
        due=due,
        actor=actor,
        permission_checked=permission_checked,
        deploy_round=wave.deploy_round + 1,
    )
    _notify(release, "wave.started", wave=wave, text=reason, locked=locked)
    if wave.deployer == Deployer.WEBHOOK:
        # The round is the wave's: a repeated step finds the wave deploying and never gets
        # here, and the unique constraint refuses a second call for the same round anyway.
        call = DeployCall.objects.create(
            wave=wave,
            action=DeployAction.DEPLOY,
            round=wave.deploy_round,
            key=uuid.uuid4(),
            next_attempt_at=now,
            deadline_at=due,
            reason=reason,
        )
        _enqueue_call(call.pk)


def _deploying(wave: Wave, release: Release, now: datetime) -> str:
    if wave.deployer == Deployer.SIMULATED:
        begin_verifying(wave, now, reason="Simulated deploy finished", release=release)
        return "verifying"
    if wave.deployer == Deployer.MANUAL:
        _set_due(wave, now + MANUAL_RECHECK)
        return "waiting for operator"
    call = (
        DeployCall.objects.filter(wave=wave, action=DeployAction.DEPLOY, round=wave.deploy_round)
        .order_by("-pk")
        .first()
    )
    if call is None:
        fail_wave(wave, release, now, "No deploy call was recorded for this wave", locked=True)
        return "failed"
    if call.state == CallState.SUCCEEDED:
        begin_verifying(
            wave,
            now,
            reason=f"Deploy tool reported success: {call.report_message}".rstrip(": "),
            release=release,
        )
        return "verifying"
    if call.state == CallState.FAILED:
        fail_wave(
            wave,
            release,
            now,
            f"Deploy failed: {call.report_message or call.last_error}",
            locked=True,
        )
        return "failed"
    deadline = call.deadline_at or call.created_at + settings.RELEASEDECK_DEPLOY_TIMEOUT
    if now >= deadline:
        fail_wave(
            wave,
            release,
            now,
            "The deploy tool did not report within the deploy timeout",
            locked=True,
        )
        return "failed"
    _set_due(wave, deadline)
    return "deploying"


def begin_verifying(
    wave: Wave, now: datetime, *, reason: str, actor: Any = None, release: Release | None = None
) -> None:
    """Enter verifying: checks start at once, the bake ends `bake_minutes` from now. With
    `release`, `wave` and it are the rows the caller holds locked."""
    due = now + timedelta(minutes=wave.bake_minutes)
    _move(
        wave,
        release,
        WaveState.VERIFYING,
        reason,
        now,
        locked=release is not None,
        due=due,
        actor=actor,
    )
    checks = list(Check.objects.filter(wave=wave))
    automatic = [check for check in checks if check.kind != CheckKind.MANUAL]
    if automatic:
        Check.objects.filter(pk__in=[c.pk for c in automatic]).update(
            next_run_at=now, consecutive_failures=0
        )
    for check in automatic:
        check.next_run_at, check.consecutive_failures = now, 0
        _enqueue_check(check.pk)
    # Checks change only under the release lock, which a step holding these rows keeps till
    # it commits: the next step in the same transaction may go on from this list.
    wave.checks_read = checks


def _verifying(wave: Wave, release: Release, now: datetime) -> tuple[str, Wave | None]:
    """What a verifying wave does next; with the wave after it, when this one succeeded."""
    checks = getattr(wave, "checks_read", None)
    if checks is None:
        checks = list(Check.objects.filter(wave=wave))
    for check in checks:
        if check.consecutive_failures >= check.failures_to_fail:
            last = CheckResult.objects.filter(wave_check=check).order_by("-at").first()
            seen = f" (last seen: {last.value}; {last.detail})" if last else ""
            fail_wave(
                wave,
                release,
                now,
                f"Check {check.name} failed {check.consecutive_failures} times in a row{seen}",
                locked=True,
            )
            return "failed", None
    bake_started = wave.bake_started_at or now
    bake_end = bake_started + timedelta(minutes=wave.bake_minutes)
    if now < bake_end:
        _set_due(wave, bake_end)
        return "baking", None
    waiting_for = []
    next_look = None
    for check in checks:
        last = (
            CheckResult.objects.filter(wave_check=check, at__gte=bake_started)
            .order_by("-at")
            .first()
        )
        if check.kind == CheckKind.MANUAL:
            if last is None or not last.ok:
                waiting_for.append(f"manual check {check.name}")
        elif last is None or not last.ok:
            waiting_for.append(f"check {check.name} to pass")
            next_look = min(
                filter(None, [next_look, check.next_run_at, now + settings.RELEASEDECK_RECHECK])
            )
    if waiting_for:
        # Looked at again when the next check result is in (not carried on with at once: a
        # check run has to record something first).
        wave_transition(
            wave_id=wave.pk,
            to=WaveState.VERIFYING,
            actor=None,
            reason="Bake time over; waiting for " + ", ".join(waiting_for),
            now=now,
            locked=(release, wave),
            bookkeeping={"next_step_at": next_look or now + MANUAL_RECHECK, "kicked_at": None},
        )
        return "waiting for checks", None
    reason = f"Baked {wave.bake_minutes} min; {len(checks)} check(s) passed"
    _move(wave, release, WaveState.SUCCEEDED, reason, now, locked=True)
    return "succeeded", arm_next(wave, now)


def arm_next(wave: Wave, now: datetime) -> Wave | None:
    """The wave is done: the plan's next wave, if it waits to start, is due now. Returns it,
    locked in the caller's transaction (which holds the release), as `_lock` would."""
    following = (
        _waves_locked()
        .filter(plan_id=wave.plan_id, position__gt=wave.position)
        .exclude(state__in=ENDED_STATES)
        .order_by("position")
        .first()
    )
    if following is None or following.state not in WAITING_STATES:
        return None
    Wave.objects.filter(pk=following.pk).update(next_step_at=now, kicked_at=now)
    following.next_step_at = following.kicked_at = now
    _carry_on(following.pk)
    return following


# --- failure ----------------------------------------------------------------------------------


def fail_wave(
    wave: Wave, release: Release, now: datetime, reason: str, *, locked: bool = False
) -> None:
    """Apply the wave's failure policy: halt for an operator, or roll the release back.
    `locked`: `wave` is the row the caller holds locked (the release always is)."""
    if wave.failure_policy == FailurePolicy.ROLLBACK:
        recent = auto_rollback_capped(release.pk, now)
        if recent is not None:
            reason = (
                f"{reason}. Automatic rollback not attempted: this release was rolled back "
                f"automatically {recent} time(s) in the last hour, the cap "
                "(RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR); an operator decides"
            )
        else:
            _move(wave, release, WaveState.FAILED, reason, now, locked=locked)
            roll_back_release(release, now, reason=f"Automatic rollback: {reason}", automatic=True)
            return
    _move(wave, release, WaveState.HALTED, reason, now, locked=locked, due=None)
    _notify(release, "wave.halted", wave=wave, text=reason, locked=locked)


# --- notifications ----------------------------------------------------------------------------


def _notify(
    release: Release,
    event: str,
    *,
    wave: Wave | None = None,
    text: str = "",
    locked: bool = False,
) -> None:
    """`locked`: the caller holds the rows locked and up to date, so what they say is true now."""
    from apps.notifications.outbox import notify

    if locked:
        notify(
            release=release,
            event=event,
            wave=wave,
            text=text,
            phase=release.phase,
            wave_state=wave.state if wave is not None else None,
        )
    else:
        notify(release=release, event=event, wave=wave, text=text)

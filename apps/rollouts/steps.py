"""The rollout engine's steps: read a wave's rows under lock, decide with the rules, write
through the writers, and say what should follow.

Every step locks the release row before the wave (the order all writers follow), re-reads the
state, and does nothing if the step is not due any more, so a duplicate message or a re-run
after a crash is harmless. Network I/O (deploy calls, checks) happens outside transactions:
a step records a call or a check run, which its own task claims after commit.

A step writes no due time itself: it returns an `Outcome` (when the wave is next due, which
wave comes next), and `follow` writes it through the queue. Steps of operators (`operations`)
and of the engine's runner (`runner`) follow alike.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User

from apps.releases import rules as release_rules
from apps.releases.models import Release

from . import calls, gates, queue
from .locking import LockedWave, lock, waves_locked
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
from .rules import ENDED_STATES, RUNNING_STATES, WAITING_STATES
from .transitions import wave_move
from .writes import Writes

# A wave waiting for a person (manual deploy or check) is looked at again this often anyway;
# the operator's action wakes it at once. No live wave is ever left without a due time.
MANUAL_RECHECK = timedelta(hours=1)


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()  # the wave's due time stays as it is


@dataclass(frozen=True)
class Outcome:
    """What a step did and what should follow: when this wave is next due (KEEP: as it is),
    and the plan's next wave when this one finished and that one may start now. `checks` are
    the wave's checks as the step read or wrote them, for the next step of its transaction."""

    did: str
    due: datetime | None | _Keep = KEEP
    next_wave: "LockedWave | None" = None
    checks: tuple[Check, ...] | None = None  # as the step read or wrote them


@dataclass(frozen=True)
class Rows:
    """Rows a step leaves locked and as the database holds them, in the transaction it ran
    in: the next step of that transaction may go on from them rather than read them again.
    `checks` are the wave's checks when the step read or wrote them (they change only under
    the release lock)."""

    release: Release
    wave: LockedWave
    checks: tuple[Check, ...] | None = None


@dataclass(frozen=True)
class StepResult:
    did: str
    due_now: tuple[int, ...] = ()  # waves whose step is due at once, leased to the caller
    rows: Rows | None = None


def follow(wave: Wave, outcome: Outcome, now: datetime) -> list[int]:
    """Write what `outcome` says should follow through the queue. Returns the waves whose
    step is due at once: their lease is the caller's, who runs them or sends them."""
    due_now: list[int] = []
    if not isinstance(outcome.due, _Keep):
        at_once = outcome.due is not None and outcome.due <= now
        if wave.state in ENDED_STATES:
            if wave.next_step_at is not None or wave.kicked_at is not None:
                queue.set_due(wave, None)
        else:
            queue.set_due(wave, outcome.due, leased_at=now if at_once else None)
            if at_once:
                due_now.append(wave.pk)
    if outcome.next_wave is not None:
        queue.set_due(outcome.next_wave, now, leased_at=now)
        due_now.append(outcome.next_wave.pk)
    return due_now


def follow_and_send(wave: Wave, outcome: Outcome, now: datetime) -> None:
    """`follow`, for a step taken outside the engine's run: what is due at once is sent."""
    for wave_id in follow(wave, outcome, now):
        queue.send_step(wave_id)


# --- the step ---------------------------------------------------------------------------------


def run_step(
    wave_id: int, now: datetime, *, held: Rows | None = None, writes: Writes | None = None
) -> StepResult:
    """One step of one wave, in the caller's transaction. `held` are rows an earlier step of
    that transaction left locked and current; `writes` where its events go."""
    writes = writes or Writes()
    if held is not None and held.wave.pk == wave_id:
        release, wave, checks = held.release, held.wave, held.checks
    else:
        locked = lock(wave_id, held.release if held is not None else None)
        if locked is None:
            return StepResult("gone")
        (release, wave), checks = locked, None
    rows = Rows(release, wave, checks)
    if wave.next_step_at is None or wave.next_step_at > now:
        return StepResult("not due", rows=rows)
    if wave.rollback_requested_at is not None and release.phase == release_rules.ROLLOUT:
        did, due = rollback_step(wave, release, now, writes)
        return StepResult(did, tuple(follow(wave, Outcome(did, due), now)))
    if (
        release.phase != release_rules.ROLLOUT
        or wave.state in ENDED_STATES
        or wave.state == WaveState.HALTED
        or wave.plan.rollback_requested_at is not None  # the release is being rolled back
    ):
        follow(wave, Outcome("idle", None), now)
        return StepResult("idle", rows=rows)
    if wave.behind:
        follow(wave, Outcome("not current", None), now)
        return StepResult("not current", rows=rows)
    halt_why = gates.halt_reason(wave, now) if wave.state in RUNNING_STATES else None
    if halt_why is not None:
        outcome = halt_running(wave, release, now, writes, halt_why)
    elif wave.state in WAITING_STATES:
        outcome = try_start(wave, release, now, writes)
    elif wave.state == WaveState.DEPLOYING:
        outcome = deploying(wave, release, now, writes)
    elif wave.state == WaveState.VERIFYING:
        outcome = verifying(wave, release, now, writes, checks)
    else:
        return StepResult("idle", rows=rows)
    due_now = tuple(follow(wave, outcome, now))
    if outcome.next_wave is not None:  # locked with its release: most likely the next step
        return StepResult(outcome.did, due_now, Rows(release, outcome.next_wave))
    if outcome.did in ("deploying", "verifying", "succeeded"):
        # Changed only through the writers on these very rows: they are what the database holds.
        return StepResult(outcome.did, due_now, Rows(release, wave, outcome.checks))
    return StepResult(outcome.did, due_now)


def halt_running(
    wave: Wave, release: Release, now: datetime, writes: Writes, reason: str
) -> Outcome:
    """Halt a running wave at this step boundary for an operator (a freeze now covers it)."""
    wave_move(
        release, wave, WaveState.HALTED, actor=None, reason=reason, now=now, batch=writes.batch
    )
    writes.notify(release, "wave.halted", wave=wave, text=reason)
    return Outcome("halted", None)


def try_start(wave: Wave, release: Release, now: datetime, writes: Writes) -> Outcome:
    blockers, recheck = gates.start_blockers(
        wave, release, now, batch=writes.batch, sends=writes.sends
    )
    if blockers:
        planned_only = all(b.code == gates.PLANNED_LATER for b in blockers)
        state = WaveState.SCHEDULED if planned_only else WaveState.WAITING
        reason = "; ".join(b.message for b in blockers)
        wave_move(release, wave, state, actor=None, reason=reason, now=now, batch=writes.batch)
        return Outcome(state, recheck)
    return start_deploy(wave, release, now, writes)


def start_deploy(
    wave: Wave,
    release: Release,
    now: datetime,
    writes: Writes,
    *,
    actor: User | None = None,
    why: str = "",
) -> Outcome:
    """Enter deploying and hand the work to the wave's deployer, in the caller's transaction,
    which holds `release` and `wave` locked."""
    if wave.deployer == Deployer.WEBHOOK and not wave.environment.deploy_url:
        # Nothing was deployed, so nothing to roll back: halt until the URL is set and resumed.
        reason = f"{wave.environment.name} has no deploy URL for the webhook deployer"
        wave_move(
            release, wave, WaveState.HALTED, actor=None, reason=reason, now=now, batch=writes.batch
        )
        writes.notify(release, "wave.halted", wave=wave, text=reason)
        return Outcome("halted", None)
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
    wave_move(
        release, wave, WaveState.DEPLOYING, actor=actor, reason=reason, now=now, batch=writes.batch
    )
    writes.notify(release, "wave.started", wave=wave, text=reason)
    if wave.deployer == Deployer.WEBHOOK:
        # The round is the wave's: a repeated step finds the wave deploying and never gets
        # here, and the unique constraint refuses a second call for the same round anyway.
        calls.call_open(
            wave, DeployAction.DEPLOY, wave.deploy_round, now=now, deadline=due, reason=reason
        )
    return Outcome("deploying", due)


def deploying(wave: Wave, release: Release, now: datetime, writes: Writes) -> Outcome:
    if wave.deployer == Deployer.SIMULATED:
        return begin_verifying(wave, release, now, writes, reason="Simulated deploy finished")
    if wave.deployer == Deployer.MANUAL:
        return Outcome("waiting for operator", now + MANUAL_RECHECK)
    call = (
        DeployCall.objects.filter(wave=wave, action=DeployAction.DEPLOY, round=wave.deploy_round)
        .order_by("-pk")
        .first()
    )
    if call is None:
        return fail_wave(wave, release, now, writes, "No deploy call was recorded for this wave")
    if call.state == CallState.SUCCEEDED:
        said = f"Deploy tool reported success: {call.report_message}".rstrip(": ")
        return begin_verifying(wave, release, now, writes, reason=said)
    if call.state == CallState.FAILED:
        why = f"Deploy failed: {call.report_message or call.last_error}"
        return fail_wave(wave, release, now, writes, why)
    deadline = call.deadline_at or call.created_at + settings.RELEASEDECK_DEPLOY_TIMEOUT
    if now >= deadline:
        why = "The deploy tool did not report within the deploy timeout"
        return fail_wave(wave, release, now, writes, why)
    return Outcome("deploying", deadline)


def begin_verifying(
    wave: Wave,
    release: Release,
    now: datetime,
    writes: Writes,
    *,
    reason: str,
    actor: User | None = None,
) -> Outcome:
    """Enter verifying: checks start at once, the bake ends `bake_minutes` from now."""
    wave_move(
        release, wave, WaveState.VERIFYING, actor=actor, reason=reason, now=now, batch=writes.batch
    )
    checks = tuple(Check.objects.filter(wave=wave))
    automatic = [check for check in checks if check.kind != CheckKind.MANUAL]
    if automatic:
        Check.objects.filter(pk__in=[c.pk for c in automatic]).update(
            next_run_at=now, consecutive_failures=0
        )
    for check in automatic:
        check.next_run_at, check.consecutive_failures = now, 0
        queue.send_check(check.pk)
    return Outcome("verifying", now + timedelta(minutes=wave.bake_minutes), checks=checks)


def verifying(
    wave: Wave,
    release: Release,
    now: datetime,
    writes: Writes,
    checks: tuple[Check, ...] | None,
) -> Outcome:
    """What a verifying wave does next; the plan's next wave comes with it when it succeeded."""
    if checks is None:
        checks = tuple(Check.objects.filter(wave=wave))
    for check in checks:
        if check.consecutive_failures >= check.failures_to_fail:
            last = CheckResult.objects.filter(wave_check=check).order_by("-at").first()
            seen = f" (last seen: {last.value}; {last.detail})" if last else ""
            why = f"Check {check.name} failed {check.consecutive_failures} times in a row{seen}"
            return fail_wave(wave, release, now, writes, why)
    bake_started = wave.bake_started_at or now
    bake_end = bake_started + timedelta(minutes=wave.bake_minutes)
    if now < bake_end:
        return Outcome("baking", bake_end, checks=checks)
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
        reason = "Bake time over; waiting for " + ", ".join(waiting_for)
        wave_move(
            release,
            wave,
            WaveState.VERIFYING,
            actor=None,
            reason=reason,
            now=now,
            batch=writes.batch,
        )
        return Outcome("waiting for checks", next_look or now + MANUAL_RECHECK, checks=checks)
    reason = f"Baked {wave.bake_minutes} min; {len(checks)} check(s) passed"
    wave_move(
        release, wave, WaveState.SUCCEEDED, actor=None, reason=reason, now=now, batch=writes.batch
    )
    return Outcome("succeeded", None, next_wave(wave), checks=checks)


def next_wave(wave: Wave) -> "LockedWave | None":
    """The wave is done: the plan's next wave, if it waits to start, locked in the caller's
    transaction (which holds the release)."""
    following = (
        waves_locked()
        .filter(plan_id=wave.plan_id, position__gt=wave.position)
        .exclude(state__in=ENDED_STATES)
        .order_by("position")
        .first()
    )
    if following is None or following.state not in WAITING_STATES:
        return None
    return following


def fail_wave(wave: Wave, release: Release, now: datetime, writes: Writes, reason: str) -> Outcome:
    """Apply the wave's failure policy: halt for an operator, or roll the release back."""
    if wave.failure_policy == FailurePolicy.ROLLBACK:
        recent = auto_rollback_capped(release.pk, now)
        if recent is not None:
            reason = (
                f"{reason}. Automatic rollback not attempted: this release was rolled back "
                f"automatically {recent} time(s) in the last hour, the cap "
                "(RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR); an operator decides"
            )
        else:
            wave_move(
                release,
                wave,
                WaveState.FAILED,
                actor=None,
                reason=reason,
                now=now,
                batch=writes.batch,
            )
            roll_back_release(
                release, now, reason=f"Automatic rollback: {reason}", automatic=True, writes=writes
            )
            return Outcome("failed")
    wave_move(
        release, wave, WaveState.HALTED, actor=None, reason=reason, now=now, batch=writes.batch
    )
    writes.notify(release, "wave.halted", wave=wave, text=reason)
    return Outcome("failed", None)

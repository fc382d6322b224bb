"""The rollout engine: due times live in rows; a tick finds what is due; small steps act.

Every step locks the release row before the wave (the order all writers follow), re-reads the
state, and does nothing if the step is not due any more, so a duplicate message or a re-run
after a crash is harmless. Network I/O (deploy calls, checks) happens outside transactions:
a step claims its row, commits, talks to the network, then records the outcome.
"""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments.models import DeploymentWindow, FreezeWindow, StopTheLine
from apps.releases import rules as release_rules
from apps.releases.models import Release
from apps.releases.services import record_change, release_move
from apps.signoffs.models import SignOff, SignoffRequirement

from . import scheduling
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
from .services import wave_transition

log = logging.getLogger(__name__)

WAITING_STATES = frozenset({WaveState.PENDING, WaveState.SCHEDULED, WaveState.WAITING})
DONE_STATES = frozenset({WaveState.SUCCEEDED, WaveState.SKIPPED})
# A wave waiting for a person (manual deploy or check) is looked at again this often anyway;
# the operator's action wakes it at once. No live wave is ever left without a due time.
MANUAL_RECHECK = timedelta(hours=1)
ENDED_STATES = frozenset(
    {WaveState.SUCCEEDED, WaveState.SKIPPED, WaveState.FAILED, WaveState.ROLLED_BACK}
)


# --- enqueueing -----------------------------------------------------------------------------


def kick_wave(wave_id: int) -> None:
    """Run a wave's step as soon as the current transaction commits."""
    from .tasks import wave_step

    transaction.on_commit(lambda: wave_step.delay(wave_id))


def _enqueue_call(call_id: int) -> None:
    from .tasks import deploy_call_send

    transaction.on_commit(lambda: deploy_call_send.delay(call_id))


def _enqueue_check(check_id: int) -> None:
    from .tasks import check_run

    transaction.on_commit(lambda: check_run.delay(check_id))


def wake_wave(wave: Wave) -> None:
    """Something a waiting wave waits for has changed: look again right after commit."""
    if wave.state in WAITING_STATES:
        _set_due(wave, timezone.now())
        kick_wave(wave.pk)


def wake_waiting_waves() -> None:
    """Every wave waiting to start looks again right after commit (calendars changed)."""
    now = timezone.now()
    waiting = Wave.objects.filter(
        state__in=WAITING_STATES,
        next_step_at__isnull=False,
        plan__release__phase=release_rules.ROLLOUT,
    )
    ids = list(waiting.values_list("pk", flat=True))
    Wave.objects.filter(pk__in=ids).update(next_step_at=now)
    for wave_id in ids:
        kick_wave(wave_id)


def _set_due(wave: Wave, when: datetime | None) -> None:
    # A step has run, so no enqueued message is outstanding: the tick may send the next at once.
    Wave.objects.filter(pk=wave.pk).update(next_step_at=when, kicked_at=None)
    wave.next_step_at = when


# --- the tick -------------------------------------------------------------------------------


def rollouts_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Arm the current wave of every rolling-out release that has nothing due (a release that
    just entered rollout, or a step whose row was left without a due time), and enqueue every
    due step."""
    now = now or timezone.now()
    counts = {"armed": 0, "waves": 0, "calls": 0, "checks": 0}
    # Arm: the first unfinished wave of each release in rollout, if nothing is due for it yet.
    seen_plans: set[int] = set()
    for wave_id, plan_id, state, due in (
        Wave.objects.filter(plan__release__phase=release_rules.ROLLOUT)
        .exclude(state__in=DONE_STATES)
        .order_by("plan_id", "position")
        .values_list("pk", "plan_id", "state", "next_step_at")
    ):
        if plan_id in seen_plans:
            continue
        seen_plans.add(plan_id)
        if due is None and state != WaveState.HALTED and state not in ENDED_STATES:
            if Wave.objects.filter(pk=wave_id, next_step_at__isnull=True).update(next_step_at=now):
                counts["armed"] += 1
    due_waves = Wave.objects.filter(
        next_step_at__lte=now, plan__release__phase=release_rules.ROLLOUT
    ).exclude(state__in=ENDED_STATES | {WaveState.HALTED})
    unleased = Q(kicked_at__isnull=True) | Q(kicked_at__lt=now - settings.RELEASEDECK_STEP_LEASE)
    for wave_id in due_waves.filter(unleased).values_list("pk", flat=True):
        # Compare-and-set: of two overlapping ticks only one enqueues the step.
        if Wave.objects.filter(unleased, pk=wave_id).update(kicked_at=now):
            kick_wave(wave_id)
            counts["waves"] += 1
    # Creation order, so re-found rollback calls still go out newest wave first.
    for call_id in (
        DeployCall.objects.filter(state=CallState.PENDING, next_attempt_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        _enqueue_call(call_id)
        counts["calls"] += 1
    for check_id in (
        Check.objects.filter(next_run_at__lte=now, wave__state=WaveState.VERIFYING)
        .exclude(kind=CheckKind.MANUAL)
        .values_list("pk", flat=True)
    ):
        _enqueue_check(check_id)
        counts["checks"] += 1
    return counts


# --- what may start when --------------------------------------------------------------------


def calendar_for(environment: Any, now: datetime) -> scheduling.Calendar:
    """The environment's windows and the freezes that cover it (its own, its region's, global)."""
    windows = tuple(
        scheduling.Window(frozenset(w.weekdays), w.start_time, w.end_time)
        for w in DeploymentWindow.objects.filter(environment=environment)
    )
    scope = Q(scope="global") | Q(scope="environment", environment=environment)
    if environment.region:
        scope |= Q(scope="region", region=environment.region)
    freezes = tuple(
        scheduling.Freeze(f.start, f.end, f.reason)
        for f in FreezeWindow.objects.filter(scope, end__gt=now)
    )
    return scheduling.Calendar(environment.name, environment.time_zone, windows, freezes)


def wave_signoff_missing(wave: Wave, release: Release) -> list[str]:
    """What a wave's own sign-off requirement still lacks, as sentences; empty when met."""
    requirements = list(SignoffRequirement.objects.filter(wave=wave).select_related("role"))
    if not requirements:
        return []
    verdicts = list(
        SignOff.objects.filter(wave=wave, fingerprint=release.fingerprint).values_list(
            "role__slug", "decision"
        )
    )
    missing = []
    if any(decision == "reject" for _, decision in verdicts):
        missing.append(f"{wave.name}: a stakeholder rejected this wave")
    for requirement in requirements:
        approvals = sum(
            1
            for role, decision in verdicts
            if role == requirement.role.slug and decision == "approve"
        )
        if approvals < requirement.count:
            missing.append(
                f"{wave.name}: needs {requirement.count - approvals} more approval(s) from "
                f"{requirement.role.slug} before it starts"
            )
    return missing


def start_blockers(
    wave: Wave, release: Release, now: datetime
) -> tuple[list[str], datetime | None]:
    """Why the wave cannot start now, and when to look again (None: when something changes)."""
    stop = StopTheLine.objects.filter(pk=1, active=True).first()
    if stop is not None:
        return [
            f"Stop the line is on: {stop.reason or 'no reason given'}"
        ], now + settings.RELEASEDECK_RECHECK
    missing = wave_signoff_missing(wave, release)
    if missing:
        return missing, now + settings.RELEASEDECK_RECHECK
    not_before = max(now, wave.planned_start) if wave.planned_start else now
    slot = scheduling.earliest_start(not_before, calendar_for(wave.environment, now))
    if slot.at is None:
        return list(slot.reasons), now + timedelta(hours=1)
    if slot.at > now:
        reasons = list(slot.reasons) or [
            f"Planned for {scheduling.describe(slot.at, wave.environment.time_zone)}"
        ]
        return reasons, slot.at
    return [], None


# --- the wave step --------------------------------------------------------------------------


def _lock(wave_id: int) -> tuple[Release, Wave] | None:
    release_id = Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
    if release_id is None:
        return None
    release = Release.objects.select_for_update().get(pk=release_id)
    wave = (
        Wave.objects.select_for_update(of=("self",))
        .select_related("environment", "plan")
        .get(pk=wave_id)
    )
    return release, wave


def is_current(wave: Wave) -> bool:
    """Waves run one after another: every earlier wave has succeeded or was skipped."""
    return not (
        Wave.objects.filter(plan_id=wave.plan_id, position__lt=wave.position)
        .exclude(state__in=DONE_STATES)
        .exists()
    )


def wave_step(*, wave_id: int, now: datetime | None = None) -> str:
    """Advance one wave as far as it can go now; returns what it did, for logs and tests."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(wave_id)
        if locked is None:
            return "gone"
        release, wave = locked
        if wave.next_step_at is None or wave.next_step_at > now:
            return "not due"
        if (
            release.phase != release_rules.ROLLOUT
            or wave.state in ENDED_STATES
            or wave.state == WaveState.HALTED
        ):
            _set_due(wave, None)
            return "idle"
        if not is_current(wave):
            _set_due(wave, None)
            return "not current"
        if wave.state in WAITING_STATES:
            return _try_start(wave, release, now)
        if wave.state == WaveState.DEPLOYING:
            return _deploying(wave, release, now)
        if wave.state == WaveState.VERIFYING:
            return _verifying(wave, release, now)
    return "idle"


def _try_start(wave: Wave, release: Release, now: datetime) -> str:
    reasons, recheck = start_blockers(wave, release, now)
    if reasons:
        only_planned = len(reasons) == 1 and reasons[0].startswith("Planned for")
        state = WaveState.SCHEDULED if only_planned else WaveState.WAITING
        wave_transition(wave_id=wave.pk, to=state, actor=None, reason="; ".join(reasons), now=now)
        _set_due(wave, recheck)
        return state
    start_deploy(wave, release, now)
    return "deploying"


def start_deploy(
    wave: Wave,
    release: Release,
    now: datetime,
    *,
    actor: Any = None,
    why: str = "",
    permission_checked: bool = False,
) -> None:
    """Enter deploying and hand the work to the wave's deployer (inside the caller's transaction)."""
    if wave.deployer == Deployer.WEBHOOK and not wave.environment.deploy_url:
        # Nothing was deployed, so nothing to roll back: halt until the URL is set and resumed.
        reason = f"{wave.environment.name} has no deploy URL for the webhook deployer"
        wave_transition(wave_id=wave.pk, to=WaveState.HALTED, actor=None, reason=reason, now=now)
        _set_due(wave, None)
        _notify(release, "wave.halted", wave=wave, text=reason)
        return
    wave.deploy_round += 1
    Wave.objects.filter(pk=wave.pk).update(deploy_round=wave.deploy_round)
    if wave.deployer == Deployer.MANUAL:
        reason = f"Waiting for an operator to confirm {wave.percentage}% is deployed to {wave.environment.name}"
    else:
        reason = f"Deploying {wave.percentage}% to {wave.environment.name}"
    if why:  # an operator's "start now", with their reason
        reason = f"{why}. {reason}"
    wave_transition(
        wave_id=wave.pk,
        to=WaveState.DEPLOYING,
        actor=actor,
        reason=reason,
        now=now,
        permission_checked=permission_checked,
    )
    _notify(release, "wave.started", wave=wave, text=reason)
    if wave.deployer == Deployer.SIMULATED:
        _set_due(wave, now + settings.RELEASEDECK_SIMULATED_DEPLOY)
        if not settings.RELEASEDECK_SIMULATED_DEPLOY:
            kick_wave(wave.pk)
    elif wave.deployer == Deployer.WEBHOOK:
        call = DeployCall.objects.create(
            wave=wave,
            action=DeployAction.DEPLOY,
            round=wave.deploy_round,
            key=uuid.uuid4(),
            next_attempt_at=now,
        )
        _enqueue_call(call.pk)
        _set_due(wave, now + settings.RELEASEDECK_DEPLOY_TIMEOUT)
    else:
        _set_due(wave, now + MANUAL_RECHECK)


def _deploying(wave: Wave, release: Release, now: datetime) -> str:
    if wave.deployer == Deployer.SIMULATED:
        begin_verifying(wave, now, reason="Simulated deploy finished")
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
        fail_wave(wave, release, now, "No deploy call was recorded for this wave")
        return "failed"
    if call.state == CallState.SUCCEEDED:
        begin_verifying(
            wave, now, reason=f"Deploy tool reported success: {call.report_message}".rstrip(": ")
        )
        return "verifying"
    if call.state == CallState.FAILED:
        fail_wave(wave, release, now, f"Deploy failed: {call.report_message or call.last_error}")
        return "failed"
    deadline = call.created_at + settings.RELEASEDECK_DEPLOY_TIMEOUT
    if now >= deadline:
        fail_wave(wave, release, now, "The deploy tool did not report within the deploy timeout")
        return "failed"
    _set_due(wave, deadline)
    return "deploying"


def begin_verifying(wave: Wave, now: datetime, *, reason: str, actor: Any = None) -> None:
    wave_transition(wave_id=wave.pk, to=WaveState.VERIFYING, actor=actor, reason=reason, now=now)
    wave.refresh_from_db(fields=["bake_started_at", "state"])
    automatic = Check.objects.filter(wave=wave).exclude(kind=CheckKind.MANUAL)
    automatic.update(next_run_at=now, consecutive_failures=0)
    for check_id in automatic.values_list("pk", flat=True):
        _enqueue_check(check_id)
    _set_due(wave, now + timedelta(minutes=wave.bake_minutes))
    if not wave.bake_minutes:
        kick_wave(wave.pk)


def _verifying(wave: Wave, release: Release, now: datetime) -> str:
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
            )
            return "failed"
    bake_started = wave.bake_started_at or now
    bake_end = bake_started + timedelta(minutes=wave.bake_minutes)
    if now < bake_end:
        _set_due(wave, bake_end)
        return "baking"
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
        wave_transition(
            wave_id=wave.pk,
            to=WaveState.VERIFYING,
            actor=None,
            reason="Bake time over; waiting for " + ", ".join(waiting_for),
            now=now,
        )
        _set_due(wave, next_look or now + MANUAL_RECHECK)
        return "waiting for checks"
    wave_transition(
        wave_id=wave.pk,
        to=WaveState.SUCCEEDED,
        actor=None,
        reason=f"Baked {wave.bake_minutes} min; {len(checks)} check(s) passed",
        now=now,
    )
    arm_next(wave, now)
    return "succeeded"


def arm_next(wave: Wave, now: datetime) -> None:
    following = (
        Wave.objects.filter(plan_id=wave.plan_id, position__gt=wave.position)
        .exclude(state__in=ENDED_STATES)
        .order_by("position")
        .first()
    )
    if following is not None and following.state in WAITING_STATES:
        _set_due(following, now)
        kick_wave(following.pk)


# --- failure ----------------------------------------------------------------------------------


def fail_wave(wave: Wave, release: Release, now: datetime, reason: str) -> None:
    """Apply the wave's failure policy: halt for an operator, or roll the release back."""
    if wave.failure_policy == FailurePolicy.ROLLBACK:
        recent = AuditEvent.objects.filter(
            verb="rollout.auto_rollback", at__gte=now - timedelta(hours=1)
        ).count()
        if recent >= settings.RELEASEDECK_MAX_AUTO_ROLLBACKS_PER_HOUR:
            reason = (
                f"{reason}. Automatic rollback not attempted: {recent} in the last hour "
                "reached the cap; an operator decides"
            )
        else:
            wave_transition(
                wave_id=wave.pk, to=WaveState.FAILED, actor=None, reason=reason, now=now
            )
            roll_back_release(release, now, reason=f"Automatic rollback: {reason}", automatic=True)
            return
    wave_transition(wave_id=wave.pk, to=WaveState.HALTED, actor=None, reason=reason, now=now)
    _set_due(wave, None)
    _notify(release, "wave.halted", wave=wave, text=reason)


def roll_back_wave(wave: Wave, now: datetime, *, reason: str, actor: Any = None) -> None:
    """Ask the deployer to undo a deployed wave and mark it rolled back (idempotent)."""
    if wave.state == WaveState.ROLLED_BACK:
        return
    if wave.deployer == Deployer.WEBHOOK and wave.started_at is not None:
        call, created = DeployCall.objects.get_or_create(
            wave=wave,
            action=DeployAction.ROLLBACK,
            round=max(wave.deploy_round, 1),
            defaults={"key": uuid.uuid4(), "next_attempt_at": now},
        )
        if created:
            _enqueue_call(call.pk)
    wave_transition(wave_id=wave.pk, to=WaveState.ROLLED_BACK, actor=actor, reason=reason, now=now)


def roll_back_release(release: Release, now: datetime, *, reason: str, automatic: bool) -> None:
    """Undo every wave already deployed, newest first, and end the release as rolled back."""
    deployed = (
        Wave.objects.select_for_update(of=("self",))
        .filter(plan__release=release, started_at__isnull=False)
        .exclude(state__in=[WaveState.ROLLED_BACK, WaveState.SKIPPED])
        .select_related("environment")
        .order_by("-position")
    )
    names = []
    for wave in deployed:
        roll_back_wave(wave, now, reason=reason)
        names.append(wave.name)
    record_change(
        release_id=release.pk,
        actor=None,
        verb="rollout.auto_rollback" if automatic else "rollout.rollback",
        obj=release,
        after={"waves_rolled_back": names},
        reason=reason,
    )
    release_move(
        release_id=release.pk, to=release_rules.ROLLED_BACK, actor=None, reason=reason[:2000]
    )
    _notify(release, "release.rolled_back", text=reason)


# --- notifications ----------------------------------------------------------------------------


def _notify(release: Release, event: str, *, wave: Wave | None = None, text: str = "") -> None:
    from apps.notifications.outbox import notify

    notify(release=release, event=event, wave=wave, text=text)

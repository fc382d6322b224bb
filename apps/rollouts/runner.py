"""The engine's runner: the tick that re-finds due work, and `wave_run`, which takes a wave's
step and carries on in the same task with the steps that became due at once."""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import AuditBatch
from apps.notifications.outbox import Sends
from apps.releases import rules as release_rules

from . import gates, queue, steps
from .models import CallState, Check, CheckKind, DeployCall, Wave, WaveState
from .rules import DONE_STATES, ENDED_STATES

# How far one task carries on with steps that are due at once before it queues the rest, so
# that one release with many waves cannot hold a worker.
RUN_MAX_STEPS = 48
RUN_MAX_SECONDS = 1.0
# Steps carried on with share a transaction up to this many, or this long: one commit, one
# append to the audit chain, and the release row stays locked no longer than that.
RUN_COMMIT_EVERY = 24
RUN_COMMIT_SECONDS = 0.25


def wave_step(*, wave_id: int, now: datetime | None = None) -> str:
    """Advance one wave by one step, in a transaction of its own, and send what became due
    at once; returns what it did, for logs and tests."""
    with transaction.atomic():
        result = steps.run_step(wave_id, now or timezone.now())
        for due in result.due_now:
            queue.send_step(due)
    return result.did


def wave_run(
    *,
    wave_id: int,
    max_steps: int = RUN_MAX_STEPS,
    max_seconds: float = RUN_MAX_SECONDS,
    commit_every: int = RUN_COMMIT_EVERY,
) -> list[str]:
    """Step a wave, then carry on in this task while its release's next step is due at once.
    Each step re-reads its rows under lock unless the step before it in the same transaction
    left them locked and current. Up to `commit_every` steps (RUN_COMMIT_SECONDS at most)
    share a transaction, whose audit events join the chain together just before it commits;
    the notifications of the whole run are sent by tasks published as it ends. Past
    `max_steps` or `max_seconds` what is still due goes back to the queue (its lease was
    taken with the step that made it due). Returns what each step did."""
    started = time.monotonic()
    done: list[str] = []
    todo = [wave_id]
    sends = Sends()

    def spent() -> bool:
        return len(done) >= max_steps or time.monotonic() - started >= max_seconds

    while todo and not spent():
        batch = AuditBatch()
        writes = steps.Writes(batch=batch, sends=sends)
        with transaction.atomic():
            held = None
            opened = time.monotonic()
            for _ in range(commit_every):
                result = steps.run_step(todo.pop(0), timezone.now(), held=held, writes=writes)
                held = result.rows
                done.append(result.did)
                todo += result.due_now
                if not todo or spent() or time.monotonic() - opened >= RUN_COMMIT_SECONDS:
                    break
            batch.flush()
    sends.publish()
    queue.send_steps_now(todo)
    return done


def rollouts_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Arm the current wave of every rolling-out release that has nothing due (a release that
    just entered rollout, or a step whose row was left without a due time), and send every
    due step, deploy call and check."""
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
            counts["armed"] += queue.arm(wave_id, now)
    # Running waves a halting freeze now covers halt at their next step: make it due now.
    frozen = queue.due_now(gates.frozen_running(now).exclude(next_step_at__lte=now), now)
    # A wave whose rollback is pending has a step to take whatever its state.
    due_waves = Wave.objects.filter(
        Q(rollback_requested_at__isnull=False) | ~Q(state__in=ENDED_STATES | {WaveState.HALTED}),
        next_step_at__lte=now,
        plan__release__phase=release_rules.ROLLOUT,
    )
    counts["waves"] = frozen + queue.lease_due(due_waves, now)
    # Creation order, so re-found rollback calls still go out newest wave first. A call being
    # sent is sent again only once its attempt's time is up (its worker died).
    for call_id in (
        DeployCall.objects.filter(
            Q(state=CallState.PENDING, next_attempt_at__lte=now)
            | Q(state=CallState.SENDING, attempt_started_at__lte=queue.attempt_expired_before(now))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        queue.send_call(call_id)
        counts["calls"] += 1
    # Checks due before the next tick go out now, each held until its own time: a check runs
    # at its interval, not at the tick's. A run that already has its message is not harmed by
    # a second one (the claim lets one through).
    soon = now + timedelta(seconds=settings.RELEASEDECK_TICK_SECONDS)
    for check_id, due in (
        Check.objects.filter(
            next_run_at__lte=soon,
            wave__state=WaveState.VERIFYING,
            wave__rollback_requested_at__isnull=True,
        )
        .exclude(kind=CheckKind.MANUAL)
        .values_list("pk", "next_run_at")
    ):
        queue.send_check(check_id, at=due if due is not None and due > now else None)
        counts["checks"] += 1
    return counts

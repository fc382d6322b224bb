"""How due steps reach a worker: messages sent after commit under a lease (`kicked_at`), the
tick that re-finds due rows, and `wave_run`, which carries on with steps due at once.

The database holds every due time; a message only says "look now". A wave whose message is
probably still queued, or whose step a running task carries on with, has a lease, and the
tick sends it again only once the lease runs out (a lost message, a killed worker).
"""

import time
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.releases import rules as release_rules

from .models import CallState, Check, CheckKind, DeployCall, Wave, WaveState
from .rules import DONE_STATES, ENDED_STATES, WAITING_STATES

# How far one task carries on with steps that are due at once before it queues the rest, so
# that one release with many waves cannot hold a worker.
RUN_MAX_STEPS = 48
RUN_MAX_SECONDS = 1.0
# Steps carried on with share a transaction up to this many, or this long: one commit, one
# append to the audit chain, and the release row stays locked no longer than that.
RUN_COMMIT_EVERY = 24
RUN_COMMIT_SECONDS = 0.25
ATTEMPT_MARGIN = timedelta(seconds=5)

# While a task runs `wave_run`, the waves whose next step became due at once, in order.
_carried: ContextVar[list[int] | None] = ContextVar("carried", default=None)


# --- enqueueing -----------------------------------------------------------------------------


def kick_wave(wave_id: int) -> None:
    """Run a wave's step as soon as the current transaction commits."""
    from .tasks import wave_step

    transaction.on_commit(lambda: wave_step.delay(wave_id))


def carry_on(wave_id: int) -> None:
    """The wave's next step is due now and its lease is taken: the running `wave_run` takes it
    next (or queues it when out of budget), or else a message sent after commit does."""
    carried = _carried.get()
    if carried is None:
        kick_wave(wave_id)
    else:
        carried.append(wave_id)


def step_soon(wave: Wave | int, now: datetime | None = None) -> None:
    """Make the wave's step due now and send it after commit, leased so the tick does not send
    a second one while this one is queued (a lost one is re-sent once the lease runs out)."""
    now = now or timezone.now()
    wave_id = wave if isinstance(wave, int) else wave.pk
    Wave.objects.filter(pk=wave_id).update(next_step_at=now, kicked_at=now)
    if not isinstance(wave, int):
        wave.next_step_at, wave.kicked_at = now, now
    kick_wave(wave_id)


def enqueue_call(call_id: int) -> None:
    from .tasks import deploy_call_send

    transaction.on_commit(lambda: deploy_call_send.delay(call_id))


def enqueue_check(check_id: int, *, at: datetime | None = None) -> None:
    """Run the check after commit, or at `at` (a message held by the worker until then)."""
    from .tasks import check_run

    if at is None:
        transaction.on_commit(lambda: check_run.delay(check_id))
    else:
        transaction.on_commit(lambda: check_run.apply_async((check_id,), eta=at))


def wake_wave(wave: Wave) -> None:
    """Something a waiting wave waits for has changed: look again right after commit."""
    if wave.state in WAITING_STATES:
        step_soon(wave)


def wake_waiting_waves() -> None:
    """Every wave waiting to start looks again right after commit (calendars changed)."""
    now = timezone.now()
    waiting = Wave.objects.filter(
        state__in=WAITING_STATES,
        next_step_at__isnull=False,
        plan__release__phase=release_rules.ROLLOUT,
    )
    ids = list(waiting.values_list("pk", flat=True))
    Wave.objects.filter(pk__in=ids).update(next_step_at=now, kicked_at=now)
    for wave_id in ids:
        kick_wave(wave_id)


def attempt_expired_before(now: datetime) -> datetime:
    """A deploy call's attempt claimed before this has outlived its HTTP timeout (connect and
    read may each take it) with margin: the worker that claimed it is gone, another may try."""
    return now - timedelta(seconds=2 * settings.RELEASEDECK_HTTP_TIMEOUT) - ATTEMPT_MARGIN


def set_due(wave: Wave, when: datetime | None) -> None:
    # A step has run, so no enqueued message is outstanding: the tick may send the next at once.
    Wave.objects.filter(pk=wave.pk).update(next_step_at=when, kicked_at=None)
    wave.next_step_at, wave.kicked_at = when, None


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
    # A wave whose rollback is pending has a step to take whatever its state.
    due_waves = Wave.objects.filter(
        Q(rollback_requested_at__isnull=False) | ~Q(state__in=ENDED_STATES | {WaveState.HALTED}),
        next_step_at__lte=now,
        plan__release__phase=release_rules.ROLLOUT,
    )
    unleased = Q(kicked_at__isnull=True) | Q(kicked_at__lt=now - settings.RELEASEDECK_STEP_LEASE)
    for wave_id in due_waves.filter(unleased).values_list("pk", flat=True):
        # Compare-and-set: of two overlapping ticks only one enqueues the step.
        if Wave.objects.filter(unleased, pk=wave_id).update(kicked_at=now):
            kick_wave(wave_id)
            counts["waves"] += 1
    # Creation order, so re-found rollback calls still go out newest wave first. A call being
    # sent is sent again only once its attempt's time is up (its worker died).
    for call_id in (
        DeployCall.objects.filter(
            Q(state=CallState.PENDING, next_attempt_at__lte=now)
            | Q(state=CallState.SENDING, attempt_started_at__lte=attempt_expired_before(now))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        enqueue_call(call_id)
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
        enqueue_check(check_id, at=due if due > now else None)
        counts["checks"] += 1
    return counts


# --- carrying on -----------------------------------------------------------------------------


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
    share a transaction, whose audit events join the chain together and whose notifications
    are inserted together just before it commits. Past `max_steps` or `max_seconds`
    what is still due goes back to the queue (its lease was taken with the step that made it
    due). Returns what each step did."""
    from apps.audit.services import audit_batch
    from apps.notifications.outbox import sends_batched, writes_batched

    from .engine import run_step as step
    from .tasks import wave_step as step_task

    started = time.monotonic()
    done: list[str] = []
    todo = [wave_id]

    def spent() -> bool:
        return len(done) >= max_steps or time.monotonic() - started >= max_seconds

    with sends_batched():
        while todo and not spent():
            with transaction.atomic(), audit_batch(), writes_batched():
                held = None
                opened = time.monotonic()
                for _ in range(commit_every):
                    carried: list[int] = []
                    token = _carried.set(carried)
                    try:
                        did, held = step(todo.pop(0), timezone.now(), held)
                    finally:
                        _carried.reset(token)
                    done.append(did)
                    todo += carried
                    if not todo or spent() or time.monotonic() - opened >= RUN_COMMIT_SECONDS:
                        break
        for left in todo:
            step_task.delay(left)
    return done

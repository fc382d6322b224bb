"""The engine's queue: the one writer of a wave's due time and lease, and the one module that
sends engine tasks.

The database holds every due time (`Wave.next_step_at`); a message only says "look now". A
wave whose message is probably still queued, or whose step a running task carries on with,
has a lease (`kicked_at`): the tick sends it again only once the lease runs out (a lost
message, a killed worker). Nothing here decides what a step does; the step and the runner
above it call these.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.releases import rules as release_rules

from . import tasks
from .models import Wave
from .rules import WAITING_STATES

ATTEMPT_MARGIN = timedelta(seconds=5)


def _unleased(now: datetime) -> Q:
    return Q(kicked_at__isnull=True) | Q(kicked_at__lt=now - settings.RELEASEDECK_STEP_LEASE)


# --- due times and leases --------------------------------------------------------------------


def set_due(wave: Wave, when: datetime | None, *, leased_at: datetime | None = None) -> None:
    """The wave's next step is due at `when` (None: nothing is due until someone wakes it).
    `leased_at`: whoever calls this takes that step itself, now or through a message, so the
    tick leaves it alone until the lease runs out; without it, the step that ran is over and
    no message is outstanding, so the tick may send the next one as soon as it is due."""
    Wave.objects.filter(pk=wave.pk).update(next_step_at=when, kicked_at=leased_at)
    wave.next_step_at, wave.kicked_at = when, leased_at


def step_soon(wave: Wave, now: datetime | None = None) -> None:
    """Make the wave's step due now and send it after commit, under a lease."""
    now = now or timezone.now()
    set_due(wave, now, leased_at=now)
    send_step(wave.pk)


def wake(wave: Wave) -> None:
    """Something a waiting wave waits for has changed: it looks again right after commit."""
    if wave.state in WAITING_STATES:
        step_soon(wave)


def wake_waiting() -> int:
    """Every wave of a rolling-out release that waits to start looks again right after commit
    (a calendar or the stop-the-line switch changed). Returns how many."""
    now = timezone.now()
    waiting = Wave.objects.filter(
        state__in=WAITING_STATES,
        next_step_at__isnull=False,
        plan__release__phase=release_rules.ROLLOUT,
    )
    ids = list(waiting.values_list("pk", flat=True))
    Wave.objects.filter(pk__in=ids).update(next_step_at=now, kicked_at=now)
    for wave_id in ids:
        send_step(wave_id)
    return len(ids)


def due_now(waves: QuerySet[Wave], now: datetime) -> int:
    """Make each of `waves` due now and send its step after commit, under a lease (something
    its next step must act on changed, e.g. a freeze that halts it). Returns how many."""
    ids = list(waves.values_list("pk", flat=True))
    Wave.objects.filter(pk__in=ids).update(next_step_at=now, kicked_at=now)
    for wave_id in ids:
        send_step(wave_id)
    return len(ids)


def arm(wave_id: int, now: datetime) -> bool:
    """Give a wave left without a due time one, now; False if another writer did meanwhile."""
    return bool(Wave.objects.filter(pk=wave_id, next_step_at__isnull=True).update(next_step_at=now))


def lease_due(due_waves: QuerySet[Wave], now: datetime) -> int:
    """Send the step of every due wave of `due_waves` that nobody holds, under a lease. Of two
    overlapping ticks only one sends each (compare-and-set on the lease)."""
    sent = 0
    for wave_id in due_waves.filter(_unleased(now)).values_list("pk", flat=True):
        if Wave.objects.filter(_unleased(now), pk=wave_id).update(kicked_at=now):
            send_step(wave_id)
            sent += 1
    return sent


# --- messages --------------------------------------------------------------------------------


def send_step(wave_id: int) -> None:
    """Run a wave's step as soon as the current transaction commits."""
    transaction.on_commit(lambda: tasks.wave_step.delay(wave_id))


def send_steps_now(wave_ids: list[int]) -> None:
    """Send these steps now: the caller has committed, and holds their leases."""
    for wave_id in wave_ids:
        tasks.wave_step.delay(wave_id)


def send_call(call_id: int) -> None:
    transaction.on_commit(lambda: tasks.deploy_call_send.delay(call_id))


def send_check(check_id: int, *, at: datetime | None = None) -> None:
    """Run the check after commit, or at `at` (a message held by the worker until then)."""
    if at is None:
        transaction.on_commit(lambda: tasks.check_run.delay(check_id))
    else:
        transaction.on_commit(lambda: tasks.check_run.apply_async((check_id,), eta=at))


def attempt_expired_before(now: datetime) -> datetime:
    """A deploy call's attempt claimed before this has outlived its HTTP timeout (connect and
    read may each take it) with margin: the worker that claimed it is gone, another may try."""
    return now - timedelta(seconds=2 * settings.RELEASEDECK_HTTP_TIMEOUT) - ATTEMPT_MARGIN

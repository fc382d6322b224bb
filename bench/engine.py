"""How quickly the rollout engine acts on due work, and how much it costs over bare Celery.

    .venv/bin/python bench/engine.py [--tick 1.0] [--releases 30] [--waves 6]

Runs against a database, redis-server, Celery worker and beat of its own, all removed at the
end (Ctrl-C included). Measures
  (a) the delay from a step's due time to the moment a worker began it, beside the tick
      interval (the tick is what finds due work);
  (b) wave steps per second through the whole engine (simulated deployer, no bake, no
      checks) against a no-op Celery task chained the same way on the same worker.

The worker imports this module as its Celery app (`-A bench.engine`), which adds the no-op
task and a task_prerun hook writing when each task began to $BENCH_TIMINGS.
"""

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import time  # noqa: E402
from typing import Any  # noqa: E402

from celery.signals import task_postrun, task_prerun  # noqa: E402

from config.celery import app  # noqa: E402

BENCH_DB = "releasedeck_bench_engine"
NOOP = "bench.noop"
TICK = "apps.rollouts.tasks.tick"
WAVE_STEP = "apps.rollouts.tasks.wave_step"
_timings_fd: int | None = None


@app.task(name=NOOP, acks_late=True, ignore_result=True)
def noop(remaining: int) -> None:
    """Does nothing but enqueue the next link, as a wave step enqueues the next step."""
    if remaining > 1:
        noop.delay(remaining - 1)


def _record(event: str, task_id: str, task: Any, args: Any) -> None:
    global _timings_fd
    path = os.environ.get("BENCH_TIMINGS")
    if not path:
        return
    if _timings_fd is None:
        _timings_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    arg = args[0] if args else ""
    # One short write per line with O_APPEND: lines from pool processes never interleave.
    os.write(_timings_fd, f"{time.time():.6f} {event} {task.name} {task_id} {arg}\n".encode())


@task_prerun.connect
def _record_start(task_id: str, task: Any, args: Any = None, **_: Any) -> None:
    _record("start", task_id, task, args)


@task_postrun.connect
def _record_end(task_id: str, task: Any, args: Any = None, **_: Any) -> None:
    _record("end", task_id, task, args)


# --- the run (main process only) --------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _read_timings(path: Path, event: str = "start") -> list[tuple[float, str, str]]:
    """(time, task name, first argument) of every task start (or end) the worker logged."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        at, kind, name, _, arg = (line.split(" ", 4) + [""])[:5]
        if kind == event:
            rows.append((float(at), name, arg))
    return rows


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.1)


def _settle(redis: Any, timeout: float = 90) -> None:
    """Wait for the worker to finish what earlier set-up left (mostly notifications), so each
    measure sees only its own work."""
    from apps.notifications.models import Notification
    from apps.releases.models import PhaseMove

    _wait(
        lambda: (
            redis.client().llen("celery") == 0
            and not Notification.objects.filter(state="pending").exists()
            and not PhaseMove.objects.filter(state="pending").exists()
        ),
        timeout=timeout,
        what="the worker to go idle",
    )
    time.sleep(0.5)


def _admin_connection(admin_url: str) -> Any:
    import psycopg

    return psycopg.connect(admin_url, autocommit=True)


def _personas() -> tuple[Any, Any, Any]:
    from apps.stakeholders.models import ensure_default_roles
    from tests.factories import UserFactory

    ensure_default_roles()
    users = []
    for name, role in (("rita", "release_manager"), ("alice", "approver"), ("bob", "approver")):
        user = UserFactory(username=name)
        user.role_grants.create(role=role)
        users.append(user)
    return users[0], users[1], users[2]


def _release_in_testing(rm: Any, qa: Any, bo: Any, version: str, waves: int) -> Any:
    """A release one move away from rollout, with `waves` simulated waves: no bake, no checks."""
    from apps.rollouts import services as ro
    from apps.rollouts.models import Wave
    from tests.builders import advance, planned_release

    release = planned_release(rm, qa=qa, business_owner=bo, version=version)
    first = Wave.objects.get(plan__release=release)
    ro.wave_update(wave_id=first.pk, actor=rm, bake_minutes=0)
    for n in range(2, waves + 1):
        ro.wave_add(
            release_id=release.pk,
            name=f"step {n}",
            environment_id=first.environment_id,
            actor=rm,
            percentage=min(100, n * 100 // waves),
            bake_minutes=0,
        )
    return advance(release, rm, qa=qa, business_owner=bo, to="testing")


def _to_rollout_at_once(releases: list[Any], rm: Any, qa: Any, bo: Any) -> None:
    """Satisfy the testing gate of each, then move them all in one transaction."""
    from django.db import transaction

    from apps.releases import services as rs
    from apps.signoffs import services as so

    for release in releases:
        for case in release.test_cases.all():
            rs.test_case_record(case_id=case.pk, status="passed", actor=rm)
        so.signoff_give(release_id=release.pk, decision="approve", actor=qa)
        so.signoff_give(release_id=release.pk, decision="approve", actor=bo)
    with transaction.atomic():
        for release in releases:
            rs.release_move(release_id=release.pk, to="rollout", actor=rm)


def measure_due_to_start(
    people: tuple, *, count: int, tick: float, timings: Path, redis: Any
) -> dict[str, list[float]]:
    """(a) Waves planned to start at scattered moments: how late after its due time did each
    one's step begin, and when was its start committed?"""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from apps.audit.models import AuditEvent
    from apps.rollouts.models import Wave

    rm, qa, bo = people
    releases = [_release_in_testing(rm, qa, bo, f"3.0.{i}", 1) for i in range(count)]
    _settle(redis)
    spread = max(15.0, 15 * tick)
    begin = timezone.now() + timedelta(seconds=2 + 2 * tick)
    rng = random.Random(1)
    due: dict[int, Any] = {}
    for release in releases:
        wave = Wave.objects.get(plan__release=release)
        due[wave.pk] = begin + timedelta(seconds=rng.uniform(0, spread))
        Wave.objects.filter(pk=wave.pk).update(planned_start=due[wave.pk])
    _to_rollout_at_once(releases, rm, qa, bo)
    _wait(
        lambda: not Wave.objects.filter(pk__in=due, started_at__isnull=True).exists(),
        timeout=spread + 2 * tick + 30,
        what="the scheduled waves to start",
    )
    began: dict[int, float] = {}
    for at, name, arg in _read_timings(timings):
        if name == WAVE_STEP and arg.isdigit() and int(arg) in due:
            wave_id = int(arg)
            if at >= due[wave_id].timestamp() and wave_id not in began:
                began[wave_id] = at
    committed = {
        int(e.object_id): e.at.timestamp()
        for e in AuditEvent.objects.filter(verb="wave.state_changed", object_id__in=map(str, due))
        if e.after.get("state") == "deploying"
    }
    ticks = sorted(at for at, name, _ in _read_timings(timings) if name == TICK)
    to_tick = [
        min((t for t in ticks if t >= due[w].timestamp()), default=began[w]) - due[w].timestamp()
        for w in due
        if w in began
    ]
    to_begin = [began[w] - due[w].timestamp() for w in due if w in began]
    to_commit = [committed[w] - due[w].timestamp() for w in due if w in committed]
    return {
        "due -> next tick began": to_tick,
        "due -> wave_step began": to_begin,
        "due -> start committed": to_commit,
    }


def worker_time(timings: Path, start: float, end: float) -> dict[str, tuple[int, float]]:
    """Per task name: runs that began in [start, end] and the seconds they took in all."""
    began = {}
    for line in timings.read_text().splitlines():
        at, kind, name, task_id, _ = (line.split(" ", 4) + [""])[:5]
        if kind == "start" and start <= float(at) <= end:
            began[task_id] = (name, float(at))
    spent: dict[str, tuple[int, float]] = {}
    for line in timings.read_text().splitlines():
        at, kind, _, task_id, _ = (line.split(" ", 4) + [""])[:5]
        if kind == "end" and task_id in began:
            name, t0 = began[task_id]
            runs, seconds = spent.get(name, (0, 0.0))
            spent[name] = (runs + 1, seconds + float(at) - t0)
    return spent


def measure_engine_steps(
    people: tuple, *, releases: int, waves: int, redis: Any, timings: Path
) -> tuple[int, float, float, float]:
    """(b) Many releases rolling out at once: wave steps (state changes) per second, from the
    first wave_step that began after they entered rollout to the last state change; and when
    the last of the notifications those steps wrote was sent."""
    from apps.audit.models import AuditEvent
    from apps.notifications.models import Notification
    from apps.rollouts.models import Wave

    rm, qa, bo = people
    batch = [_release_in_testing(rm, qa, bo, f"4.0.{i}", waves) for i in range(releases)]
    _settle(redis)
    ids = [r.pk for r in batch]
    entered = time.time()
    _to_rollout_at_once(batch, rm, qa, bo)
    total = releases * waves
    _wait(
        lambda: Wave.objects.filter(plan__release_id__in=ids, state="succeeded").count() == total,
        timeout=150,
        what="every wave to succeed",
    )
    steps = [
        e.at.timestamp()
        for e in AuditEvent.objects.filter(verb="wave.state_changed", release_id__in=ids)
        if e.after.get("state") in ("deploying", "verifying", "succeeded")
    ]
    # An event's time is when it joined the audit chain, just before its transaction
    # committed; several steps may share one. Start the clock when the first step began, not
    # at the first commit, so the work before that commit is counted too.
    began = [at for at, name, _ in _read_timings(timings) if name == WAVE_STEP and at >= entered]
    notes = Notification.objects.filter(release_id__in=ids, event="wave.started")
    _wait(
        lambda: not notes.filter(state="pending").exists(),
        timeout=60,
        what="their notifications to be sent",
    )
    sent = max(notes.values_list("sent_at", flat=True)).timestamp()
    return len(steps), min([*began, *steps]), max(steps), sent


def measure_noop_chains(*, chains: int, links: int, timings: Path) -> tuple[int, float]:
    """The same shape with a task that does nothing: `chains` chains of `links` tasks."""
    since = time.time()
    for _ in range(chains):
        noop.delay(links)

    def starts() -> list[float]:
        return [at for at, name, _ in _read_timings(timings) if name == NOOP and at >= since]

    _wait(lambda: len(starts()) >= chains * links, timeout=60, what="the no-op chains")
    runs = starts()
    return len(runs), max(runs) - min(runs)


def main() -> int:
    import argparse
    import shutil
    import signal
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tick", type=float, default=1.0, help="beat tick interval, seconds")
    parser.add_argument("--releases", type=int, default=30, help="releases rolling out at once")
    parser.add_argument("--waves", type=int, default=6, help="waves per release")
    parser.add_argument("--scheduled", type=int, default=30, help="waves for the delay measure")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--keep-logs", action="store_true", help="keep worker/beat logs")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL database to create and drop the bench database from",
    )
    args = parser.parse_args()

    from tests.rollouts.faults import Engine

    # Ctrl-C and SIGTERM both unwind through the finally below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    db_url = args.admin_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"
    timings = tmp / "timings.log"
    engine = Engine(tmp, tick_seconds=args.tick, db_url=db_url, worker_app="bench.engine")
    engine.worker.env["BENCH_TIMINGS"] = str(timings)
    for process in (engine.worker, engine.beat):
        process.env["DJANGO_SETTINGS_MODULE"] = "bench.engine_settings"
    engine.worker.argv[engine.worker.argv.index("-c") + 1] = str(args.concurrency)
    os.environ.update(TEST_DATABASE_URL=db_url, REDIS_URL=engine.redis.url)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    admin = _admin_connection(args.admin_url)
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        engine.start()
        print(
            f"worker: prefork, concurrency {args.concurrency}; beat tick every {args.tick:.2f} s; "
            f"set up in {time.monotonic() - started:.0f} s"
        )
        people = _personas()
        measure_noop_chains(chains=4, links=25, timings=timings)  # warm the pool processes

        delays = measure_due_to_start(
            people, count=args.scheduled, tick=args.tick, timings=timings, redis=engine.redis
        )
        steps, first_step, last_step, last_sent = measure_engine_steps(
            people, releases=args.releases, waves=args.waves, redis=engine.redis, timings=timings
        )
        engine_seconds = last_step - first_step
        _settle(engine.redis)
        spent = worker_time(timings, first_step, last_step)
        noops, noop_seconds = measure_noop_chains(
            chains=args.releases, links=args.waves * 3, timings=timings
        )
    finally:
        engine.stop()
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin.close()
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    tick_ms = args.tick * 1000
    to_begin = delays["due -> wave_step began"]
    median = _percentile(to_begin, 0.5) * 1000
    engine_rate = steps / engine_seconds
    noop_rate = noops / noop_seconds
    print()
    print(f"(a) due time -> step began, {len(to_begin)} scheduled waves, tick {tick_ms:.0f} ms")
    print(f"    {'':26} {'median':>9} {'p95':>9} {'max':>9}")
    for label, values in delays.items():
        row = [_percentile(values, q) * 1000 for q in (0.5, 0.95, 1.0)]
        print(f"    {label:26} " + " ".join(f"{v:7.0f}ms" for v in row))
    print(f"    median / (tick + 200 ms) = {median / (tick_ms + 200):.2f}   (target: below 1.00)")
    print()
    print(f"(b) throughput on the same worker, {args.releases} chains of {args.waves * 3} steps")
    print(f"    {'':26} {'tasks':>7} {'seconds':>9} {'per second':>11}")
    print(f"    {'engine wave steps':26} {steps:7d} {engine_seconds:9.2f} {engine_rate:11.1f}")
    with_sends = last_sent - first_step
    print(
        f"    {'  ... to last wave.started':26} {steps:7d} {with_sends:9.2f} "
        f"{steps / with_sends:11.1f}   (until its notification was sent, too)"
    )
    print(f"    {'no-op Celery task':26} {noops:7d} {noop_seconds:9.2f} {noop_rate:11.1f}")
    print(f"    engine / no-op = {engine_rate / noop_rate:.2f}   (target: at least 0.50)")
    print()
    print("    where the worker's time went while the engine ran (all pool processes):")
    print(f"    {'task':44} {'runs':>6} {'mean':>8} {'total':>8}")
    for name, (runs, seconds) in sorted(spent.items(), key=lambda item: -item[1][1]):
        print(f"    {name:44} {runs:6d} {seconds / runs * 1000:6.1f}ms {seconds:7.1f}s")
    step_runs = spent.get(WAVE_STEP, (0, 0.0))[0]
    print(
        f"    ({steps} state changes in {step_runs} wave_step runs: "
        f"{steps / max(step_runs, 1):.1f} per run; a run carries on while the next step is due)"
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; load average now {load} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scale benchmark: the audit log, its CSV export, the dashboard and the release list with a
small history and with years of it (10,000 releases, 200,000 audit events). Prints each page's
time at both sizes and their ratio; not a test.

    .venv/bin/python bench/scale.py [--releases 10000] [--events 200000] [--runs 15] [--keep]

Both sizes hold the same releases in flight (what the pages show); only the history grows:
finished releases with their waves, and audit events. It creates its own database
(releasedeck_bench_scale by default; BENCH_DATABASE_URL to change), seeds in bulk, runs ANALYZE
as autovacuum would, and requests the pages in process through Django's test client.
"""

import argparse
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/releasedeck_bench_scale"
IN_FLIGHT = 50  # releases not finished, the same at both sizes
SMALL_FINISHED = 50
SMALL_EVENTS = 2_000
TARGET = 1.5
VERBS = [
    ("wave.state_changed", 40),
    ("check.passed", 20),
    ("release.moved", 10),
    ("release.updated", 8),
    ("signoff.approved", 6),
    ("stakeholder.added", 6),
    ("checklist.done", 6),
    ("login.failed", 4),
]


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


class Seeder:
    """Bulk rows straight into the tables (as a long-lived deployment would hold them), the
    audit events with a valid hash chain."""

    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from apps.environments.models import Environment
        from apps.releases.models import Application
        from apps.stakeholders.models import ensure_default_roles

        call_command("migrate", verbosity=0)
        ensure_default_roles()
        user_model = get_user_model()
        self.people = {}
        for username, group in (("rita", "release_manager"), ("alice", "approver")):
            self.people[username] = user_model.objects.create_user(username, password="bench")
            self.people[username].role_grants.create(role=group)
        self.apps = [
            Application.objects.create(name=f"App {i}", slug=f"app-{i}") for i in range(20)
        ]
        self.envs = [
            Environment.objects.create(name=name, tier="production", region=name, time_zone=tz)
            for name, tz in (("eu", "Europe/Berlin"), ("us", "America/New_York"), ("apac", "UTC"))
        ]
        self.releases = 0
        self.release_ids: list[int] = []
        self.random = random.Random(7)

    def releases_add(self, count: int, *, finished: bool) -> None:
        from django.utils import timezone

        from apps.releases.models import Release, content_fingerprint
        from apps.rollouts.models import RolloutPlan, Wave

        now = timezone.now()
        active = ["planning", "preparation", "testing", "rollout", "support"]
        ended = ["completed"] * 8 + ["cancelled", "rolled_back"]
        rows = []
        for _ in range(count):
            n = self.releases
            self.releases += 1
            version, build = f"{n // 100}.{n % 100}.0", f"git:{n:07x}"
            scope = "Invoices: new screen. Search: faster."
            started = now - timedelta(days=(2000 - n % 2000) if finished else 1)
            rows.append(
                Release(
                    application=self.apps[n % len(self.apps)],
                    name=f"App {n % len(self.apps)} {version}",
                    version=version,
                    build_ref=build,
                    scope=scope,
                    owner=self.people["rita"],
                    created_by=self.people["rita"],
                    planned_start=started,
                    planned_end=started + timedelta(days=1),
                    phase=ended[n % len(ended)] if finished else active[n % len(active)],
                    phase_entered_at=started + timedelta(days=2) if finished else started,
                    fingerprint=content_fingerprint(version, build, scope),
                )
            )
        releases = Release.objects.bulk_create(rows, batch_size=2000)
        self.release_ids += [r.pk for r in releases]
        plans = RolloutPlan.objects.bulk_create(
            (RolloutPlan(release=r, strategy="canary") for r in releases), batch_size=2000
        )
        waves = []
        for plan in plans:
            state = self.wave_state(plan.release.phase)
            ran = state != "pending"
            for j, (env, pct) in enumerate(zip(self.envs, (10, 50, 100), strict=True)):
                waves.append(
                    Wave(
                        plan=plan,
                        application_id=plan.release.application_id,
                        position=j + 1,
                        name=f"{env.name} {pct}%",
                        environment=env,
                        percentage=pct,
                        state=state,
                        started_at=plan.release.planned_start if ran else None,
                        finished_at=plan.release.planned_end if ran else None,
                    )
                )
        Wave.objects.bulk_create(waves, batch_size=5000)

    @staticmethod
    def wave_state(phase: str) -> str:
        """What the engine leaves a finished release's waves in: a cancelled release never
        reached rollout, a rolled-back one had its deployed waves undone."""
        return {"completed": "succeeded", "rolled_back": "rolled_back"}.get(phase, "pending")

    def events_add(self, count: int) -> None:
        from apps.audit.chain import GENESIS, event_digest
        from apps.audit.models import AuditEvent

        head = AuditEvent.objects.order_by("-id").values("hash", "at").first()
        prev_hash = head["hash"] if head else GENESIS
        at = head["at"] if head else datetime(2021, 1, 1, tzinfo=UTC)
        verbs, weights = zip(*VERBS, strict=True)
        actors = [self.people["rita"], self.people["alice"], None]
        batch: list[AuditEvent] = []
        for n in range(count):
            at += timedelta(seconds=self.random.randint(1, 600))
            verb = self.random.choices(verbs, weights)[0]
            actor = actors[n % 3]
            release_id = self.random.choice(self.release_ids)
            fields = {
                "at": at,
                "actor_id": actor.pk if actor else None,
                "actor_label": actor.username if actor else "system",
                "verb": verb,
                "object_type": "releases.release",
                "object_id": str(release_id),
                "release_id": release_id,
                "before": {"state": "deploying", "state_reason": ""},
                "after": {"state": "verifying", "state_reason": f"Deployed round {n}"},
                "reason": "" if n % 4 else "Checked by the bench.",
            }
            digest = event_digest(prev_hash=prev_hash, **fields)
            batch.append(AuditEvent(prev_hash=prev_hash, hash=digest, **fields))
            prev_hash = digest
            if len(batch) == 5000:
                AuditEvent.objects.bulk_create(batch)
                batch = []
        AuditEvent.objects.bulk_create(batch)

    @staticmethod
    def analyze() -> None:
        from django.db import connection

        # What autovacuum does to a live database (insert-only tables too, since PostgreSQL
        # 13): planner statistics, and the visibility map index-only scans rely on.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # Write the seed's dirty pages out now, not while the first pages are timed: a live
            # database has long since checkpointed its history.
            cursor.execute("CHECKPOINT")


class RssPeak:
    """How far the process's resident memory rose above where it was, sampled every 5 ms."""

    def __init__(self) -> None:
        self.growth = 0
        self._done = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.growth = max(self.growth, self._rss() - self._start)

    def __enter__(self) -> "RssPeak":
        self._start = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.growth = max(self.growth, self._rss() - self._start)


def timed(fetches: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Each fetch's fastest of `runs`, in milliseconds, after two warm-ups. The machine is
    shared: the runs go round the fetches in turn, so a busy spell slows one run of each
    rather than every run of one, and the fastest run is the least disturbed."""
    for fetch in fetches.values():
        for _ in range(2):
            fetch()
    samples: dict[str, list[float]] = {name: [] for name in fetches}
    for _ in range(runs):
        for name, fetch in fetches.items():
            started = time.perf_counter()
            fetch()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: min(times) for name, times in samples.items()}


def measure(client, runs: int) -> dict[str, float]:
    """Each page's fastest time (ms), and the CSV export's first byte, total and peak memory."""
    from apps.audit.models import AuditEvent

    def page(path: str, **params: object) -> Callable[[], object]:
        def fetch() -> object:
            response = client.get(path, params)
            assert response.status_code == 200, (path, params, response.status_code)
            return response

        return fetch

    some_release = AuditEvent.objects.order_by("-id").values_list("release_id", flat=True).first()
    middle = AuditEvent.objects.order_by("-id").values_list("id", flat=True)[
        AuditEvent.objects.count() // 2
    ]

    def first_byte() -> None:
        response = client.get("/audit/export/", {"as": "csv"})
        next(iter(response.streaming_content))
        response.close()

    def json_first_byte() -> None:  # signs a checkpoint first
        response = client.get("/audit/export/", {"as": "json"})
        next(iter(response.streaming_content))
        response.close()

    results = timed(
        {
            "audit log": page("/audit/"),
            "audit log, one release": page("/audit/", release=some_release),
            "audit log, by who": page("/audit/", actor="alice"),
            "audit log, action prefix": page("/audit/", verb="signoff"),
            "audit log, a page in the middle": page("/audit/", before=middle),
            "dashboard": page("/dashboard/"),
            "release list": page("/"),
            "audit CSV export, first byte": first_byte,
            "audit JSON export, first byte": json_first_byte,
        },
        runs,
    )
    with RssPeak() as rss:
        started = time.perf_counter()
        response = client.get("/audit/export/", {"as": "csv"})
        size = sum(len(chunk) for chunk in response.streaming_content)
        results["audit CSV export, total"] = (time.perf_counter() - started) * 1000
    results["audit CSV export, memory growth MB"] = rss.growth / 1e6
    results["audit CSV export, MB"] = size / 1e6
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=database_url,
        REDIS_URL="",
        SECRET_KEY="bench-only-key",
        DEBUG="false",
    )
    sys.path.insert(0, str(ROOT))
    recreate_database(database_url)
    try:
        import django

        django.setup()
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test client's host, mail kept in memory
        seeder = Seeder()
        started = time.perf_counter()
        seeder.releases_add(IN_FLIGHT, finished=False)
        seeder.releases_add(SMALL_FINISHED, finished=True)
        seeder.events_add(SMALL_EVENTS)
        seeder.analyze()
        client = Client()
        client.force_login(seeder.people["rita"])
        print(f"Small: {seeder.releases} releases, {SMALL_EVENTS} audit events …")
        small = measure(client, args.runs)
        more_releases = args.releases - seeder.releases
        print(f"Seeding {more_releases} more releases and {args.events - SMALL_EVENTS} events …")
        seeder.releases_add(more_releases, finished=True)
        seeder.events_add(args.events - SMALL_EVENTS)
        seeder.analyze()
        print(f"  seeded in {time.perf_counter() - started:.0f} s")
        print(f"Large: {seeder.releases} releases, {args.events} audit events …")
        large = measure(client, args.runs)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(database_url, drop_only=True)

    width = max(len(name) for name in small)
    print()
    print(f"{'':<{width}}  {'small':>10}  {'large':>10}  {'ratio':>6}")
    for name in small:
        unit = "" if name.endswith("MB") else "ms"
        ratio = large[name] / small[name] if small[name] else float("nan")
        # The export's total grows with what it exports; its first byte and memory must not.
        held = not (name.endswith("total") or name.endswith(" MB"))
        if name.endswith("memory growth MB"):  # near zero at both sizes: no ratio
            ratio_text, verdict = "", "ok" if large[name] < 10 else "grows"
        else:
            ratio_text = f"{ratio:>5.2f}x"
            verdict = ("ok" if ratio <= TARGET else f"misses {TARGET}x") if held else ""
        print(
            f"{name:<{width}}  {small[name]:>8.1f}{unit:>2}  {large[name]:>8.1f}{unit:>2}"
            f"  {ratio_text:>6}  {verdict}"
        )


if __name__ == "__main__":
    main()

"""API benchmark: the status endpoint and the release list against bare Django JsonResponse views
of the same rows, on gunicorn and PostgreSQL with 1,000 releases. Prints ratios; not a test.

    .venv/bin/python bench/api.py [--requests 1500] [--concurrency 4] [--keep]

It creates its own database (releasedeck_bench by default), starts gunicorn with 2 workers on a
free loopback port, drives it from threads, then stops gunicorn and drops the database.
"""

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/releasedeck_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
RELEASES = 1000
MAX_SECONDS_PER_RUN = 60.0
READY_TIMEOUT = 30.0


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.api_settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY="bench-only-key",
        DEBUG="0",
        # Throttling stays on (its cost is part of every token request) but never trips here.
        RELEASEDECK_API_TOKEN_RATE="1000000/minute",
        PYTHONPATH=str(ROOT),
    )
    return env


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> tuple[int, str]:
    """1,000 releases across phases, each with a plan, 3 waves, a stakeholder, a policy, a
    checklist item and a test case; returns a release in testing and a viewer's token."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.services import api_token_create
    from apps.environments.models import Environment
    from apps.releases.models import (
        Application,
        ChecklistItem,
        Release,
        TestCase,
        content_fingerprint,
    )
    from apps.rollouts.models import RolloutPlan, Wave
    from apps.signoffs.models import SignOff, SignoffRequirement
    from apps.stakeholders.models import Stakeholder, StakeholderRole, ensure_default_roles

    call_command("migrate", verbosity=0)
    ensure_default_roles()
    User = get_user_model()
    people = {}
    for username, group in (("rita", "release_manager"), ("alice", "approver"), ("vera", "viewer")):
        people[username] = User.objects.create_user(username, password="bench")
        people[username].role_grants.create(role=group)
    apps = [Application.objects.create(name=f"App {i}", slug=f"app-{i}") for i in range(5)]
    envs = [
        Environment.objects.create(name=name, tier="production", region=name, time_zone=tz)
        for name, tz in (("eu", "Europe/Berlin"), ("us", "America/New_York"), ("apac", "UTC"))
    ]
    now = timezone.now()
    phases = ["planning", "preparation", "testing", "rollout", "support"]
    releases = Release.objects.bulk_create(
        Release(
            application=apps[i % 5],
            name=f"App {i % 5} 1.{i}.0",
            version=f"1.{i}.0",
            build_ref=f"git:{i:07x}",
            scope="Invoices: new screen. Search: faster.",
            owner=people["rita"],
            created_by=people["rita"],
            planned_start=now + timedelta(days=3),
            planned_end=now + timedelta(days=4),
            phase=phases[i % 5],
            phase_entered_at=now,
            fingerprint=content_fingerprint(
                f"1.{i}.0", f"git:{i:07x}", "Invoices: new screen. Search: faster."
            ),
        )
        for i in range(RELEASES)
    )
    plans = RolloutPlan.objects.bulk_create(
        RolloutPlan(release=r, strategy="canary") for r in releases
    )
    Wave.objects.bulk_create(
        Wave(
            plan=plan,
            application_id=plan.release.application_id,
            position=j + 1,
            name=f"{env.name} {pct}%",
            environment=env,
            percentage=pct,
        )
        for plan in plans
        for j, (env, pct) in enumerate(zip(envs, (10, 50, 100), strict=True))
    )
    qa = StakeholderRole.objects.get(slug="qa")
    Stakeholder.objects.bulk_create(
        Stakeholder(release=r, user=people["alice"], role=qa) for r in releases
    )
    SignoffRequirement.objects.bulk_create(
        SignoffRequirement(release=r, role=qa, count=1) for r in releases
    )
    ChecklistItem.objects.bulk_create(
        ChecklistItem(release=r, environment=envs[0], area="data", title="Backup confirmed")
        for r in releases
    )
    TestCase.objects.bulk_create(TestCase(release=r, title="Create an invoice") for r in releases)
    SignOff.objects.bulk_create(
        SignOff(
            release=r,
            signer=people["alice"],
            role=qa,
            decision="approve",
            fingerprint=r.fingerprint,
        )
        for r in releases
        if r.phase == "testing"
    )
    _, key = api_token_create(actor=people["vera"], name="bench", read_only=True)
    # A live database has planner statistics (autovacuum keeps them); without them the planner
    # guesses row counts for tables filled a moment ago and may pick plans no deployment runs.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    target = next(r for r in releases[RELEASES // 2 :] if r.phase == "testing")
    return target.pk, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [
            str(gunicorn),
            "config.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def wait_until_ready(port: int, path: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer in time")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def drive(
    name: str, port: int, path: str, headers: dict[str, str], *, requests: int, concurrency: int
) -> Result:
    """Send `requests` GETs from `concurrency` threads (bounded by count and time)."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + MAX_SECONDS_PER_RUN

    def worker() -> None:
        nonlocal issued, errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                if issued >= requests or time.monotonic() > deadline:
                    break
                issued += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                conn.close()
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(name, len(latencies), errors, time.perf_counter() - began, latencies)


def report(api: Result, bare: Result, *others: Result) -> None:
    """The API beside the bare view the target is set against, and beside any other bare view
    run with them (context, not the target)."""
    for r in (bare, *others, api):
        print(
            f"  {r.name:<44} {r.requests:>6} req  {r.throughput:>8.1f} req/s  "
            f"p50 {r.percentile(50) * 1000:>7.1f} ms  p95 {r.percentile(95) * 1000:>7.1f} ms"
            f"  errors {r.errors}"
        )
    ratio, p95 = _ratios(api, bare)
    verdict = "meets" if ratio >= 0.5 else "below"
    print(
        f"  throughput ratio api/bare {ratio:.2f} ({verdict} the 0.5 target); p95 ratio {p95:.2f}"
    )
    for other in others:
        ratio, p95 = _ratios(api, other)
        print(f"  against the {other.name}: throughput ratio {ratio:.2f}; p95 ratio {p95:.2f}")


def _ratios(api: Result, bare: Result) -> tuple[float, float]:
    ratio = api.throughput / bare.throughput if bare.throughput else 0.0
    p95 = api.percentile(95) / bare.percentile(95) if bare.percentile(95) else 0.0
    return ratio, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="per endpoint and round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    env = environment(database_url, redis_url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    print(f"Creating {urlsplit(database_url).path.lstrip('/')} and seeding {RELEASES} releases …")
    recreate_database(database_url)
    process = None
    try:
        import django

        django.setup()
        release_id, key = seed()
        from django.db import connections

        connections.close_all()
        port = free_port()
        process = start_gunicorn(env, port)
        wait_until_ready(port, f"/bench/releases/{release_id}/", process)
        token = {"Authorization": f"Token {key}"}
        # (title, the API, the bare view the target is held to, other bare views for context)
        pairs = [
            (
                "status",
                (
                    "GET /api/v1/releases/{id}/status/",
                    f"/api/v1/releases/{release_id}/status/",
                    token,
                ),
                ("bare JsonResponse of the row", f"/bench/releases/{release_id}/", {}),
                [
                    (
                        "bare JsonResponse of 7 of its columns",
                        f"/bench/releases/{release_id}/seven/",
                        {},
                    )
                ],
            ),
            (
                "release list (50 per page)",
                ("GET /api/v1/releases/", "/api/v1/releases/", token),
                ("bare JsonResponse of 50 rows", "/bench/releases/", {}),
                [
                    (
                        "bare JsonResponse of 7 columns of 50 rows",
                        "/bench/releases/seven/",
                        {},
                    ),
                    (
                        "bare JsonResponse of the document's columns",
                        "/bench/releases/documents/",
                        {},
                    ),
                ],
            ),
        ]
        print(f"gunicorn: 2 workers on 127.0.0.1:{port}; {args.concurrency} client threads\n")
        for title, api, bare, others in pairs:
            views = [bare, *others, api]
            # Warm all up, then alternate so none gets the quieter part of the run.
            for _, path, headers in views:
                drive("warm-up", port, path, headers, requests=100, concurrency=2)
            runs: dict[str, list[Result]] = {name: [] for name, _, _ in views}
            for _ in range(2):
                for name, path, headers in views:
                    runs[name].append(
                        drive(
                            name,
                            port,
                            path,
                            headers,
                            requests=args.requests // 2,
                            concurrency=args.concurrency,
                        )
                    )
            merged = {
                name: Result(
                    name,
                    sum(r.requests for r in rs),
                    sum(r.errors for r in rs),
                    sum(r.seconds for r in rs),
                    [x for r in rs for x in r.latencies],
                )
                for name, rs in runs.items()
            }
            print(title)
            report(merged[api[0]], merged[bare[0]], *(merged[name] for name, _, _ in others))
            print()
    finally:
        if process is not None:
            stop(process)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if not args.keep:
            recreate_database(database_url, drop_only=True)


if __name__ == "__main__":
    main()

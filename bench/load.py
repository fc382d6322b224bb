"""Live pages under load: API status pollers, open release pages and dashboards, and a deploy
tool reporting, against one gunicorn of 2 workers on PostgreSQL. Prints latencies and how long
a change took to reach the open pages; not a test.

    .venv/bin/python bench/load.py [--api 100] [--pages 50] [--dashboards 10] [--seconds 40]

It creates its own database (releasedeck_bench_load by default), starts gunicorn on a free
loopback port, drives it from threads for `--seconds`, then stops gunicorn and drops the
database.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import (  # noqa: E402
    environment,
    free_port,
    recreate_database,
    stop,
    wait_until_ready,
)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/releasedeck_bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
POLL_SECONDS = 1.0  # what the pages' pollers do
CHANGE_EVERY = 3.0  # a wave on the watched release is paused or resumed this often
CHECK_EVERY = 1.0  # a check result on another release
MAX_SECONDS = 120
LIVE = re.compile(r'id="live"[^>]*?hx-get="([^"]+)"', re.S)
REV = re.compile(r"[?&]rev=(\d+)")


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    codes: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.codes[status] = self.codes.get(status, 0) + 1

    def line(self, name: str) -> str:
        if not self.latencies:
            return f"  {name:<34} no requests"
        lat = sorted(self.latencies)
        codes = " ".join(f"{code}×{n}" for code, n in sorted(self.codes.items()))
        return (
            f"  {name:<34} {len(lat):>6} req  p50 {pct(lat, 50) * 1000:>7.1f} ms  "
            f"p95 {pct(lat, 95) * 1000:>7.1f} ms  max {lat[-1] * 1000:>7.1f} ms  [{codes}]"
            + (f"  errors {self.errors}" if self.errors else "")
        )


def pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def start_gunicorn(env: dict[str, str], port: int, threads: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [
            str(gunicorn),
            "config.wsgi:application",
            "--workers",
            "2",
            *(["--threads", str(threads)] if threads > 1 else []),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def seed(*, pages: int, dashboards: int) -> dict:
    """Three releases rolling out: W, watched by the pages, whose second wave is paused and
    resumed; C, whose baking wave gets check results; D, whose deploying wave's tool reports."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.services import api_token_create
    from apps.environments.models import Environment
    from apps.releases.models import Application, Release, content_fingerprint
    from apps.rollouts import delivery
    from apps.rollouts.models import Check, DeployCall, RolloutPlan, Wave
    from apps.stakeholders.models import ensure_default_roles

    call_command("migrate", verbosity=0)
    ensure_default_roles()
    User = get_user_model()
    rita = User.objects.create_user("rita", password="bench")
    rita.role_grants.create(role="release_manager")
    viewers = []
    for n in range(pages + dashboards):
        viewer = User.objects.create_user(f"viewer{n}", password="bench")
        viewer.role_grants.create(role="viewer")
        viewers.append(viewer.username)
    eu = Environment.objects.create(
        name="prod-eu", tier="production", region="eu", time_zone="Europe/Berlin"
    )
    us = Environment.objects.create(
        name="prod-us", tier="production", region="us", time_zone="America/New_York"
    )
    now = timezone.now()
    made = {}
    for name, states in (
        ("W", ("succeeded", "verifying")),
        ("C", ("verifying", "pending")),
        ("D", ("deploying", "pending")),
    ):
        app = Application.objects.create(name=f"App {name}", slug=f"app-{name.lower()}")
        release = Release.objects.create(
            application=app,
            name=f"App {name} 2.0.0",
            version="2.0.0",
            build_ref="git:2.0.0",
            scope="Bench.",
            owner=rita,
            created_by=rita,
            planned_start=now - timedelta(hours=1),
            planned_end=now + timedelta(hours=6),
            phase="rollout",
            phase_entered_at=now,
            fingerprint=content_fingerprint("2.0.0", "git:2.0.0", "Bench."),
        )
        plan = RolloutPlan.objects.create(release=release, strategy="canary")
        waves = [
            Wave.objects.create(
                plan=plan,
                position=i + 1,
                name=f"{env.name} {share}%",
                environment=env,
                percentage=share,
                state=state,
                started_at=now if state != "pending" else None,
                bake_started_at=now if state == "verifying" else None,
                bake_minutes=600,
                deployer="webhook" if name == "D" else "simulated",
                deploy_round=1,
            )
            for i, (env, share, state) in enumerate(zip((eu, us), (10, 100), states, strict=True))
        ]
        made[name] = (release, waves)
    check = Check.objects.create(
        wave=made["C"][1][0],
        name="Health endpoint",
        kind="http",
        config={"url": "https://c.example.test/health"},
        interval_seconds=3600,
        failures_to_fail=1000,
    )
    call = DeployCall.objects.create(
        wave=made["D"][1][0], action="deploy", round=1, key=uuid.uuid4(), state="sent"
    )
    _, key = api_token_create(actor=rita, name="bench", read_only=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "watched": made["W"][0].pk,
        "toggled": made["W"][1][1].pk,
        "check": check.pk,
        "report_wave": call.wave_id,
        "report_key": str(call.key),
        "report_token": delivery.report_token(call),
        "token": key,
        "viewers": viewers,
    }


class Browser:
    """One person's open page: signs in through the form, then polls as htmx would."""

    def __init__(self, port: int, username: str) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        status, body = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        form = urlencode({"username": username, "password": "bench", "csrfmiddlewaretoken": token})
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": self.url("/")},
        )
        if status != 302:
            raise SystemExit(f"{username} could not sign in ({status})")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict | None = None
    ) -> tuple[int, str]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie = value.split(";", 1)[0]
                k, _, v = cookie.partition("=")
                self.cookies[k.strip()] = v.strip()
        return response.status, response.read().decode()


def poll_page(
    browser: Browser, path: str, stats: Stats, seen: list, stop_at: float, on_change
) -> None:
    """Open `path`, then poll its live URL every second until `stop_at`."""
    _, html = browser.request("GET", path)
    live = LIVE.search(html).group(1).replace("&amp;", "&")
    while time.monotonic() < stop_at:
        began = time.perf_counter()
        try:
            status, body = browser.request("GET", live, headers={"HX-Request": "true"})
        except (http.client.HTTPException, OSError):
            stats.errors += 1
            time.sleep(POLL_SECONDS)
            continue
        took = time.perf_counter() - began
        stats.add(took, status)
        if status == 200:
            found = LIVE.search(body)
            if found:
                live = found.group(1).replace("&amp;", "&")
            on_change(live, time.time(), seen)
        time.sleep(max(0.0, POLL_SECONDS - took))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", type=int, default=100, help="API clients polling status")
    parser.add_argument("--pages", type=int, default=50, help="open release pages")
    parser.add_argument("--dashboards", type=int, default=10, help="open dashboards")
    parser.add_argument("--api-every", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--reports-every", type=float, default=0.5, help="deploy tool reports")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    args.seconds = min(args.seconds, MAX_SECONDS)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    env = environment(database_url, redis_url)
    os.environ.update(env)

    print(f"Creating {urlsplit(database_url).path.lstrip('/')} …")
    recreate_database(database_url)
    process = None
    try:
        import django

        django.setup()
        world = seed(pages=args.pages, dashboards=args.dashboards)
        from django.db import connections

        connections.close_all()
        port = free_port()
        process = start_gunicorn(env, port, args.threads)
        wait_until_ready(port, "/accounts/login/", process)
        run(port, world, args)
    finally:
        if process is not None:
            stop(process)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(database_url, drop_only=True)
            # Its Redis database held the sessions, the cache and the tasks nobody ran.
            import redis

            redis.Redis.from_url(redis_url).flushdb()


def run(port: int, world: dict, args: argparse.Namespace) -> None:
    from apps.rollouts import delivery

    print(
        f"Signing in {args.pages} release pages and {args.dashboards} dashboards; "
        f"{args.api} API clients; one deploy tool reporting every {args.reports_every} s …"
    )
    viewers = iter(world["viewers"])
    pages = [Browser(port, next(viewers)) for _ in range(args.pages)]
    dashboards = [Browser(port, next(viewers)) for _ in range(args.dashboards)]
    stats = {name: Stats() for name in ("api", "page", "dashboard", "report")}
    changes: list[tuple[int, float]] = []  # (revision after the change, when it committed)
    delays: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def page_saw(live: str, at: float, seen: list) -> None:
        rev = int(REV.search(live).group(1))
        with lock:
            for revision, committed in changes:
                if revision <= rev and revision not in seen:
                    seen.append(revision)
                    delays.append(at - committed)

    def api_client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        path = f"/api/v1/releases/{world['watched']}/status/"
        headers = {"Authorization": f"Token {world['token']}"}
        etag = None
        time.sleep(args.api_every * (hash(threading.get_ident()) % 1000) / 1000)
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            try:
                conn.request(
                    "GET", path, headers={**headers, **({"If-None-Match": etag} if etag else {})}
                )
                response = conn.getresponse()
                response.read()
                etag = response.getheader("ETag") or etag
                stats["api"].add(time.perf_counter() - began, response.status)
            except (http.client.HTTPException, OSError):
                conn.close()
                stats["api"].errors += 1
            time.sleep(max(0.0, args.api_every - (time.perf_counter() - began)))

    def reporter() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        path = f"/api/v1/waves/{world['report_wave']}/report/?token={world['report_token']}"
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            body = json.dumps(
                {"key": world["report_key"], "status": "in_progress", "message": f"step {n}"}
            )
            began = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                stats["report"].add(time.perf_counter() - began, response.status)
            except (http.client.HTTPException, OSError):
                conn.close()
                stats["report"].errors += 1
            time.sleep(max(0.0, args.reports_every - (time.perf_counter() - began)))

    def changer() -> None:
        """Pause and resume a wave of the watched release; check results on another one."""
        from apps.releases.models import Release
        from apps.rollouts.transitions import wave_transition

        state, next_change = "verifying", time.monotonic() + CHANGE_EVERY
        while time.monotonic() < stop_at - 2 * POLL_SECONDS:
            delivery.record_check_result(
                check_id=world["check"], ok=True, value="200", detail="HTTP 200"
            )
            if time.monotonic() >= next_change:
                state = "halted" if state == "verifying" else "verifying"
                wave_transition(wave_id=world["toggled"], to=state, actor=None, reason="bench")
                committed = time.time()
                revision = Release.objects.get(pk=world["watched"]).revision
                with lock:
                    changes.append((revision, committed))
                next_change += CHANGE_EVERY
            time.sleep(CHECK_EVERY)

    threads = [threading.Thread(target=api_client) for _ in range(args.api)]
    threads += [
        threading.Thread(
            target=poll_page,
            args=(b, f"/releases/{world['watched']}/", stats["page"], [], stop_at, page_saw),
        )
        for b in pages
    ]
    threads += [
        threading.Thread(
            target=poll_page,
            args=(b, "/dashboard/", stats["dashboard"], [], stop_at, lambda *a: None),
        )
        for b in dashboards
    ]
    threads += [threading.Thread(target=reporter), threading.Thread(target=changer)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - began
    total = sum(len(s.latencies) for s in stats.values())
    threads = f" × {args.threads} threads" if args.threads > 1 else ""
    print(
        f"\n{seconds:.0f} s, {total} requests ({total / seconds:.0f} req/s) on 2 workers{threads}"
    )
    print(stats["api"].line("API GET status (If-None-Match)"))
    print(stats["page"].line("release page polls"))
    print(stats["dashboard"].line("dashboard polls"))
    print(stats["report"].line("deploy tool POST report"))
    rerenders = stats["dashboard"].codes.get(200, 0)
    print(
        f"  dashboards re-rendered {rerenders} times for {len(changes)} wave changes "
        f"({args.dashboards} dashboards; check results every {CHECK_EVERY:.0f} s meanwhile)"
    )
    if delays:
        d = sorted(delays)
        print(
            f"  a wave change reached the open release pages: p50 {pct(d, 50):.2f} s, "
            f"p95 {pct(d, 95):.2f} s, max {d[-1]:.2f} s ({len(changes)} changes × "
            f"{args.pages} pages)"
        )
    print(f"  load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

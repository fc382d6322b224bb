"""The demo organisation, and the zero-settings demo run from a fresh clone."""

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from django.apps import apps

from apps.accounts.authentication import hash_key
from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify
from apps.demo.seed import DEMO_PASSWORD, DEMO_USERS, demo_token_renew, seed_demo
from apps.demo.steps import ERROR_RATE_THRESHOLD, HEALTH_PATH, IN_FLIGHT_VERSION
from apps.releases import rules
from apps.releases.models import Phase, Release
from apps.releases.selectors import release_facts, release_status
from apps.rollouts import delivery
from apps.rollouts.models import CheckResult, Wave
from apps.signoffs.eligibility import signoff_roles

ROOT = Path(__file__).resolve().parents[2]
STATUS_KEYS = {
    "id",
    "name",
    "version",
    "application",
    "phase",
    "phase_entered_at",
    "blockers",
    "signoffs",
    "waves",
    "progress",
    "updated_at",
}
WAVE_KEYS = {
    "id",
    "name",
    "environment",
    "percentage",
    "state",
    "scheduled_at",
    "started_at",
    "finished_at",
}


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _release(app: str, version: str) -> Release:
    return Release.objects.get(application__name=app, version=version)


@pytest.mark.django_db
def test_seed_demo_run_twice_duplicates_nothing():
    first = seed_demo()
    counts = _row_counts()
    second = seed_demo()

    assert _row_counts() == counts
    assert len(first.created_releases) == 9
    assert second.created_releases == [] and second.created_users == []
    assert sorted(second.existing_releases) == sorted(first.created_releases)
    assert first.token and not second.token  # a key is shown once, when it is made


@pytest.mark.django_db
def test_demo_token_renewal_replaces_the_previous_key():
    first = seed_demo().token
    renewed = demo_token_renew()

    tokens = ApiToken.objects.filter(user__username="rita", name="demo")
    assert list(tokens.values_list("key_hash", flat=True)) == [hash_key(renewed)]
    assert renewed != first


@pytest.mark.django_db
def test_seed_demo_has_every_phase_and_one_wave_in_flight_on_the_simulated_deployer():
    seed_demo()

    assert set(Release.objects.values_list("phase", flat=True)) == set(Phase.values)
    in_flight = Wave.objects.filter(state__in=["deploying", "verifying"])
    assert in_flight.count() == 1
    wave = in_flight.get()
    assert wave.deployer == "simulated"
    assert wave.plan.strategy == "canary"
    assert wave.plan.release.phase == "rollout"
    states = list(wave.plan.waves.order_by("position").values_list("state", flat=True))
    assert states[:2] == ["succeeded", wave.state]
    assert len({w.environment.region for w in wave.plan.waves.all()}) >= 3


@pytest.mark.django_db
def test_seed_demo_logins_work_with_the_printed_password():
    seed_demo()
    User = apps.get_model("auth", "User")
    for spec in DEMO_USERS:
        user = User.objects.get(username=spec.username)
        assert user.check_password(DEMO_PASSWORD)
        assert user.profile.time_zone == spec.time_zone
        held = set(user.role_grants.values_list("role", "team__slug"))
        assert held == {(role, team or None) for role, team in spec.grants}
        if not spec.grants:
            assert user.is_superuser


@pytest.mark.django_db
def test_seeded_testing_release_waits_for_alice_and_bob():
    seed_demo()
    release = _release("CRM", "2.5.0")
    User = apps.get_model("auth", "User")

    blockers = release_status(release)["blockers"]
    assert {b["code"] for b in blockers} == {"signoff_missing"}
    assert signoff_roles(User.objects.get(username="alice"), release) == ["qa"]
    assert signoff_roles(User.objects.get(username="bob"), release) == ["business_owner"]
    assert release_status(release)["signoffs"]["stale"] == 1


@pytest.mark.django_db
def test_seeded_release_with_every_wave_succeeded_is_ready_for_the_tick():
    seed_demo()
    release = _release("ERP", "8.1.1")

    assert release.phase == "rollout"
    assert rules.move_blockers(release_facts(release), "support") == []


@pytest.mark.django_db
def test_seeded_audit_trail_is_intact_and_replays_each_release_phase():
    seed_demo()

    verdict = audit_verify()
    assert verdict.broken is None, verdict.why
    assert verdict.checked > 0
    for release in Release.objects.all():
        events = AuditEvent.objects.filter(release_id=release.pk).order_by("id")
        assert events.first().verb == "release.created"
        path = ["planning"] + [e.after["phase"] for e in events.filter(verb="release.moved")]
        assert path[-1] == release.phase
        for before, after in zip(path, path[1:], strict=False):
            assert after in rules.ALLOWED_MOVES[before]


def test_demo_health_answers_up_on_the_version_being_rolled_out(client, settings):
    settings.RELEASEDECK_DEMO_ENDPOINTS = True

    response = client.get(HEALTH_PATH)

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["version"]) == ("ok", IN_FLIGHT_VERSION)
    assert 0 <= body["error_rate"] <= ERROR_RATE_THRESHOLD


def test_demo_health_is_read_only(client, settings):
    settings.RELEASEDECK_DEMO_ENDPOINTS = True
    assert client.post(HEALTH_PATH).status_code == 405


def test_demo_health_is_not_served_outside_the_demo(client, settings):
    settings.RELEASEDECK_DEMO_ENDPOINTS = False
    assert client.get(HEALTH_PATH).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_seeded_running_canary_checks_pass_against_the_demo_health_endpoint(live_server, settings):
    settings.RELEASEDECK_DEMO_ENDPOINTS = True
    seed_demo(base_url=live_server.url)
    wave = Wave.objects.get(state="verifying")
    checks = {check.kind: check for check in wave.checks.all()}

    assert set(checks) == {"http", "metric"}
    assert {c.config["url"] for c in checks.values()} == {f"{live_server.url}{HEALTH_PATH}"}
    for check in checks.values():
        # A session's Celery worker, started by an earlier test, may have run it first, and
        # even finished the wave's verification on its passing results (checked below).
        outcome = delivery.check_run(check_id=check.pk)
        wave.refresh_from_db()
        assert outcome in ("passed", "not due") or (
            outcome == "not running" and wave.state == "succeeded"
        ), (outcome, wave.state)
    seen = CheckResult.objects.filter(wave=wave)
    http, metric = (seen.filter(wave_check=checks[kind]).first() for kind in ("http", "metric"))
    assert http is not None and http.ok and http.value == IN_FLIGHT_VERSION
    assert metric is not None and metric.ok
    assert 0 <= float(metric.value) <= ERROR_RATE_THRESHOLD
    # The waves after it check the same endpoint once they bake.
    later = wave.plan.waves.filter(position__gt=wave.position)
    assert later.exists()
    assert all(sorted(w.checks.values_list("kind", flat=True)) == ["http", "metric"] for w in later)


# The fresh clone: no settings at all, real processes, real HTTP.

# Everything else a developer's shell may hold is left out, as on a new machine.
KEPT_ENVIRONMENT = ("PATH", "HOME")
START_TIMEOUT = 90
ENGINE_TIMEOUT = 60
STOP_TIMEOUT = 45
RESULTS_TIMEOUT = 60
RESTART_TIMEOUT = 60


class Output:
    """Collects a process's output in a thread, so a full pipe never blocks it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with self._changed:
                self._lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        with self._changed:
            self._lines.append("")  # end of output
            self._changed.notify_all()

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float, process: subprocess.Popen) -> re.Match:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = re.search(pattern, "".join(self._lines), re.MULTILINE)
                if match:
                    return match
                if process.poll() is not None and self._lines and self._lines[-1] == "":
                    pytest.fail(f"rundemo exited ({process.returncode}):\n{self.text_tail()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"no {pattern!r} in time:\n{self.text_tail()}")
                self._changed.wait(timeout=1)

    def text_tail(self, chars: int = 6000) -> str:
        return "".join(self._lines)[-chars:]


def _copy_checkout(target: Path) -> None:
    """What a fresh clone holds: tracked files, plus new files not yet committed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_processes(session: int) -> list[tuple[int, str]]:
    """Live processes of a session (rundemo runs as a session leader; its children stay in it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        state, sid = fields[0], int(fields[3])
        if sid == session and state not in ("Z", "X"):
            found.append((int(entry.name), cmdline))
    return found


def _kill_session(session: int) -> None:
    for pid, _ in _session_processes(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _parent(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _worker_pid(rundemo: subprocess.Popen) -> int:
    """The Celery worker's main process (its pool processes share its command line)."""
    return next(
        pid
        for pid, cmdline in _session_processes(rundemo.pid)
        if "celery -A config worker" in cmdline and _parent(pid) == rundemo.pid
    )


def _wait_until(what: str, found: Callable[[], Any], timeout: float, output: "Output") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        assert time.monotonic() < deadline, f"no {what} in time:\n{output.text_tail()}"
        time.sleep(1)
    return value


def _get(opener: urllib.request.OpenerDirector, url: str, **headers: str) -> Any:
    return opener.open(urllib.request.Request(url, headers=headers), timeout=15)


@pytest.fixture
def fresh_clone(tmp_path: Path) -> Iterator[Path]:
    clone = tmp_path / "releasedeck"
    _copy_checkout(clone)
    yield clone


@pytest.mark.worker
def test_rundemo_from_a_fresh_clone_serves_pages_api_and_runs_worker_and_beat(fresh_clone):
    assert not (fresh_clone / "var").exists()
    port = _free_port()
    env = {name: os.environ[name] for name in KEPT_ENVIRONMENT if name in os.environ}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--port", str(port)],
        cwd=fresh_clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = Output(process.stdout)
    try:
        output.wait_for(r"^Press Ctrl-C to stop\.", START_TIMEOUT, process)
        url = output.wait_for(r"^ReleaseDeck is running at (http://\S+/)$", 1, process)[1]
        assert url == f"http://127.0.0.1:{port}/"
        token = output.wait_for(r"^API token for rita: (\S+)$", 1, process)[1]

        def release_id(phase: str, label: str) -> int:
            pattern = rf"^  {phase}\s+{re.escape(label)}\s+{re.escape(url)}releases/(\d+)/$"
            return int(output.wait_for(pattern, 1, process)[1])

        testing_id = release_id("testing", "CRM 2.5.0")
        in_flight_id = release_id("rollout", "CRM 2.4.0")
        finished_waves_id = release_id("rollout", "ERP 8.1.1")

        # A person signs in through the login page and opens a release.
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        _get(browser, f"{url}accounts/login/").read()
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        form = urllib.parse.urlencode(
            {
                "username": "rita",
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": csrf,
                "next": f"/releases/{testing_id}/",
            }
        ).encode()
        signed_in = browser.open(
            urllib.request.Request(
                f"{url}accounts/login/", data=form, headers={"Referer": f"{url}accounts/login/"}
            ),
            timeout=15,
        )
        assert signed_in.url == f"{url}releases/{testing_id}/"
        page = _get(browser, f"{url}releases/{testing_id}/")
        assert page.status == 200
        assert "2.5.0" in page.read().decode()

        # A script reads a release's status with the printed token, and only with it.
        api = urllib.request.build_opener()
        status_url = f"{url}api/v1/releases/{in_flight_id}/status/"
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(api, status_url)
        assert refused.value.code in (401, 403)
        response = _get(api, status_url, Authorization=f"Token {token}")
        assert response.status == 200
        status = json.load(response)
        assert set(status) == STATUS_KEYS
        assert set(status["signoffs"]) == {"required", "approved", "rejected", "stale"}
        assert status["waves"] and all(set(w) == WAVE_KEYS for w in status["waves"])
        assert (status["application"], status["version"], status["phase"]) == (
            "CRM",
            "2.4.0",
            "rollout",
        )

        # Beat's tick finds the release whose waves all succeeded; the worker moves it on.
        deadline = time.monotonic() + ENGINE_TIMEOUT
        phase = None
        while phase != "support":
            assert time.monotonic() < deadline, f"still {phase}:\n{output.text_tail()}"
            time.sleep(1)
            finished = _get(
                api,
                f"{url}api/v1/releases/{finished_waves_id}/status/",
                Authorization=f"Token {token}",
            )
            phase = json.load(finished)["phase"]

        # The running canary checks the demo's own health endpoint: results arrive in the console.
        def api_get(path: str) -> Any:
            return json.load(_get(api, f"{url}api/v1/{path}", Authorization=f"Token {token}"))

        in_flight = api_get(f"releases/{in_flight_id}/status/")
        wave_id = next(w["id"] for w in in_flight["waves"] if w["state"] == "verifying")
        checks = {c["id"]: c["name"] for c in api_get(f"waves/{wave_id}/checks/")["results"]}
        assert sorted(checks.values()) == ["Error rate", "Health"]

        def passed_since(moment: datetime) -> set[str]:
            results = api_get(f"waves/{wave_id}/check-results/")["results"]
            return {
                checks[r["check_id"]]
                for r in results
                if r["ok"] and datetime.fromisoformat(r["at"]) > moment
            }

        epoch = datetime.min.replace(tzinfo=UTC)
        _wait_until(
            "passing results", lambda: len(passed_since(epoch)) == 2, RESULTS_TIMEOUT, output
        )
        console = _get(browser, f"{url}releases/{in_flight_id}/console/").read().decode()
        assert "Health</strong> passed" in console
        assert "Error rate</strong> passed" in console
        assert f"<code>{IN_FLIGHT_VERSION}</code>" in console

        # A worker killed mid-demo is started again; the demo carries on without it ending.
        killed = _worker_pid(process)
        pool = [p for p, _ in _session_processes(process.pid) if _parent(p) == killed]
        assert pool  # the worker runs its tasks in pool processes
        os.kill(killed, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        output.wait_for(
            r"^worker stopped unexpectedly \(exit code -9\).*restarting it",
            RESTART_TIMEOUT,
            process,
        )
        output.wait_for(r"^worker restarted \(pid \d+, restart 1\)\.$", RESTART_TIMEOUT, process)
        assert _worker_pid(process) != killed
        _wait_until(
            "results from the restarted worker",
            lambda: len(passed_since(killed_at)) == 2,
            RESULTS_TIMEOUT,
            output,
        )
        # Nothing the killed worker left behind (its pool processes) survives it.
        alive = {p for p, _ in _session_processes(process.pid)}
        assert alive.isdisjoint(pool)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT) == 0, output.text_tail()
        deadline = time.monotonic() + 10
        while _session_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(process.pid) == []
    finally:
        _kill_session(process.pid)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)

    # The move was the engine's: requested by nobody, carried out by the worker.
    with sqlite3.connect(fresh_clone / "var" / "releasedeck.sqlite3") as db:
        moves = db.execute(
            "SELECT m.state, m.requested_by_id FROM releases_phasemove m "
            "JOIN releases_release r ON r.id = m.release_id "
            "WHERE r.id = ? AND m.to_phase = 'support'",
            [finished_waves_id],
        ).fetchall()
    assert moves == [("done", None)]
    verified = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=fresh_clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout


@pytest.mark.django_db
def test_tom_manages_crm_releases_and_approves_erp_ones():
    from apps.accounts.permissions import Action, can
    from apps.releases.models import Release
    from apps.signoffs.eligibility import signoff_roles

    seed_demo()
    tom = apps.get_model("auth", "User").objects.get(username="tom")
    crm = Release.objects.get(application__slug="crm", version="3.0.0")
    erp = Release.objects.get(application__slug="erp", version="8.2.0")
    assert can(tom, Action.EDIT_RELEASE, crm)
    assert not can(tom, Action.EDIT_RELEASE, erp)
    assert signoff_roles(tom, erp) == ["security"]
    assert signoff_roles(tom, crm) == []

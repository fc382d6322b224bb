"""The command line as a pipeline runs it: the installed `releasedeck` script, in its own
process, against gunicorn serving the test database and a real Celery worker; the test stands
in for beat and for the people who sign off."""

import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.services import api_token_issue
from apps.releases import services as rs
from apps.releases.models import Release
from apps.releases.services import releases_tick
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.runner import rollouts_tick
from apps.signoffs import services as so
from apps.stakeholders import services as sh
from tests.celery_worker import wait_for
from tests.factories import ApplicationFactory, EnvironmentFactory
from tests.loopback import loopback_server

from .conftest import WebServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RELEASEDECK = str(Path(sys.executable).with_name("releasedeck"))


class Pipeline:
    """Runs `releasedeck` as a pipeline step would, with its own config directory."""

    def __init__(self, server: WebServer, home: Path) -> None:
        self.server = server
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEDECK_")} | {
            "XDG_CONFIG_HOME": str(home)
        }

    def run(
        self, *args: str, token: str | None = None, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [RELEASEDECK, *args],
            env=self._env(token) | (extra_env or {}),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, *args: str, token: str | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [RELEASEDECK, *args],
            env=self._env(token),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _env(self, token: str | None) -> dict[str, str]:
        """A token given here comes through the environment, as a CI secret would, and
        overrides the one `login` stored."""
        if not token:
            return self.env
        return self.env | {"RELEASEDECK_URL": self.server.url, "RELEASEDECK_TOKEN": token}


@pytest.fixture
def beat() -> Iterator[None]:
    """Stand in for Celery beat: tick the engine every 0.3 s while the test runs."""
    stop = threading.Event()

    def tick() -> None:
        try:
            while not stop.is_set():
                rollouts_tick()
                releases_tick()
                stop.wait(0.3)
        finally:
            connection.close()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


@pytest.fixture
def pipeline(web_server: WebServer, tmp_path: Path) -> Pipeline:
    return Pipeline(web_server, tmp_path / "config")


def ready_for_testing(release_id: int, rm, *, qa, business_owner, environment) -> None:
    """What people do between the pipeline's steps: stakeholders, policy, one webhook wave."""
    sh.stakeholder_add(release_id=release_id, user_id=qa.pk, role="qa", actor=rm)
    sh.stakeholder_add(
        release_id=release_id, user_id=business_owner.pk, role="business_owner", actor=rm
    )
    so.policy_set(
        release_id=release_id,
        requirements=[{"role": "qa", "count": 1}, {"role": "business_owner", "count": 1}],
        actor=rm,
    )
    ro.plan_set(release_id=release_id, strategy="big_bang", actor=rm)
    ro.wave_add(
        release_id=release_id,
        name="prod-eu 100%",
        environment_id=environment.pk,
        bake_minutes=0,
        deployer="webhook",
        actor=rm,
    )
    rs.release_move(release_id=release_id, to="preparation", actor=rm)
    rs.release_move(release_id=release_id, to="testing", actor=rm)


def planned_window() -> list[str]:
    start = timezone.now() + timedelta(days=1)
    return [
        "--planned-start",
        start.isoformat(),
        "--planned-end",
        (start + timedelta(hours=2)).isoformat(),
    ]


def test_a_pipeline_creates_a_release_waits_on_its_gate_and_reports_the_deploy(
    pipeline, celery_worker, beat, rita, alice, bob, tmp_path
):
    ApplicationFactory(name="CRM", slug="crm")
    with loopback_server(lambda *a: (202, {"accepted": True})) as (tool_url, tool):
        env = EnvironmentFactory(
            name="prod-eu", deploy_url=f"{tool_url}/deploy", deploy_secret="s3cret"
        )
        rm_token = api_token_issue(user=rita, name="pipeline")

        login = pipeline.run("login", "--url", pipeline.server.url, "--token", rm_token)
        assert login.returncode == 0, login.stderr
        config = tmp_path / "config" / "releasedeck" / "config.toml"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600

        created = pipeline.run(
            "release", "create", "-a", "crm", "--version", "2.0.0", "--build", "git:2.0.0",
            "--scope", "Invoices: new screen.", *planned_window(), "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        release_id = json.loads(created.stdout)["id"]
        assert Release.objects.get(pk=release_id).created_by == rita
        ready_for_testing(release_id, rita, qa=alice, business_owner=bob, environment=env)

        waiting = pipeline.start(
            "gate", "wait", str(release_id), "--to", "rollout", "--timeout", "90s",
            "--interval", "0.5", "--json",
        )  # fmt: skip
        # The gate refuses until both approvers have signed off; the wait goes on meanwhile.
        time.sleep(2)
        assert waiting.poll() is None
        for person in (alice, bob):
            signed = pipeline.run(
                "signoff", "approve", str(release_id), "--comment", "Looks good",
                token=api_token_issue(user=person, name="cli"),
            )  # fmt: skip
            assert signed.returncode == 0, signed.stderr
        out, err = waiting.communicate(timeout=90)
        assert waiting.returncode == 0, (out, err)
        assert json.loads(out)["result"] == "reached"
        assert "signoff_missing" in err  # what it waited for was shown while it waited

        # The engine starts the wave and asks the deploy tool; the tool's job reports back.
        deploys = wait_for(lambda: tool.received("POST"), timeout=60, interval=0.3)
        assert deploys, celery_worker.log()
        request = json.loads(deploys[0]["body"])
        # The session's worker was started without this server's address as its public URL.
        report_url = pipeline.server.url + "/api/" + request["report_url"].split("/api/", 1)[1]
        reported = pipeline.run(
            "wave", "report", "--report-url", report_url, "--key", request["key"],
            "--state", "succeeded", "--message", "Deployed 2.0.0", "--json",
        )  # fmt: skip
        assert reported.returncode == 0, reported.stderr
        assert json.loads(reported.stdout)["state"] == "succeeded"

        support = pipeline.run(
            "gate", "wait", str(release_id), "--to", "support", "--timeout", "60s",
            "--interval", "0.5",
        )  # fmt: skip
        assert support.returncode == 0, (support.stdout, support.stderr)
    wave = Wave.objects.get(plan__release_id=release_id)
    assert wave.state == "succeeded"

    status = pipeline.run("release", "status", str(release_id), "--json")
    assert json.loads(status.stdout)["phase"] == "support"
    evidence = tmp_path / "audit.csv"
    exported = pipeline.run(
        "audit", "export", "--release", str(release_id), "--format", "csv", "-o", str(evidence)
    )
    assert exported.returncode == 0, exported.stderr
    csv = evidence.read_text()
    for verb in (
        "release.created",
        "signoff.approved",
        "release.move_requested",
        "wave.state_changed",
    ):
        assert verb in csv, verb


def test_a_bad_token_exits_with_the_auth_code(pipeline):
    result = pipeline.run("login", "--url", pipeline.server.url, "--token", "not-a-token")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "token" in result.stderr.lower()
    assert not (Path(pipeline.env["XDG_CONFIG_HOME"]) / "releasedeck").exists()


def test_a_gate_still_blocked_at_the_timeout_exits_4_with_its_blockers(
    pipeline, celery_worker, rita, alice, bob
):
    ApplicationFactory(name="CRM", slug="crm")
    env = EnvironmentFactory(name="prod-eu")
    token = api_token_issue(user=rita, name="pipeline")
    created = pipeline.run(
        "release", "create", "-a", "crm", "--version", "2.0.0", "--scope", "Search.",
        *planned_window(), "--json", token=token,
    )  # fmt: skip
    release_id = json.loads(created.stdout)["id"]
    ready_for_testing(release_id, rita, qa=alice, business_owner=bob, environment=env)
    so.signoff_give(release_id=release_id, decision="approve", actor=alice)

    result = pipeline.run(
        "gate", "wait", str(release_id), "--to", "rollout", "--timeout", "2s", "--interval", "0.5",
        token=token,
    )  # fmt: skip
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "Timed out" in result.stdout
    assert "[signoff_missing]" in result.stdout
    assert Release.objects.get(pk=release_id).phase == "testing"


def test_a_rejection_ends_the_wait_with_exit_1(pipeline, rita, alice, bob):
    ApplicationFactory(name="CRM", slug="crm")
    env = EnvironmentFactory(name="prod-eu")
    token = api_token_issue(user=rita, name="pipeline")
    created = pipeline.run(
        "release", "create", "-a", "crm", "--version", "2.0.0", "--scope", "Search.",
        *planned_window(), "--json", token=token,
    )  # fmt: skip
    release_id = json.loads(created.stdout)["id"]
    ready_for_testing(release_id, rita, qa=alice, business_owner=bob, environment=env)
    rejected = pipeline.run(
        "signoff", "reject", str(release_id), "--comment", "Invoices are wrong",
        token=api_token_issue(user=alice, name="cli"),
    )  # fmt: skip
    assert rejected.returncode == 0, rejected.stderr

    result = pipeline.run(
        "gate", "wait", str(release_id), "--to", "rollout", "--timeout", "60s", "--json",
        token=token,
    )  # fmt: skip
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["result"] == "refused"
    assert "signoff_rejected" in {b["code"] for b in answer["blockers"]}


def test_a_deploy_tool_job_reports_a_failure_signed_with_the_deploy_secret(
    pipeline, celery_worker, beat, rita, alice, bob, oscar
):
    ApplicationFactory(name="CRM", slug="crm")
    with loopback_server(lambda *a: (202, {"accepted": True})) as (tool_url, tool):
        env = EnvironmentFactory(
            name="prod-eu", deploy_url=f"{tool_url}/deploy", deploy_secret="s3cret"
        )
        token = api_token_issue(user=rita, name="pipeline")
        created = pipeline.run(
            "release", "create", "-a", "crm", "--version", "2.0.0", "--scope", "Search.",
            *planned_window(), "--json", token=token,
        )  # fmt: skip
        release_id = json.loads(created.stdout)["id"]
        ready_for_testing(release_id, rita, qa=alice, business_owner=bob, environment=env)
        for person in (alice, bob):
            so.signoff_give(release_id=release_id, decision="approve", actor=person)
        rs.release_move(release_id=release_id, to="rollout", actor=rita)
        assert wait_for(lambda: tool.received("POST"), timeout=60, interval=0.3), (
            celery_worker.log()
        )
        wave = Wave.objects.get(plan__release_id=release_id)

        # No key given: the operator's login finds the call the wave waits on.
        reported = pipeline.run(
            "wave", "report", str(wave.pk), "--state", "failed", "--message", "pods crashlooping",
            token=api_token_issue(user=oscar, name="cli"),
            extra_env={"RELEASEDECK_DEPLOY_SECRET": "s3cret"},
        )  # fmt: skip
        assert reported.returncode == 0, reported.stderr
        wave.refresh_from_db()
        assert wave.state in ("failed", "halted"), wave.state

        forged = pipeline.run(
            "wave", "report", str(wave.pk), "--state", "succeeded", "--key", str(uuid.uuid4()),
            "--deploy-secret", "not-the-secret", token=token,
        )  # fmt: skip
        assert forged.returncode == 3, forged.stderr
        assert "signature" in forged.stderr

"""The rollout engine end to end: real worker, real loopback HTTP for checks and deploy tools."""

import json
import time

import pytest

from apps.audit.models import AuditEvent
from apps.releases.models import Release
from apps.releases.services import releases_tick
from apps.rollouts import services as ro
from apps.rollouts.models import CheckResult, Wave
from apps.rollouts.runner import rollouts_tick
from tests.builders import advance, planned_release
from tests.celery_worker import wait_for
from tests.factories import EnvironmentFactory
from tests.loopback import loopback_server
from tests.rollouts.test_engine_steps import report_sent_deploys

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def drive(until, *, timeout: float = 30.0):
    """Stand in for beat: tick every 0.3 s until `until()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rollouts_tick()
        releases_tick()
        result = until()
        if result:
            return result
        time.sleep(0.3)
    return until()


def canary_release(
    rita, alice, bob, *, health_url: str, deployer: str = "simulated", policy: str = "halt"
):
    release = planned_release(rita, qa=alice, business_owner=bob)
    envs = [
        EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin"),
        EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York"),
        EnvironmentFactory(name="prod-apac", region="apac", time_zone="Asia/Singapore"),
    ]
    waves = ro.plan_apply_strategy(
        release_id=release.pk, strategy="canary", environment_ids=[e.pk for e in envs], actor=rita
    )
    for wave in waves:
        ro.wave_update(
            wave_id=wave.pk, actor=rita, bake_minutes=0, deployer=deployer, failure_policy=policy
        )
        ro.check_add(
            wave_id=wave.pk,
            name="health",
            kind="http",
            actor=rita,
            config={
                "url": health_url,
                "expect_status": 200,
                "expect_version": "2.0.0",
                "version_field": "version",
            },
            interval_seconds=1,
            failures_to_fail=2,
        )
    return advance(release, rita, qa=alice, business_owner=bob, to="rollout")


def test_canary_over_three_regions_runs_to_support_on_its_own(celery_worker, rita, alice, bob):
    with loopback_server(lambda *a: (200, {"version": "2.0.0"})) as (url, health):
        release = canary_release(rita, alice, bob, health_url=f"{url}/health")
        assert wait_for(lambda: True, timeout=0)
        done = drive(lambda: Release.objects.get(pk=release.pk).phase == "support", timeout=60)
    assert done, list(
        Wave.objects.filter(plan__release=release).values_list("name", "state", "state_reason")
    )
    states = list(
        Wave.objects.filter(plan__release=release)
        .order_by("position")
        .values_list("state", flat=True)
    )
    assert states == ["succeeded"] * 6
    assert CheckResult.objects.filter(wave__plan__release=release, ok=True).count() >= 6
    assert health.received("GET")
    starts = list(
        Wave.objects.filter(plan__release=release)
        .order_by("position")
        .values_list("started_at", flat=True)
    )
    assert starts == sorted(starts)  # one after another, never overlapping out of order


def test_failing_metric_halts_the_wave_with_its_reason(celery_worker, rita, alice, bob):
    with loopback_server(lambda *a: (200, {"version": "1.9.9"})) as (url, _):
        release = canary_release(rita, alice, bob, health_url=f"{url}/health", policy="halt")
        first = Wave.objects.get(plan__release=release, position=1)
        halted = drive(lambda: Wave.objects.get(pk=first.pk).state == "halted", timeout=30)
    first.refresh_from_db()
    assert halted, (first.state, first.state_reason)
    assert "health failed 2 times in a row" in first.state_reason
    assert "1.9.9" in first.state_reason  # the value it saw
    assert Release.objects.get(pk=release.pk).phase == "rollout"
    assert Wave.objects.get(plan__release=release, position=2).state == "pending"


def test_failing_check_rolls_back_every_deployed_wave_newest_first(
    celery_worker, rita, alice, bob, oscar
):
    answers = {"version": "2.0.0"}

    def respond(method, path, headers, body):
        return (202, {"accepted": True}) if method == "POST" else (200, dict(answers))

    def rollback_targets(tool):
        bodies = [json.loads(r["body"]) for r in tool.received("POST")]
        return [b["wave"]["name"] for b in bodies if b["action"] == "rollback"]

    with loopback_server(respond) as (url, tool):
        for name in ("prod-eu", "prod-us", "prod-apac"):
            EnvironmentFactory(name=name, deploy_url=f"{url}/deploy", deploy_secret="s3cret")
        release = canary_release(
            rita, alice, bob, health_url=f"{url}/health", deployer="webhook", policy="rollback"
        )
        waves = list(Wave.objects.filter(plan__release=release).order_by("position"))
        # The second wave bakes long enough for its check to turn bad while it verifies.
        Wave.objects.filter(pk=waves[1].pk).update(bake_minutes=10)

        def deploy_tool_reports_success():
            report_sent_deploys(release)
            return Wave.objects.get(pk=waves[1].pk).state == "verifying"

        assert drive(deploy_tool_reports_success, timeout=30)
        answers["version"] = "broken"
        assert drive(lambda: len(rollback_targets(tool)) >= 2, timeout=30)
        # Until the tool confirms, the release is still rolling out, the waves rolling back.
        assert Release.objects.get(pk=release.pk).phase == "rollout"

        def deploy_tool_confirms_rollbacks():
            report_sent_deploys(release, "rollback")
            return Release.objects.get(pk=release.pk).phase == "rolled_back"

        assert drive(deploy_tool_confirms_rollbacks, timeout=30)
        targets = rollback_targets(tool)
    assert targets == [waves[1].name, waves[0].name]  # newest first, each once
    states = list(
        Wave.objects.filter(plan__release=release)
        .order_by("position")
        .values_list("state", flat=True)
    )
    assert states[:3] == ["rolled_back", "rolled_back", "pending"]
    event = AuditEvent.objects.get(verb="rollout.auto_rollback", release_id=release.pk)
    assert "health failed 2 times in a row" in event.reason
    assert "broken" in event.reason

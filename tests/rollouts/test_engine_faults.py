"""The engine under faults: a worker killed mid-step, Redis restarted empty, duplicate messages.

Each test owns its Redis, worker and beat (see faults.py); beat is the only tick. A deploy tool
on loopback takes each call key once and reports success from its own thread, as a real tool
would through the report endpoint.
"""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts import tasks
from apps.rollouts.models import Check, CheckResult, DeployCall, Wave
from apps.rollouts.runner import rollouts_tick
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory
from tests.rollouts.faults import DeployTool, Engine, own_engine, wait_until
from tests.rollouts.test_engine_steps import tool_report

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REGIONS = (
    ("prod-eu", "eu", "Europe/Berlin"),
    ("prod-us", "us", "America/New_York"),
    ("prod-apac", "apac", "Asia/Singapore"),
)
WORKER_KILLS = 6


@pytest.fixture
def engine(django_db_setup: None, tmp_path: Path) -> Iterator[Engine]:
    """Redis, worker and beat of this test's own; stopped before the database is flushed."""
    with own_engine(tmp_path) as own:
        yield own


def webhook_canary(rita, alice, bob, *, tool_url: str) -> Release:
    """A release in rollout: canary over three regions, webhook deploys, an http check per wave."""
    envs = [
        EnvironmentFactory(
            name=name,
            region=region,
            time_zone=tz,
            deploy_url=f"{tool_url}/deploy",
            deploy_secret="s3cret",
        )
        for name, region, tz in REGIONS
    ]
    release = planned_release(rita, qa=alice, business_owner=bob)
    waves = ro.plan_apply_strategy(
        release_id=release.pk, strategy="canary", environment_ids=[e.pk for e in envs], actor=rita
    )
    for wave in waves:
        ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=0, deployer="webhook")
        ro.check_add(
            wave_id=wave.pk,
            name="health",
            kind="http",
            actor=rita,
            config={
                "url": f"{tool_url}/health",
                "expect_status": 200,
                "expect_version": "2.0.0",
                "version_field": "version",
            },
            interval_seconds=1,
            failures_to_fail=3,
        )
    return advance(release, rita, qa=alice, business_owner=bob, to="rollout")


def phase(release: Release) -> str:
    return Release.objects.values_list("phase", flat=True).get(pk=release.pk)


def waves_of(release: Release) -> list[Wave]:
    return list(Wave.objects.filter(plan__release=release).order_by("position"))


def transitions(release: Release) -> Counter:
    """How many times each wave entered each state, from the audit trail."""
    events = AuditEvent.objects.filter(verb="wave.state_changed", release_id=release.pk)
    return Counter((int(e.object_id), e.after["state"]) for e in events)


def assert_rolled_out_once(release: Release, tool: DeployTool) -> None:
    """Every wave succeeded, each went through each state once, each deploy reached the tool
    under one key and was carried out once; nothing is left pending or due."""
    waves = waves_of(release)
    ids = [w.pk for w in waves]
    assert phase(release) == "support"
    assert [w.state for w in waves] == ["succeeded"] * len(waves)
    assert all(w.next_step_at is None for w in waves)
    seen = transitions(release)
    for wave_id in ids:
        for state in ("deploying", "verifying", "succeeded"):
            assert seen[(wave_id, state)] == 1, (wave_id, state, seen)
    once = Counter(dict.fromkeys(ids, 1))
    assert tool.keys_per_wave("deploy") == once
    assert tool.accepted_per_wave("deploy") == once
    assert not tool.accepted_per_wave("rollback")
    calls = DeployCall.objects.filter(wave__plan__release=release)
    assert sorted(calls.values_list("wave_id", "action", "round", "state")) == [
        (wave_id, "deploy", 1, "succeeded") for wave_id in ids
    ]
    assert not release.moves.filter(state="pending").exists()


def test_worker_killed_mid_step_again_and_again_deploys_each_wave_exactly_once(
    engine: Engine, rita, alice, bob, oscar
):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # A slow answer keeps the worker between "sent" and "recorded" long enough to be hit there.
    tool = DeployTool(oscar, report_after=3.0, answer_delay=(0.3, 0.6))
    cut_short: list[str] = []
    mid_send = 0
    with tool.serving() as url:
        engine.start()
        release = webhook_canary(rita, alice, bob, tool_url=url)
        while engine.worker_kills < WORKER_KILLS:
            if engine.worker_kills % 2:
                # Between sending a deploy request and recording its answer.
                mid_send += tool.answering.wait(timeout=8)
            else:
                time.sleep(rng.uniform(1.0, 2.0))
            if phase(release) != "rollout":
                break
            cut_short += engine.kill_worker()
            engine.restart_worker()
        done = wait_until(lambda: phase(release) == "support", timeout=60, interval=0.2)
    print(
        f"seed={seed} kills={engine.worker_kills} mid-send={mid_send} tasks cut short={len(cut_short)} "
        f"{Counter(name.split('[')[0] for name in cut_short)} raw deliveries="
        f"{len(tool.deliveries)} repeats={tool.repeats()}"
    )
    assert done, (
        seed,
        [(w.name, w.state, w.state_reason) for w in waves_of(release)],
        engine.logs(),
    )
    assert engine.worker_kills == WORKER_KILLS  # every kill landed while the release rolled out
    # Some kills must have cut a deploy request short, between sending and recording it.
    assert mid_send >= 2 and any("deploy_call_send" in name for name in cut_short), cut_short
    assert_rolled_out_once(release, tool)


def test_redis_restarted_empty_mid_rollout_loses_messages_but_no_step(
    engine: Engine, rita, alice, bob, oscar
):
    tool = DeployTool(oscar, report_after=0.5)
    with tool.serving() as url:
        engine.start()
        release = webhook_canary(rita, alice, bob, tool_url=url)
        waves = waves_of(release)

        # Redis dies under a running worker and beat while the second wave is under way.
        assert wait_until(lambda: tool.accepted_per_wave()[waves[1].pk], timeout=30)
        engine.restart_redis(down_for=2)

        # Redis dies holding the only message for a step: the worker is down when the deploy
        # tool reports on the fourth wave, so the step that report enqueued waits in Redis.
        target = waves[3]
        assert wait_until(lambda: tool.accepted_per_wave()[target.pk], timeout=40)
        engine.kill_worker()
        step = ("apps.rollouts.tasks.wave_step", f"({target.pk},)")
        assert wait_until(lambda: step in engine.redis.queued_tasks(), timeout=10)
        engine.restart_redis(down_for=2)
        assert step not in engine.redis.queued_tasks()
        engine.restart_worker()

        done = wait_until(lambda: phase(release) == "support", timeout=60, interval=0.2)
    print(f"raw deliveries={len(tool.deliveries)} repeats={tool.repeats()}")
    assert done, ([(w.name, w.state, w.state_reason) for w in waves_of(release)], engine.logs())
    assert engine.redis.starts == 3
    assert_rolled_out_once(release, tool)


def twice_at_once(task: Callable[[int], None], arg: int, *, stagger: float = 0.0) -> None:
    """Run a task's body in two threads, as two deliveries of one message: released together,
    or the second `stagger` seconds later, while the first is talking to the network."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(delay: float) -> None:
        try:
            barrier.wait(5)
            time.sleep(delay)
            task(arg)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(d,)) for d in (0.0, stagger)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_duplicate_step_send_and_check_messages_act_once(engine: Engine, rita, alice, bob, oscar):
    engine.start(worker=False, beat=False)  # only a broker: the duplicates run right here
    tool = DeployTool(oscar, auto_report=False, answer_delay=(0.5, 0.5), health_delay=0.5)
    with tool.serving() as url:
        release = webhook_canary(rita, alice, bob, tool_url=url)
        first, second = waves_of(release)[:2]
        rollouts_tick()  # arms the first wave

        twice_at_once(tasks.wave_step, first.pk)
        call = DeployCall.objects.get(wave=first)
        assert Wave.objects.get(pk=first.pk).state == "deploying"

        twice_at_once(tasks.deploy_call_send, call.pk, stagger=0.2)
        call.refresh_from_db()
        assert (call.state, call.attempts) == ("sent", 1)
        assert len(tool.deliveries) == 1

        tool_report(call)
        twice_at_once(tasks.wave_step, first.pk)
        assert Wave.objects.get(pk=first.pk).state == "verifying"

        check = Check.objects.get(wave=first)
        twice_at_once(tasks.check_run, check.pk, stagger=0.2)
        assert CheckResult.objects.filter(wave_check=check).count() == 1
        assert tool.health_requests == 1

        # The wave waits for its next look (after the check's first run), then both go.
        assert wait_until(
            lambda: Wave.objects.filter(pk=first.pk, next_step_at__lte=timezone.now()).exists(),
            timeout=5,
        )
        twice_at_once(tasks.wave_step, first.pk)

    assert Wave.objects.get(pk=first.pk).state == "succeeded"
    # The step that finished the first wave carried on with the next one, due at once: of the
    # two deliveries, one did, and it started that wave once, with one deploy call.
    calls = DeployCall.objects.filter(wave__plan__release=release, action="deploy")
    assert sorted(calls.values_list("wave_id", "round")) == [(first.pk, 1), (second.pk, 1)]
    seen = transitions(release)
    assert {
        state: seen[(first.pk, state)] for state in ("deploying", "verifying", "succeeded")
    } == {
        "deploying": 1,
        "verifying": 1,
        "succeeded": 1,
    }
    assert seen[(second.pk, "deploying")] == 1
    second.refresh_from_db()
    assert second.state == "deploying" and second.next_step_at is not None

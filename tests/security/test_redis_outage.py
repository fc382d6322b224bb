"""Redis goes away and comes back: the worker lives through it, the API keeps answering.

A private redis-server of each test's own (tests/rollouts/faults.py) is stopped with `shutdown
nosave` and started again empty, again and again: under a worker with a task in flight, and
under the web side, whose cache, sessions and throttles then fall back to the database while
what it cannot send is left for the tick to find.
"""

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client, override_settings
from kombu.exceptions import OperationalError
from rest_framework.test import APIRequestFactory

from apps.accounts.services import api_token_create
from apps.core import api, cache
from apps.releases.models import PhaseMove
from apps.rollouts.delivery import report_token
from apps.rollouts.models import DeployCall, Wave
from apps.rollouts.transitions import wave_transition
from tests.builders import advance, planned_release
from tests.rollouts.faults import (
    DeployTool,
    Engine,
    RedisServer,
    free_port,
    own_engine,
    publishing_to,
    wait_until,
)
from tests.rollouts.test_engine_faults import assert_rolled_out_once, phase, webhook_canary

OUTAGES = 4


def shutdown_nosave(server: RedisServer) -> None:
    try:
        server.client().shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server hangs up as it exits
    server.process.wait(10)


def restart(server: RedisServer, *, after: float = 0.0) -> None:
    time.sleep(after)
    server.start()
    server.wait_ready()


# The worker


@pytest.fixture
def engine(django_db_setup: None, tmp_path: Path) -> Iterator[Engine]:
    with own_engine(tmp_path) as own:
        yield own


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_lives_through_redis_restarts_with_a_message_in_flight(
    engine: Engine, rita, alice, bob, oscar
):
    # Slow answers keep a deploy call or a check running in the worker when Redis goes.
    tool = DeployTool(oscar, report_after=0.3, answer_delay=(0.8, 0.8), health_delay=0.3)
    with tool.serving() as url:
        engine.start()
        release = webhook_canary(rita, alice, bob, tool_url=url)
        for outage in range(OUTAGES):
            since = engine.worker.log_size()
            assert wait_until(tool.answering.is_set, timeout=30, interval=0.02), engine.logs()
            shutdown_nosave(engine.redis)
            restart(engine.redis, after=2.0)  # down long enough for the worker to notice
            # The worker reconnects to the new, empty Redis and carries on.
            reconnected = wait_until(
                lambda s=since: "Connected to" in engine.worker.log(s), timeout=30
            )
            assert reconnected and engine.worker.is_alive(), (outage, engine.logs())
        done = wait_until(lambda: phase(release) == "support", timeout=90, interval=0.2)
    log = engine.worker.log()
    assert done, engine.logs()
    assert "Unrecoverable error" not in log and "AttributeError" not in log, engine.logs()
    assert (engine.worker.starts, engine.redis.starts) == (1, 1 + OUTAGES)
    assert_rolled_out_once(release, tool)


# The web side


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Cache, sessions, throttles and the broker on a Redis of this test's own."""
    server = RedisServer(free_port(), tmp_path / "redis.log")
    restart(server)
    caches = {
        "default": {
            "BACKEND": "apps.core.cache.FailOpenRedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "outage",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    try:
        with override_settings(CACHES=caches), publishing_to(server.url):
            yield server
    finally:
        server.stop()


def token(user: Any) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="outage")
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def deploying_call(rita, alice, bob) -> DeployCall:
    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    Wave.objects.filter(pk=wave.pk).update(deploy_round=1)
    return DeployCall.objects.create(wave=wave, action="deploy", round=1, key=uuid.uuid4())


@pytest.mark.django_db(transaction=True)
def test_the_api_keeps_answering_while_redis_is_down(
    private_redis: RedisServer, rita, alice, bob, caplog
):
    call = deploying_call(rita, alice, bob)
    release = call.wave.plan.release
    rita_token = token(rita)
    browser = Client()
    browser.force_login(rita)
    status_url = f"/api/v1/releases/{release.pk}/status/"
    assert Client().get(status_url, **rita_token).status_code == 200  # cached while Redis is up

    for outage in range(2):
        shutdown_nosave(private_redis)
        cache._warned_at = 0.0  # each outage warns afresh
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            status = Client().get(status_url, **rita_token)
            page = browser.get("/")
            report = Client().post(
                f"/api/v1/waves/{call.wave_id}/report/?token={report_token(call)}",
                data={"status": "in_progress", "key": str(call.key), "message": "half way"},
                content_type="application/json",
            )
            fresh = planned_release(rita, qa=alice, business_owner=bob, version=f"3.{outage}.0")
            moved = Client().post(
                f"/api/v1/releases/{fresh.pk}/transition/",
                data={"to": "preparation"},
                content_type="application/json",
                **rita_token,
            )
        assert (status.status_code, status.json()["phase"]) == (200, "rollout"), outage
        assert page.status_code == 200
        assert report.status_code == 200, report.content
        # The move is a row; its message is lost with Redis, and the tick sends it again.
        assert moved.status_code == 202, moved.content
        assert PhaseMove.objects.filter(release=fresh, state="pending").exists()
        warnings = " ".join(r.getMessage() for r in caplog.records)
        assert "Redis is unavailable" in warnings and "Broker unavailable" in warnings

        restart(private_redis)
        assert Client().get(status_url, **rita_token).status_code == 200

    # With Redis back, a move's message goes out again at once.
    again = planned_release(rita, qa=alice, business_owner=bob, version="4.0.0")
    moved = Client().post(
        f"/api/v1/releases/{again.pk}/transition/",
        data={"to": "preparation"},
        content_type="application/json",
        **rita_token,
    )
    assert moved.status_code == 202
    assert "apps.releases.tasks.carry_out_move" in [t for t, _ in private_redis.queued_tasks()]


def test_a_request_that_cannot_do_without_redis_answers_503_in_json():
    dead = redis.Redis(port=free_port(), socket_connect_timeout=1)
    for down in (OperationalError("broker unreachable"), _connection_error(dead)):
        request = APIRequestFactory().get("/api/v1/")
        answer = api.exception_handler(down, {"request": request})
        assert answer is not None and answer.status_code == 503
        assert answer.data == {
            "detail": "A service this request needs is unavailable; try again shortly."
        }
        assert answer["Retry-After"] == "5"


def _connection_error(client: redis.Redis) -> redis.ConnectionError:
    try:
        client.ping()
    except redis.ConnectionError as exc:
        return exc
    raise AssertionError("nothing should listen there")

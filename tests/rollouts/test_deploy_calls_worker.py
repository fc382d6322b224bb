"""Deploy calls against a slow deploy tool, with a real worker of two processes and beat: each
wave's call reaches the tool once, and retries of one call never overlap.

The step lease in the test settings (3 s) is shorter than the tool's answers (3.5 s), and so
is the first retry's backoff (2 s): the window in which a second send used to slip through.
"""

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from apps.rollouts.models import DeployCall
from tests.rollouts.faults import DeployTool, wait_until
from tests.rollouts.test_engine_faults import engine, phase, waves_of, webhook_canary
from tests.rollouts.test_engine_steps import tool_report

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

__all__ = ["engine"]  # the fixture, shared with the fault tests

LATENCY = 3.5


def test_a_slow_deploy_tool_receives_each_wave_once(engine, rita, alice, bob, tmp_path: Path):
    assert settings.RELEASEDECK_STEP_LEASE.total_seconds() < LATENCY
    engine.start()
    tool = DeployTool(None, answer_delay=(LATENCY, LATENCY), report_after=LATENCY + 1)
    with tool.serving() as url:
        release = webhook_canary(rita, alice, bob, tool_url=url)
        done = wait_until(lambda: phase(release) == "support", timeout=120, interval=0.5)
    assert done, engine.logs()
    ids = [w.pk for w in waves_of(release)]
    assert tool.keys_per_wave("deploy") == Counter(dict.fromkeys(ids, 1))
    assert tool.repeats() == 0, tool.deliveries  # not one repeat of any call
    calls = DeployCall.objects.filter(wave__plan__release=release)
    assert sorted(calls.values_list("wave_id", "action", "attempts")) == [
        (wave_id, "deploy", 1) for wave_id in ids
    ]


class ScriptedTool:
    """Answers the attempts of one call as scripted — (delay, status) each — and records when
    each began and ended and the key it carried."""

    def __init__(self, script: list[tuple[float, int]]) -> None:
        self.script = list(script)
        self.lock = threading.Lock()
        self.attempts: list[dict] = []

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple:
        if method == "GET":
            return 200, {"version": "2.0.0"}
        began = time.monotonic()
        with self.lock:
            delay, status = self.script.pop(0) if self.script else (0.0, 202)
            entry = {
                "began": began,
                "key": {k.lower(): v for k, v in headers.items()}["idempotency-key"],
                "body": json.loads(body),
            }
            self.attempts.append(entry)
        time.sleep(delay)
        entry["ended"] = time.monotonic()
        return status, {"accepted": status == 202}


def test_retries_of_a_call_never_overlap_and_carry_the_same_key(engine, rita, alice, bob):
    from tests.loopback import loopback_server

    timeout = settings.RELEASEDECK_HTTP_TIMEOUT
    # A slow refusal, then an answer later than the caller waits, then an acceptance.
    tool = ScriptedTool([(LATENCY, 503), (timeout + 2, 202), (0.0, 202)])
    engine.start()
    with loopback_server(tool.respond) as (url, _):
        release = webhook_canary(rita, alice, bob, tool_url=url)
        first = waves_of(release)[0]
        sent = wait_until(
            lambda: DeployCall.objects.filter(wave=first, state="sent").first(),
            timeout=60,
            interval=0.3,
        )
        assert sent, engine.logs()
        tool_report(sent)
        wait_until(lambda: len(tool.attempts) > 3, timeout=3)
    attempts = [a for a in tool.attempts if a["body"]["wave"]["id"] == first.pk]
    assert len(attempts) == 3
    assert {a["key"] for a in attempts} == {str(sent.key)}
    assert {a["body"]["key"] for a in attempts} == {str(sent.key)}
    for earlier, later in zip(attempts, attempts[1:], strict=False):
        # The next attempt begins once the earlier one ended or the caller stopped waiting.
        over = min(earlier.get("ended", float("inf")), earlier["began"] + timeout)
        assert later["began"] >= over, (earlier, later)
    assert sent.attempts == 3

"""Verification checks: judging what an endpoint answered (pure), and running checks against
real HTTP servers on loopback with their results kept as evidence."""

import json
import socket
import time as clock
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.egress import NO_ANSWER
from apps.core.errors import ServiceError
from apps.rollouts import services as ro
from apps.rollouts.checks import (
    Response,
    fetch,
    judge_http,
    judge_metric,
    metric_url,
    run,
    validate_config,
)
from apps.rollouts.delivery import check_run
from apps.rollouts.models import Check, CheckResult, Wave
from tests.factories import EnvironmentFactory
from tests.loopback import loopback_server
from tests.rollouts.test_engine_steps import rolling_out, run_engine, waves_of
from tests.rollouts.test_services import (
    answered_without_writing,
    api_refused,
    refused_without_writing,
)

HTTP = validate_config("http", {"url": "http://health.test/status"})


def answer(status: int | None, body: object = b"", error: str = "") -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, data, error)


def http_config(**config) -> dict:
    return validate_config("http", {"url": "http://health.test/status", **config})


def metric_config(**config) -> dict:
    config.setdefault("threshold", 0.05)
    return validate_config("metric", {"url": "http://metrics.test/errors", **config})


# HTTP checks


def test_http_check_passes_on_the_expected_status():
    outcome = judge_http(HTTP, answer(200))
    assert (outcome.ok, outcome.value, outcome.detail) == (True, "200", "HTTP 200")
    outcome = judge_http(http_config(expect_status=204), answer(204))
    assert (outcome.ok, outcome.value) == (True, "204")


def test_http_check_fails_on_another_status_and_says_what_it_saw():
    outcome = judge_http(HTTP, answer(503))
    assert (outcome.ok, outcome.value, outcome.detail) == (False, "503", "expected HTTP 200")


def test_http_check_fails_when_nothing_answers():
    outcome = judge_http(HTTP, answer(None, error="URLError: connection refused"))
    assert (outcome.ok, outcome.value, outcome.detail) == (
        False,
        "no answer",
        "URLError: connection refused",
    )


def test_http_check_finds_the_expected_version_in_the_body():
    config = http_config(expect_version="2.0.0")
    assert judge_http(config, answer(200, b"<footer>CRM 2.0.0</footer>")).ok
    outcome = judge_http(config, answer(200, b"<footer>CRM 1.9.9</footer>"))
    assert (outcome.ok, outcome.detail) == (False, "version 2.0.0 not in the body")


@pytest.mark.parametrize(
    ("body", "ok", "value"),
    [
        ({"build": {"version": "2.0.0"}}, True, "2.0.0"),
        ({"build": {"version": "1.9.9"}}, False, "1.9.9"),
        ({"build": {}}, False, "no version"),
        ({"build": "2.0.0"}, False, "no version"),
        (b"2.0.0 but not JSON", False, "no version"),
    ],
)
def test_http_check_reads_the_version_from_a_json_field(body, ok, value):
    config = http_config(expect_version="2.0.0", version_field="build.version")
    outcome = judge_http(config, answer(200, body))
    assert (outcome.ok, outcome.value) == (ok, value)


def test_version_field_can_index_into_a_list():
    config = http_config(expect_version="2.0.0", version_field="nodes.1.version")
    body = {"nodes": [{"version": "2.0.0"}, {"version": "1.9.9"}]}
    assert judge_http(config, answer(200, body)).value == "1.9.9"


# Metric checks


@pytest.mark.parametrize(
    ("operator", "value", "threshold", "ok"),
    [
        ("<", 0.04, 0.05, True),
        ("<", 0.05, 0.05, False),
        ("<=", 0.05, 0.05, True),
        ("<=", 0.06, 0.05, False),
        (">", 99.9, 99.5, True),
        (">", 99.5, 99.5, False),
        (">=", 99.5, 99.5, True),
        (">=", 99.4, 99.5, False),
        ("==", 0, 0, True),
        ("==", 1, 0, False),
    ],
)
def test_metric_threshold_with_each_operator(operator, value, threshold, ok):
    config = metric_config(field="errors.rate", operator=operator, threshold=threshold)
    outcome = judge_metric(config, answer(200, {"errors": {"rate": value}}))
    assert outcome.ok is ok
    assert outcome.value == f"{value:g}"
    verdict = "within" if ok else "breaches"
    assert outcome.detail == f"{value:g} {verdict} {operator} {threshold:g}"


def prometheus(*values: str, status: str = "success") -> dict:
    return {
        "status": status,
        "data": {
            "resultType": "vector",
            "result": [{"metric": {"job": "crm"}, "value": [1764129600.123, v]} for v in values],
        },
    }


def test_metric_reads_a_prometheus_vector_answer():
    config = metric_config(source="prometheus", query="sum(rate(errors[5m]))", operator="<")
    outcome = judge_metric(config, answer(200, prometheus("0.012")))
    assert (outcome.ok, outcome.value) == (True, "0.012")
    outcome = judge_metric(config, answer(200, prometheus("0.31")))
    assert (outcome.ok, outcome.value) == (False, "0.31")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (prometheus("NaN"), "not a finite number"),
        (prometheus("+Inf"), "not a finite number"),
        (prometheus(), "no series"),
        (prometheus("1", status="error"), "Prometheus answered an error"),
        (prometheus("fast"), "could not read the number"),
        ({"data": {}}, "could not read the number"),
    ],
)
def test_prometheus_answers_without_a_usable_number_fail_with_the_reason(body, reason):
    config = metric_config(source="prometheus", query="up")
    outcome = judge_metric(config, answer(200, body))
    assert (outcome.ok, outcome.value) == (False, "no value")
    assert reason in outcome.detail


@pytest.mark.parametrize(
    "body",
    [
        {"errors": {"rate": "high"}},
        {"errors": {"rate": None}},
        {"errors": {"rate": True}},
        {"errors": {"rate": [0.01]}},
        {"errors": {"rate": {"value": 0.01}}},
        {"errors": {}},
        {"other": 1},
        [0.01],
        b"NaN",
        b"<html>Bad gateway</html>",
    ],
    ids=str,
)
def test_json_metric_without_a_usable_number_fails_with_the_reason(body):
    outcome = judge_metric(metric_config(field="errors.rate"), answer(200, body))
    assert (outcome.ok, outcome.value) == (False, "no value")
    assert outcome.detail.startswith("could not read the number")


def test_json_metric_refuses_nan_and_infinity_written_as_text():
    for raw in ("NaN", "Infinity", "-inf"):
        outcome = judge_metric(metric_config(field="rate"), answer(200, {"rate": raw}))
        assert (outcome.ok, outcome.value) == (False, "no value"), raw


def test_metric_source_that_does_not_answer_200_fails():
    outcome = judge_metric(metric_config(field="rate"), answer(500, {"rate": 0}))
    assert (outcome.ok, outcome.value) == (False, "HTTP 500")
    outcome = judge_metric(metric_config(field="rate"), answer(None, error="timed out"))
    assert (outcome.ok, outcome.value, outcome.detail) == (False, "no answer", "timed out")


def test_prometheus_query_goes_to_the_query_api():
    config = metric_config(source="prometheus", url="http://prom.test:9090/", query='up{job="crm"}')
    assert metric_url(config) == "http://prom.test:9090/api/v1/query?query=up%7Bjob%3D%22crm%22%7D"


# Configuration


@pytest.mark.parametrize(
    ("kind", "config", "named"),
    [
        ("http", {}, "config.url"),
        ("http", {"url": "ftp://files.test/"}, "config.url"),
        ("http", {"url": "health"}, "config.url"),
        ("http", {"url": "http://a.test/", "expect_status": 99}, "config.expect_status"),
        ("http", {"url": "http://a.test/", "expect_status": True}, "config.expect_status"),
        ("http", {"url": "http://a.test/", "expect_status": "200"}, "config.expect_status"),
        ("metric", {"url": "http://a.test/", "threshold": 1}, "config.field"),
        ("metric", {"url": "http://a.test/", "field": "x"}, "config.threshold"),
        ("metric", {"url": "http://a.test/", "field": "x", "threshold": "1"}, "config.threshold"),
        (
            "metric",
            {"url": "http://a.test/", "field": "x", "threshold": float("nan")},
            "config.threshold",
        ),
        ("metric", {"url": "http://a.test/", "field": "x", "threshold": True}, "config.threshold"),
        (
            "metric",
            {"url": "http://a.test/", "field": "x", "threshold": 1, "operator": "!="},
            "config.operator",
        ),
        (
            "metric",
            {"url": "http://a.test/", "threshold": 1, "source": "graphite"},
            "config.source",
        ),
        (
            "metric",
            {"url": "http://a.test/", "threshold": 1, "source": "prometheus"},
            "config.query",
        ),
    ],
)
def test_bad_check_configuration_names_the_field(kind, config, named):
    with pytest.raises(ServiceError) as error:
        validate_config(kind, config)
    assert error.value.field == "config"
    assert error.value.message.startswith(named)


def test_configuration_must_be_an_object_and_the_kind_known():
    with pytest.raises(ServiceError) as error:
        validate_config("http", ["http://a.test/"])
    assert error.value.field == "config"
    with pytest.raises(ServiceError) as error:
        validate_config("ping", {"url": "http://a.test/"})
    assert error.value.field == "kind"


def test_configuration_is_normalised_with_defaults():
    assert validate_config("http", {"url": "http://a.test/"}) == {
        "url": "http://a.test/",
        "expect_status": 200,
        "expect_version": "",
        "version_field": "",
    }
    assert validate_config("manual", {"anything": 1}) == {}
    assert metric_config(field="rate")["operator"] == "<="


# Fetching: trouble on the network is a failed check, never an exception


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_url_is_a_failed_check():
    outcome = run("http", http_config(url=f"http://127.0.0.1:{closed_port()}/health"), timeout=1)
    # The same words as any other silence: what the network said is not kept.
    assert (outcome.ok, outcome.value, outcome.detail) == (False, "no answer", NO_ANSWER)


def test_a_slow_endpoint_is_a_failed_check_after_the_timeout():
    def slow(*request):
        clock.sleep(0.5)
        return 200, {"rate": 0}

    with loopback_server(slow) as (url, _):
        response = fetch(f"{url}/metrics", timeout=0.1)
    assert (response.status, response.error) == (None, NO_ANSWER)


def test_error_statuses_are_answers_not_exceptions():
    with loopback_server(lambda *r: (503, {"error": "down"})) as (url, _):
        assert run("http", http_config(url=f"{url}/health"), timeout=1).value == "503"


def test_prometheus_check_asks_the_query_api_of_a_real_server():
    with loopback_server(lambda *r: (200, prometheus("0.5"))) as (url, received):
        config = metric_config(source="prometheus", url=url, query="up", operator=">=", threshold=1)
        outcome = run("metric", config, timeout=1)
    assert (outcome.ok, outcome.value) == (False, "0.5")
    assert received.received("GET")[0]["path"] == "/api/v1/query?query=up"


# Running checks during a wave's bake


@pytest.fixture
def health():
    """A health endpoint whose answer the test changes while it runs."""
    state = {"status": 200, "version": "2.0.0"}
    with loopback_server(lambda *r: (state["status"], {"version": state["version"]})) as (
        url,
        received,
    ):
        received.state = state
        yield f"{url}/health", received


def baking_wave(rm: Any, url: str, *, failures_to_fail: int = 3) -> tuple[Wave, Check]:
    env = EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")
    release = rolling_out(rm, [env], bake_minutes=60)
    (wave,) = waves_of(release)
    check = ro.check_add(
        wave_id=wave.pk,
        name="health",
        kind="http",
        actor=rm,
        config={"url": url, "expect_version": "2.0.0", "version_field": "version"},
        interval_seconds=30,
        failures_to_fail=failures_to_fail,
    )
    return wave, check


@pytest.mark.django_db
def test_check_results_are_kept_with_the_value_seen_and_audited(rita, health):
    url, endpoint = health
    wave, check = baking_wave(rita, url)
    now = timezone.now()
    run_engine(wave.plan.release, now)  # starts, deploys, runs the first check
    endpoint.state["version"] = "1.9.9"
    assert check_run(check_id=check.pk, now=now + timedelta(seconds=30)) == "failed"

    results = list(CheckResult.objects.filter(wave_check=check).order_by("at"))
    assert [(r.ok, r.value, r.at) for r in results] == [
        (True, "2.0.0", now),
        (False, "1.9.9", now + timedelta(seconds=30)),
    ]
    assert results[1].detail == "expected version 2.0.0"
    events = AuditEvent.objects.filter(
        object_id=str(check.pk), verb__in=["check.passed", "check.failed"]
    ).order_by("id")
    assert [(e.verb, e.after["value"], e.after["consecutive_failures"]) for e in events] == [
        ("check.passed", "2.0.0", 0),
        ("check.failed", "1.9.9", 1),
    ]
    check.refresh_from_db()
    assert (check.consecutive_failures, check.next_run_at) == (1, now + timedelta(seconds=60))


@pytest.mark.django_db
def test_n_consecutive_failures_fail_the_wave_and_a_pass_resets_the_count(rita, health):
    url, endpoint = health
    wave, check = baking_wave(rita, url, failures_to_fail=3)
    release = wave.plan.release
    now = timezone.now()
    endpoint.state["status"] = 503
    run_engine(release, now)
    run_engine(release, now + timedelta(seconds=30))
    endpoint.state["status"] = 200
    run_engine(release, now + timedelta(seconds=60))
    assert Check.objects.get(pk=check.pk).consecutive_failures == 0
    endpoint.state["status"] = 503
    for step in (90, 120):
        run_engine(release, now + timedelta(seconds=step))
    assert Wave.objects.get(pk=wave.pk).state == "verifying"
    run_engine(release, now + timedelta(seconds=150))
    wave.refresh_from_db()
    assert wave.state == "halted"
    assert wave.state_reason == (
        "Check health failed 3 times in a row (last seen: 503; expected HTTP 200)"
    )


@pytest.mark.django_db
def test_an_unreachable_check_url_fails_the_check_not_the_worker(rita):
    wave, check = baking_wave(rita, f"http://127.0.0.1:{closed_port()}/health")
    now = timezone.now()
    run_engine(wave.plan.release, now)
    result = CheckResult.objects.get(wave_check=check)
    assert (result.ok, result.value) == (False, "no answer")


@pytest.mark.django_db
def test_a_broken_stored_configuration_is_a_failed_check(rita, health):
    url, _ = health
    wave, check = baking_wave(rita, url)
    Check.objects.filter(pk=check.pk).update(config={"url": "gopher://old.test/"})
    run_engine(wave.plan.release, timezone.now())
    result = CheckResult.objects.get(wave_check=check)
    assert (result.ok, result.value) == (False, "error")
    assert "config.url" in result.detail


@pytest.mark.django_db
def test_a_wave_passes_its_bake_only_with_passing_checks(rita, health):
    url, endpoint = health
    wave, check = baking_wave(rita, url, failures_to_fail=100)
    release = wave.plan.release
    now = timezone.now()
    endpoint.state["status"] = 500
    run_engine(release, now)
    run_engine(release, now + timedelta(minutes=60))
    wave.refresh_from_db()
    assert (wave.state, wave.state_reason) == (
        "verifying",
        "Bake time over; waiting for check health to pass",
    )
    endpoint.state["status"] = 200
    run_engine(release, now + timedelta(minutes=61))
    assert Wave.objects.get(pk=wave.pk).state == "succeeded"


@pytest.mark.django_db
def test_checks_run_only_while_their_wave_verifies_and_when_due(rita, health):
    url, _ = health
    wave, check = baking_wave(rita, url)
    now = timezone.now()
    assert check_run(check_id=check.pk, now=now) == "not running"
    run_engine(wave.plan.release, now)
    assert check_run(check_id=check.pk, now=now + timedelta(seconds=29)) == "not due"
    Wave.objects.filter(pk=wave.pk).update(state="halted")
    assert check_run(check_id=check.pk, now=now + timedelta(seconds=30)) == "not running"
    assert CheckResult.objects.filter(wave_check=check).count() == 1


@pytest.mark.django_db
def test_check_add_refuses_bad_configuration_naming_the_field(rita):
    env = EnvironmentFactory(name="prod-eu")
    release = rolling_out(rita, [env])
    (wave,) = waves_of(release)
    error = refused_without_writing(
        lambda: ro.check_add(
            wave_id=wave.pk, name="health", kind="http", config={"url": "ftp://a/"}, actor=rita
        )
    )
    assert (error.field, error.message.startswith("config.url")) == ("config", True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "ping"}, "kind"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"failures_to_fail": 0}, "failures_to_fail"),
        ({"name": ""}, "name"),
    ],
)
def test_check_add_refuses_bad_input_naming_the_field(client, rita, changes, field):
    env = EnvironmentFactory(name="prod-eu")
    release = rolling_out(rita, [env])
    (wave,) = waves_of(release)
    client.force_login(rita)
    body = {"name": "health", "kind": "manual", **changes}
    api_refused(client, "post", f"/api/v1/waves/{wave.pk}/checks/", body, field)
    answer = answered_without_writing(
        lambda: client.post(
            f"/releases/{release.pk}/plan/waves/{wave.pk}/checks/",
            {k: str(v) for k, v in body.items()},
            HTTP_HX_REQUEST="true",
        )
    )
    assert answer.status_code == 400
    assert f"{field} " in answer.content.decode()

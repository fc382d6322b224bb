"""Rollout plans and waves through their services, on real PostgreSQL."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.http import HttpResponse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.releases.models import Release
from apps.rollouts import rules
from apps.rollouts import services as ro
from apps.rollouts.models import RolloutPlan, Wave, WaveState
from apps.rollouts.transitions import wave_transition
from tests.db_state import db_state
from tests.factories import EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def refused_without_writing(call, error: type[Exception] = ServiceError) -> Exception:
    before = db_state()
    with pytest.raises(error) as exc:
        call()
    assert db_state() == before
    return exc.value


def answered_without_writing(send) -> HttpResponse:
    """`send()` a request that is refused: a 4xx, and nothing written."""
    before = db_state()
    response = send()
    assert 400 <= response.status_code < 500, response.content
    assert db_state() == before
    return response


def api_refused(
    client, method: str, url: str, body: object, field: str, *, in_url: bool = False
) -> dict:
    """A JSON request refused with 400 naming `field`; nothing written. When the bad part is
    in the URL (`in_url`), the URL names it: 404 (or 400), naming `field` if anything."""
    answer = answered_without_writing(
        lambda: getattr(client, method)(url, body, content_type="application/json")
    )
    error = answer.json()
    if in_url:
        assert answer.status_code in (400, 404), error
        assert error.get("field", field) == field, error
    else:
        assert (answer.status_code, error.get("field")) == (400, field), error
    assert error["detail"].endswith(".")
    return error


@pytest.fixture
def env():
    return EnvironmentFactory(name="prod-eu")


@pytest.fixture
def release(rita) -> Release:
    return ReleaseFactory(owner=rita)


@pytest.fixture
def plan(release, rita) -> RolloutPlan:
    return ro.plan_set(release_id=release.pk, strategy="canary", actor=rita)


@pytest.fixture
def wave(plan, release, env, rita) -> Wave:
    return ro.wave_add(release_id=release.pk, name="canary 1%", environment_id=env.pk, actor=rita)


def rolling_out(release: Release) -> Release:
    Release.objects.filter(pk=release.pk).update(phase="rollout")
    return release


# Plan


def test_plan_created_with_strategy_and_audited(plan, release):
    assert plan.strategy == "canary"
    event = AuditEvent.objects.filter(release_id=release.pk).latest("id")
    assert (event.verb, event.before, event.after) == ("plan.set", None, {"strategy": "canary"})


def test_plan_strategy_changed_keeps_one_plan(plan, release, rita):
    ro.plan_set(release_id=release.pk, strategy="blue_green", actor=rita)
    assert RolloutPlan.objects.get(release=release).strategy == "blue_green"
    event = AuditEvent.objects.filter(release_id=release.pk).latest("id")
    assert event.before == {"strategy": "canary"}


def test_same_strategy_twice_writes_nothing(plan, release, rita):
    before = db_state()
    assert ro.plan_set(release_id=release.pk, strategy="canary", actor=rita).pk == plan.pk
    assert db_state() == before


def test_plan_fixed_once_rolling_out(plan, release, rita):
    rolling_out(release)
    refused_without_writing(
        lambda: ro.plan_set(release_id=release.pk, strategy="big_bang", actor=rita), Conflict
    )


# Waves


def test_waves_are_appended_in_order(wave, release, rita):
    us = EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")
    start = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
    second = ro.wave_add(
        release_id=release.pk,
        name="us 100%",
        environment_id=us.pk,
        percentage=100,
        planned_start=start,
        bake_minutes=60,
        failure_policy="rollback",
        deployer="manual",
        actor=rita,
    )
    assert (wave.position, second.position) == (1, 2)
    assert (second.planned_start, second.failure_policy, second.deployer) == (
        start,
        "rollback",
        "manual",
    )
    assert AuditEvent.objects.filter(release_id=release.pk, verb="wave.added").count() == 2


def test_wave_needs_a_plan_first(release, env, rita):
    refused_without_writing(
        lambda: ro.wave_add(release_id=release.pk, name="w", environment_id=env.pk, actor=rita),
        Conflict,
    )


def test_waves_fixed_once_rolling_out(plan, release, env, rita):
    rolling_out(release)
    refused_without_writing(
        lambda: ro.wave_add(release_id=release.pk, name="w", environment_id=env.pk, actor=rita),
        Conflict,
    )


# Wave transitions


def test_wave_walks_to_succeeded_with_timestamps(wave, release, oscar):
    rolling_out(release)
    now = timezone.now()
    wave_transition(wave_id=wave.pk, to="scheduled", actor=oscar, now=now)
    wave_transition(wave_id=wave.pk, to="deploying", actor=oscar, now=now + timedelta(minutes=1))
    wave_transition(wave_id=wave.pk, to="verifying", actor=None)
    done = wave_transition(
        wave_id=wave.pk, to="succeeded", actor=None, now=now + timedelta(hours=1)
    )
    assert (done.scheduled_at, done.started_at, done.finished_at) == (
        now,
        now + timedelta(minutes=1),
        now + timedelta(hours=1),
    )
    events = AuditEvent.objects.filter(release_id=release.pk, verb="wave.state_changed")
    assert [e.after["state"] for e in events.order_by("id")] == [
        "scheduled",
        "deploying",
        "verifying",
        "succeeded",
    ]
    assert events.order_by("id").last().actor_label == "system"


def test_same_wave_state_twice_writes_nothing(wave, release, oscar):
    rolling_out(release)
    wave_transition(wave_id=wave.pk, to="deploying", actor=oscar)
    before = db_state()
    assert wave_transition(wave_id=wave.pk, to="deploying", actor=oscar).state == "deploying"
    assert db_state() == before


@pytest.mark.parametrize(
    ("current", "to"),
    [("pending", "deploying"), ("deploying", "verifying"), ("verifying", "succeeded")],
)
def test_wave_carries_traffic_only_while_the_release_rolls_out(wave, oscar, current, to):
    Wave.objects.filter(pk=wave.pk).update(state=current)
    error = refused_without_writing(
        lambda: wave_transition(wave_id=wave.pk, to=to, actor=oscar), Conflict
    )
    assert "planning" in error.message


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("waiting", "skipped"),
        ("waiting", "halted"),
        ("deploying", "failed"),
        ("deploying", "rolled_back"),
    ],
)
def test_stopping_a_wave_needs_a_reason(wave, release, oscar, current, to):
    rolling_out(release)
    Wave.objects.filter(pk=wave.pk).update(state=current)
    error = refused_without_writing(
        lambda: wave_transition(wave_id=wave.pk, to=to, reason="  ", actor=oscar)
    )
    assert error.field == "reason"
    moved = wave_transition(wave_id=wave.pk, to=to, reason="Error rate 7%.", actor=oscar)
    assert (moved.state, moved.state_reason) == (to, "Error rate 7%.")
    if to == "skipped":
        assert moved.skip_reason == "Error rate 7%."


@pytest.mark.parametrize("current", [s.value for s in WaveState])
def test_wave_transitions_follow_the_allowed_moves(wave, release, oscar, current):
    rolling_out(release)
    for to in WaveState.values:
        if to == current:
            continue
        Wave.objects.filter(pk=wave.pk).update(state=current, skip_reason="arranged")
        call = partial(
            wave_transition, wave_id=wave.pk, to=to, reason="Operator decision.", actor=oscar
        )
        if rules.wave_move_allowed(current, to):
            assert call().state == to
        else:
            refused_without_writing(call, Conflict)


def test_finished_waves_never_restart():
    for done in ("succeeded", "failed", "rolled_back", "skipped"):
        assert not rules.ALLOWED_WAVE_MOVES[done] & {"pending", "scheduled", "deploying"}
    assert rules.ALLOWED_WAVE_MOVES["rolled_back"] == frozenset()
    assert rules.ALLOWED_WAVE_MOVES["skipped"] == frozenset()


# Bad input: refused at the API with the right field, nothing written. A service takes typed
# values; the serializer in front of it shapes what clients send. What DRF reads as a value of
# the field's type (the text "50" as a number, "yes" and 1 as true, a JSON number as text, a
# time without an offset as UTC) it always read so, and is not listed.

BAD_IDS = ["abc", -1, 0, 10**30, None, 1.5, True, "", 987654321]
BAD_CHOICE = ["nope", "", None, 3, "CANARY", "canary\x00"]


def cases(kw: str, field: str, values: list) -> list:
    return [pytest.param({kw: v}, field, id=f"{kw}={v!r:.12}") for v in values]


PLAN_BAD = [*cases("release_id", "release", BAD_IDS), *cases("strategy", "strategy", BAD_CHOICE)]


@pytest.mark.parametrize(("changes", "field"), PLAN_BAD)
def test_plan_set_refuses_bad_input(client, release, rita, changes, field):
    release_id = changes.pop("release_id", release.pk)
    client.force_login(rita)
    api_refused(
        client,
        "put",
        f"/api/v1/releases/{release_id}/rollout-plan/",
        {"strategy": "canary", **changes},
        field,
        in_url=release_id != release.pk,
    )


def test_plan_of_a_missing_release_is_not_found(rita):
    error = refused_without_writing(
        lambda: ro.plan_set(release_id=987654321, strategy="canary", actor=rita), NotFound
    )
    assert error.field == "release"


WAVE_BAD = [
    *cases("release_id", "release", BAD_IDS),
    *cases("environment", "environment", BAD_IDS),
    *cases("name", "name", [None, "", "  ", "a\x00b", "caf\ud800", "x" * 101]),
    *cases("percentage", "percentage", [-1, 101, 1.5, True, None, 10**30]),
    *cases("planned_start", "planned_start", [0, "tomorrow", datetime(9999, 12, 31, tzinfo=UTC)]),
    *cases("bake_minutes", "bake_minutes", [-1, 20161, None, 10**30]),
    *cases("failure_policy", "failure_policy", BAD_CHOICE),
    *cases("deployer", "deployer", BAD_CHOICE),
    *cases("shadow", "shadow", ["maybe", None]),
]


@pytest.mark.parametrize(("changes", "field"), WAVE_BAD)
def test_wave_add_refuses_bad_input(client, plan, release, env, rita, changes, field):
    release_id = changes.pop("release_id", release.pk)
    client.force_login(rita)
    body = {"name": "canary", "environment": env.pk, **changes}
    url = f"/api/v1/releases/{release_id}/waves/"
    api_refused(client, "post", url, body, field, in_url=release_id != release.pk)


def test_wave_in_a_missing_environment_is_refused_naming_it(plan, release, rita):
    error = refused_without_writing(
        lambda: ro.wave_add(
            release_id=release.pk, name="canary", environment_id=987654321, actor=rita
        )
    )
    assert (error.field, error.message) == ("environment", "No such environment.")


# Operators move waves through the API's actions, one URL each; `wave_transition` has no
# entry point of its own, so its bad input is what an operator's request can carry.
TRANSITION_BAD = [
    *cases("wave_id", "wave", BAD_IDS),
    *cases("to", "to", [*BAD_CHOICE, "done"]),
    *cases("reason", "reason", ["a\x00b", "caf\ud800", "x" * 2001]),
]


@pytest.mark.parametrize(("changes", "field"), TRANSITION_BAD)
def test_wave_transition_refuses_bad_input(client, wave, release, oscar, changes, field):
    rolling_out(release)
    wave_id = changes.pop("wave_id", wave.pk)
    action = changes.pop("to", "pause")
    client.force_login(oscar)
    body = {"reason": "Looking", **changes}
    url = f"/api/v1/waves/{wave_id}/{action}/"
    api_refused(client, "post", url, body, field, in_url=field != "reason")

"""The rollout engine step by step, with time travel: each step is called with an explicit `now`
instead of waiting for a worker, so windows, freezes and bake times are exact and fast."""

import json
import os
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.audit.models import AuditEvent
from apps.core import signing
from apps.core.errors import NotAllowed
from apps.environments import calendars
from apps.environments import services as env_services
from apps.environments.models import Environment, StopTheLine
from apps.environments.stop_line import stop_the_line_set
from apps.notifications.models import Notification, OutboundWebhook
from apps.releases.models import Release
from apps.releases.services import record_change
from apps.rollouts import operations, reports
from apps.rollouts import services as ro
from apps.rollouts.delivery import check_run, deploy_call_send, report_token
from apps.rollouts.gates import start_blockers
from apps.rollouts.models import Check, CheckResult, DeployCall, Wave
from apps.rollouts.rules import ENDED_STATES
from apps.rollouts.runner import rollouts_tick, wave_step
from apps.rollouts.wave_signoffs import wave_signoff_give
from apps.stakeholders import services as sh
from tests.celery_worker import purge_celery_queue
from tests.factories import EnvironmentFactory, ReleaseFactory, give
from tests.loopback import loopback_server

pytestmark = pytest.mark.django_db

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
EVERY_DAY = list(range(7))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rolling_out(
    rm: Any, environments: list[Environment], *, planned_local: str = "", **wave_fields: Any
) -> Release:
    """A release in rollout with one wave per environment, planned through the services
    (each wave planned at `planned_local`, local time, when given)."""
    release = ReleaseFactory(owner=rm)
    ro.plan_set(release_id=release.pk, strategy="rolling", actor=rm)
    wave_fields.setdefault("bake_minutes", 0)
    for env in environments:
        wave = ro.wave_add(
            release_id=release.pk,
            name=f"{env.name} 100%",
            environment_id=env.pk,
            actor=rm,
            **wave_fields,
        )
        if planned_local:
            ro.wave_update(
                wave_id=wave.pk,
                actor=rm,
                planned_start_local=datetime.fromisoformat(planned_local),
            )
    Release.objects.filter(pk=release.pk).update(phase="rollout")
    release.refresh_from_db()
    return release


def waves_of(release: Release) -> list[Wave]:
    return list(Wave.objects.filter(plan__release=release).order_by("position"))


def run_engine(release: Release, now: datetime, *, rounds: int = 60) -> None:
    """Stand in for beat and a worker at `now`: tick, then carry out every due wave step,
    deploy call and check, until nothing more is due."""
    for _ in range(rounds):
        rollouts_tick(now=now)
        waves = list(
            Wave.objects.filter(plan__release=release, next_step_at__lte=now)
            .filter(
                Q(rollback_requested_at__isnull=False) | ~Q(state__in=[*ENDED_STATES, "halted"])
            )
            .values_list("pk", flat=True)
        )
        calls = list(
            DeployCall.objects.filter(
                wave__plan__release=release, state="pending", next_attempt_at__lte=now
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        checks = list(
            Check.objects.filter(
                wave__plan__release=release, wave__state="verifying", next_run_at__lte=now
            )
            .exclude(kind="manual")
            .values_list("pk", flat=True)
        )
        if not (waves or calls or checks):
            return
        for wave_id in waves:
            wave_step(wave_id=wave_id, now=now)
        for call_id in calls:
            deploy_call_send(call_id=call_id, now=now)
        for check_id in checks:
            check_run(check_id=check_id, now=now)
    raise AssertionError("the engine kept finding due work")


@pytest.fixture
def prod_eu():
    return EnvironmentFactory(name="prod-eu", region="eu", time_zone=BERLIN)


@pytest.fixture
def prod_us():
    return EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK)


# Planned start, in the environment's local time


@pytest.mark.parametrize(
    ("zone", "local", "starts_at", "day"),
    [
        # Berlin springs forward on Sunday 2027-03-28: 09:00 is CEST (UTC+2), not CET.
        (BERLIN, "2027-03-28T09:00", utc(2027, 3, 28, 7, 0), "Sun 28 Mar"),
        # ...and falls back on Sunday 2027-10-31: 09:00 is CET (UTC+1) again.
        (BERLIN, "2027-10-31T09:00", utc(2027, 10, 31, 8, 0), "Sun 31 Oct"),
        # New York springs forward on 2027-03-14 (EDT, UTC-4) and falls back on 2027-11-07.
        (NEW_YORK, "2027-03-14T09:00", utc(2027, 3, 14, 13, 0), "Sun 14 Mar"),
        (NEW_YORK, "2027-11-07T09:00", utc(2027, 11, 7, 14, 0), "Sun 07 Nov"),
    ],
)
def test_wave_starts_at_its_planned_local_time_across_daylight_saving_changes(
    rita, zone, local, starts_at, day
):
    env = EnvironmentFactory(name="prod", time_zone=zone)
    release = rolling_out(rita, [env], planned_local=local)
    (wave,) = waves_of(release)
    assert wave.planned_start == starts_at

    run_engine(release, starts_at - timedelta(hours=1))
    wave.refresh_from_db()
    assert wave.state == "scheduled"
    assert wave.next_step_at == starts_at
    assert wave.state_reason == f"Planned for {day} 09:00 {zone}"

    run_engine(release, starts_at - timedelta(seconds=1))
    assert Wave.objects.get(pk=wave.pk).started_at is None

    run_engine(release, starts_at)
    wave.refresh_from_db()
    assert (wave.state, wave.started_at) == ("succeeded", starts_at)


# Deployment windows


def test_wave_waits_outside_deployment_hours_and_starts_when_the_window_opens(rita, prod_eu):
    env_services.deployment_window_add(
        environment_id=prod_eu.pk,
        weekdays=[0, 1, 2, 3, 4],
        start_time=time(9, 0),
        end_time=time(17, 0),
        actor=rita,
    )
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)
    saturday_noon = utc(2027, 6, 5, 10, 0)  # 12:00 CEST
    monday_nine = utc(2027, 6, 7, 7, 0)  # 09:00 CEST

    run_engine(release, saturday_noon)
    wave.refresh_from_db()
    assert wave.state == "waiting"
    assert wave.state_reason == (
        "prod-eu: outside deployment hours until Mon 07 Jun 09:00 Europe/Berlin"
    )
    assert wave.next_step_at == monday_nine

    run_engine(release, monday_nine - timedelta(minutes=1))
    assert Wave.objects.get(pk=wave.pk).state == "waiting"
    run_engine(release, monday_nine)
    wave.refresh_from_db()
    assert (wave.state, wave.started_at) == ("succeeded", monday_nine)


@pytest.mark.parametrize(
    ("zone", "evening_before", "opens"),
    [
        # Saturday 18:00 CET; the window opens Sunday 09:00 CEST, one hour "earlier" in UTC.
        (BERLIN, utc(2027, 3, 27, 17, 0), utc(2027, 3, 28, 7, 0)),
        (BERLIN, utc(2027, 10, 30, 16, 0), utc(2027, 10, 31, 8, 0)),
        (NEW_YORK, utc(2027, 3, 13, 23, 0), utc(2027, 3, 14, 13, 0)),
        (NEW_YORK, utc(2027, 11, 6, 22, 0), utc(2027, 11, 7, 14, 0)),
    ],
)
def test_daily_window_opens_at_local_nine_on_daylight_saving_days(
    rita, zone, evening_before, opens
):
    env = EnvironmentFactory(name="prod", time_zone=zone)
    env_services.deployment_window_add(
        environment_id=env.pk,
        weekdays=EVERY_DAY,
        start_time=time(9, 0),
        end_time=time(17, 0),
        actor=rita,
    )
    release = rolling_out(rita, [env])
    (wave,) = waves_of(release)

    run_engine(release, evening_before)
    wave.refresh_from_db()
    assert (wave.state, wave.next_step_at) == ("waiting", opens)
    run_engine(release, opens)
    assert Wave.objects.get(pk=wave.pk).started_at == opens


# Freezes


def freeze(actor: Any, scope: str, start: datetime, end: datetime, reason: str, **where: Any):
    return env_services.freeze_create(
        scope=scope, start=start, end=end, reason=reason, actor=actor, **where
    )


@pytest.mark.parametrize(
    ("scope", "where"),
    [
        ("environment", lambda env: {"environment_id": env.pk}),
        ("region", lambda env: {"region": "eu"}),
        ("global", lambda env: {}),
    ],
)
def test_wave_waits_out_a_freeze_of_its_environment_region_or_everywhere(
    rita, prod_eu, scope, where
):
    now = utc(2026, 12, 20, 9, 0)
    ends = utc(2027, 1, 4, 6, 0)  # 07:00 in Berlin
    freeze(rita, scope, now - timedelta(days=1), ends, "Year-end close", **where(prod_eu))
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)

    run_engine(release, now)
    wave.refresh_from_db()
    assert wave.state == "waiting"
    assert (
        wave.state_reason == "prod-eu: freeze until Mon 04 Jan 07:00 Europe/Berlin (Year-end close)"
    )
    assert wave.next_step_at == ends

    run_engine(release, ends - timedelta(seconds=1))
    assert Wave.objects.get(pk=wave.pk).started_at is None
    run_engine(release, ends)
    wave.refresh_from_db()
    assert (wave.state, wave.started_at) == ("succeeded", ends)


def test_freeze_of_another_region_or_environment_does_not_hold_a_wave(rita, prod_eu, prod_us):
    now = utc(2026, 12, 20, 9, 0)
    freeze(rita, "region", now, now + timedelta(days=3), "US holiday", region="us")
    freeze(rita, "environment", now, now + timedelta(days=3), "US audit", environment_id=prod_us.pk)
    release = rolling_out(rita, [prod_eu])

    run_engine(release, now)
    assert waves_of(release)[0].started_at == now


def test_freeze_that_ends_at_night_pushes_the_start_to_the_next_window(rita, prod_eu):
    env_services.deployment_window_add(
        environment_id=prod_eu.pk,
        weekdays=EVERY_DAY,
        start_time=time(9, 0),
        end_time=time(17, 0),
        actor=rita,
    )
    now = utc(2026, 12, 1, 10, 0)
    freeze(rita, "global", now, utc(2026, 12, 1, 20, 0), "Network change", region="")
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)

    run_engine(release, now)
    wave.refresh_from_db()
    assert wave.state_reason == (
        "prod-eu: freeze until Tue 01 Dec 21:00 Europe/Berlin (Network change); "
        "prod-eu: outside deployment hours until Wed 02 Dec 09:00 Europe/Berlin"
    )
    assert wave.next_step_at == utc(2026, 12, 2, 8, 0)
    run_engine(release, utc(2026, 12, 2, 8, 0))
    assert Wave.objects.get(pk=wave.pk).started_at == utc(2026, 12, 2, 8, 0)


def test_planned_start_inside_a_freeze_waits_for_the_freeze_to_end(rita, prod_eu):
    release = rolling_out(rita, [prod_eu], planned_local="2026-12-24T10:00")
    (wave,) = waves_of(release)
    freeze(
        rita,
        "environment",
        utc(2026, 12, 23),
        utc(2026, 12, 27),
        "Holidays",
        environment_id=prod_eu.pk,
    )

    run_engine(release, utc(2026, 12, 1))
    wave.refresh_from_db()
    assert wave.state == "waiting"
    assert "freeze until Sun 27 Dec 01:00 Europe/Berlin (Holidays)" in wave.state_reason
    assert wave.next_step_at == utc(2026, 12, 27)


# Stop the line


def test_waiting_wave_under_stop_the_line_waits_with_that_reason_until_lifted(rita, oscar, prod_eu):
    release = rolling_out(rita, [prod_eu])
    stop_the_line_set(active=True, reason="Payment outage", actor=oscar)
    now = timezone.now()

    run_engine(release, now)
    (wave,) = waves_of(release)
    assert (wave.state, wave.state_reason) == ("waiting", "Stop the line is on: Payment outage")
    assert wave.next_step_at == now + settings.RELEASEDECK_RECHECK

    run_engine(release, now + timedelta(hours=2))
    assert waves_of(release)[0].state == "waiting"
    stop_the_line_set(active=False, actor=oscar)
    later = timezone.now()
    run_engine(release, later)
    assert waves_of(release)[0].state == "succeeded"
    assert waves_of(release)[0].started_at == later


def test_stop_the_line_outranks_an_open_window(rita, prod_eu):
    StopTheLine.objects.update_or_create(pk=1, defaults={"active": True, "reason": "Incident"})
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)
    blockers, recheck = start_blockers(wave, release, utc(2026, 12, 1, 10))
    assert [b.message for b in blockers] == ["Stop the line is on: Incident"]
    assert [b.code for b in blockers] == ["stop_the_line"]
    assert recheck == utc(2026, 12, 1, 10) + settings.RELEASEDECK_RECHECK


# Waves run in order, with bake time


def test_next_wave_starts_only_after_the_previous_one_has_baked(rita, prod_eu, prod_us):
    release = rolling_out(rita, [prod_eu, prod_us], bake_minutes=30)
    first, second = waves_of(release)
    now = utc(2026, 12, 1, 10, 0)

    run_engine(release, now)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.bake_started_at, first.next_step_at) == (
        "verifying",
        now,
        now + timedelta(minutes=30),
    )
    assert second.state == "pending"

    run_engine(release, now + timedelta(minutes=29))
    assert waves_of(release)[1].state == "pending"
    run_engine(release, now + timedelta(minutes=30))
    first, second = waves_of(release)
    assert (first.state, first.finished_at) == ("succeeded", now + timedelta(minutes=30))
    assert (second.state, second.started_at) == ("verifying", now + timedelta(minutes=30))


def test_a_step_that_is_not_due_does_nothing(rita, prod_eu):
    release = rolling_out(rita, [prod_eu], bake_minutes=30)
    now = utc(2026, 12, 1, 10, 0)
    run_engine(release, now)
    (wave,) = waves_of(release)
    events = AuditEvent.objects.count()

    assert wave_step(wave_id=wave.pk, now=now + timedelta(minutes=5)) == "not due"
    assert AuditEvent.objects.count() == events
    assert wave_step(wave_id=wave.pk, now=now + timedelta(minutes=30)) == "succeeded"
    assert AuditEvent.objects.count() == events + 1
    # A duplicate message for the same step finds nothing due.
    assert wave_step(wave_id=wave.pk, now=now + timedelta(minutes=30)) == "not due"
    assert AuditEvent.objects.count() == events + 1


def test_waves_of_a_release_not_rolling_out_never_start(rita, prod_eu):
    release = rolling_out(rita, [prod_eu])
    Release.objects.filter(pk=release.pk).update(phase="testing")
    now = utc(2026, 12, 1, 10, 0)
    assert rollouts_tick(now=now)["armed"] == 0
    (wave,) = waves_of(release)
    Wave.objects.filter(pk=wave.pk).update(next_step_at=now)
    assert wave_step(wave_id=wave.pk, now=now) == "idle"
    assert waves_of(release)[0].state == "pending"


# A wave's own sign-off


@pytest.fixture
def signed_wave(rita, bob, prod_eu):
    """One wave that needs 1 × business_owner before it starts; bob is the business owner."""
    release = rolling_out(rita, [prod_eu])
    sh.stakeholder_add(release_id=release.pk, user_id=bob.pk, role="business_owner", actor=rita)
    (wave,) = waves_of(release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    return release, wave


def test_wave_waits_for_its_own_signoff_then_starts(signed_wave, bob):
    release, wave = signed_wave
    now = timezone.now()
    run_engine(release, now)
    wave.refresh_from_db()
    assert wave.state == "waiting"
    assert wave.state_reason == (
        "prod-eu 100%: needs 1 more business owner approval before it starts"
    )

    wave_signoff_give(wave_id=wave.pk, decision="approve", actor=bob)
    wave.refresh_from_db()
    assert wave.next_step_at <= timezone.now()  # woken at once, not at the next recheck
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "succeeded"


def test_rejected_wave_signoff_keeps_the_wave_waiting(signed_wave, bob):
    release, wave = signed_wave
    wave_signoff_give(
        wave_id=wave.pk,
        decision="reject",
        comment="Not during the sales campaign.",
        actor=bob,
    )
    run_engine(release, timezone.now() + timedelta(days=1))
    wave.refresh_from_db()
    assert wave.state == "waiting"
    assert "prod-eu 100%: a stakeholder rejected this wave" in wave.state_reason
    assert wave.started_at is None


def test_release_owner_cannot_sign_their_own_wave(signed_wave, rita):
    release, wave = signed_wave
    give(rita, "approver")
    sh.stakeholder_add(release_id=release.pk, user_id=rita.pk, role="business_owner", actor=rita)
    with pytest.raises(NotAllowed):
        wave_signoff_give(wave_id=wave.pk, decision="approve", actor=rita)
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "waiting"


def test_approver_of_another_role_cannot_sign_the_wave(signed_wave, rita, alice):
    release, wave = signed_wave
    sh.stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    with pytest.raises(NotAllowed):
        wave_signoff_give(wave_id=wave.pk, decision="approve", actor=alice)


# Property: whatever the calendar and however the ticks fall, a wave starts only when allowed


def _in_any_window(at: datetime, windows: list[tuple[list[int], time, time]], zone: str) -> bool:
    """Wall-clock reading, independent of the scheduling module."""
    local = at.astimezone(ZoneInfo(zone))
    return any(
        local.weekday() in days and start <= local.time() < end for days, start, end in windows
    )


BASE = utc(2027, 10, 26, 0, 0)  # spans the Berlin and New York fall-back weekends


@st.composite
def calendar_rules(draw):
    windows = draw(
        st.lists(
            st.tuples(
                st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
                st.integers(0, 22),
                st.integers(1, 8),
            ).map(lambda w: (sorted(w[0]), time(w[1]), time(min(w[1] + w[2], 23), 59))),
            max_size=2,
        )
    )
    freezes = draw(
        st.lists(
            st.tuples(st.integers(0, 14 * 24), st.integers(1, 72)).map(
                lambda f: (BASE + timedelta(hours=f[0]), BASE + timedelta(hours=f[0] + f[1]))
            ),
            max_size=3,
        )
    )
    ticks = draw(
        st.lists(st.integers(0, 20 * 24 * 60), min_size=1, max_size=8).map(
            lambda minutes: sorted(BASE + timedelta(minutes=m) for m in minutes)
        )
    )
    return windows, freezes, ticks


@given(zone=st.sampled_from([BERLIN, NEW_YORK]), calendar=calendar_rules())
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_wave_never_starts_inside_a_freeze_or_outside_a_window(rita, zone, calendar):
    windows, freezes, ticks = calendar
    with transaction.atomic():
        env = EnvironmentFactory(name="prop-env", region="prop", time_zone=zone)
        for days, start, end in windows:
            env_services.deployment_window_add(
                environment_id=env.pk, weekdays=days, start_time=start, end_time=end, actor=rita
            )
        for start, end in freezes:
            freeze(rita, "region", start, end, "Freeze", region="prop")
        release = rolling_out(rita, [env])
        for now in ticks:
            run_engine(release, now)
        (wave,) = waves_of(release)
        transaction.set_rollback(True)
    if wave.started_at is not None:
        assert not any(start <= wave.started_at < end for start, end in freezes)
        assert not windows or _in_any_window(wave.started_at, windows, zone)
    # ...and it does start at the first tick the calendar allows, not later.
    rules = calendars.Calendar(
        "prop-env",
        zone,
        tuple(calendars.Window(frozenset(d), s, e) for d, s, e in windows),
        tuple(calendars.Freeze(s, e, "Freeze") for s, e in freezes),
    )
    allowed = [
        t
        for t in ticks
        if calendars.active_freeze(t, rules.freezes) is None and calendars.in_window(t, rules)
    ]
    assert wave.started_at == (allowed[0] if allowed else None)
    assert wave.state == ("succeeded" if allowed else "waiting")


# Deploying through the team's deploy tool (webhook deployer)


@contextmanager
def tool(answers: list[int] | None = None, *, default: int = 202) -> Iterator[tuple[str, Any]]:
    """A deploy tool and health endpoint on loopback. POSTs get the next of `answers` (then
    `default`); GET /health/<n> answers version 2.0.0 unless the path is in `.broken`."""
    queue = list(answers or [])
    broken: set[str] = set()

    def respond(method, path, headers, body):
        if method == "POST":
            return (queue.pop(0) if queue else default), {"accepted": True}
        return 200, {"version": "broken" if path in broken else "2.0.0"}

    with loopback_server(respond) as (url, recorder):
        recorder.broken = broken
        yield url, recorder


def webhook_release(
    rm: Any, url: str, environments: list[Environment], *, policy: str = "halt", bake: int = 0
) -> Release:
    for env in environments:
        Environment.objects.filter(pk=env.pk).update(
            deploy_url=f"{url}/deploy", deploy_secret=f"secret-of-{env.name}"
        )
    release = ReleaseFactory(owner=rm, version="2.0.0")
    ro.plan_set(release_id=release.pk, strategy="canary", actor=rm)
    for position, env in enumerate(environments, start=1):
        wave = ro.wave_add(
            release_id=release.pk,
            name=f"{env.name} {10 * position}%",
            environment_id=env.pk,
            percentage=10 * position,
            deployer="webhook",
            failure_policy=policy,
            bake_minutes=bake,
            actor=rm,
        )
        ro.check_add(
            wave_id=wave.pk,
            name="health",
            kind="http",
            actor=rm,
            config={
                "url": f"{url}/health/{position}",
                "expect_version": "2.0.0",
                "version_field": "version",
            },
            interval_seconds=60,
            failures_to_fail=2,
        )
    Release.objects.filter(pk=release.pk).update(phase="rollout")
    release.refresh_from_db()
    return release


def tool_report(call: DeployCall, status: str = "succeeded", message: str = "") -> DeployCall:
    """The deploy tool reports on `call` through its report_url (the call's own token)."""
    return reports.deploy_report(
        wave_id=call.wave_id,
        status=status,
        key=str(call.key),
        message=message,
        action=call.action,
        credentials=reports.ReportCredentials(token=report_token(call)),
    )


def report_sent_deploys(release: Release, action: str = "deploy") -> int:
    sent = DeployCall.objects.filter(wave__plan__release=release, action=action, state="sent")
    for call in sent:
        tool_report(call)
    return len(sent)


@pytest.fixture
def three_regions():
    return [
        EnvironmentFactory(name="prod-eu", region="eu", time_zone=BERLIN),
        EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK),
        EnvironmentFactory(name="prod-apac", region="apac", time_zone="Asia/Singapore"),
    ]


def test_deploy_request_is_signed_json_the_tool_can_verify(rita, oscar, prod_eu):
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu])
        run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    call = DeployCall.objects.get(wave=wave)
    assert (wave.state, call.state, call.attempts, call.response_status) == (
        "deploying",
        "sent",
        1,
        202,
    )
    (request,) = received.received("POST")
    body = request["body"]
    headers = {name.lower(): value for name, value in request["headers"].items()}
    stamp = headers[signing.TIMESTAMP_HEADER.lower()]
    signature = headers[signing.SIGNATURE_HEADER.lower()]
    assert headers["content-type"] == "application/json"
    assert signing.verify(body, "secret-of-prod-eu", stamp, signature)
    assert not signing.verify(body, "another-secret", stamp, signature)
    assert not signing.verify(
        body.replace(b"2.0.0", b"6.6.6"), "secret-of-prod-eu", stamp, signature
    )
    payload = json.loads(body)
    assert payload["action"] == "deploy"
    assert payload["version"] == "2.0.0"
    assert payload["release"]["id"] == release.pk
    assert payload["wave"] == {"id": wave.pk, "name": "prod-eu 10%", "position": 1}
    assert payload["percentage"] == 10
    assert payload["key"] == str(call.key) == headers["idempotency-key"]
    assert payload["report_url"].endswith(
        f"/api/v1/waves/{wave.pk}/report/?token={report_token(call)}"
    )


def test_wave_verifies_once_the_tool_reports_success(rita, oscar, prod_eu):
    with tool() as (url, _):
        release = webhook_release(rita, url, [prod_eu])
        run_engine(release, timezone.now())
        assert report_sent_deploys(release) == 1
        run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    assert wave.state == "succeeded"
    assert CheckResult.objects.get(wave=wave).value == "2.0.0"


@pytest.mark.parametrize("trouble", ["HTTP 503", "timeout"])
def test_deploy_request_is_retried_with_backoff(rita, prod_eu, settings, trouble):
    settings.RELEASEDECK_HTTP_TIMEOUT = 0.2
    answers = [503, 503] if trouble == "HTTP 503" else []
    with tool(answers) as (url, received):
        if trouble == "timeout":
            slow = received.respond
            calls = {"n": 0}

            def respond(*args):
                calls["n"] += 1
                if calls["n"] <= 2:
                    clock.sleep(0.5)
                return slow(*args)

            received.respond = respond
        release = webhook_release(rita, url, [prod_eu])
        t0 = timezone.now()
        run_engine(release, t0)
        call = DeployCall.objects.get(wave__plan__release=release)
        assert (call.state, call.attempts) == ("pending", 1)
        # The backoff counts from when the attempt ended, not from when it began.
        ended = call.next_attempt_at - timedelta(seconds=2)
        assert call.attempt_started_at == t0 < ended <= timezone.now()
        assert deploy_call_send(call_id=call.pk, now=t0 + timedelta(seconds=1)) == "not due"
        t1 = t0 + timedelta(seconds=3)
        run_engine(release, t1)
        call.refresh_from_db()
        assert (call.attempts, call.next_attempt_at) == (2, t1 + timedelta(seconds=4))
        run_engine(release, t1 + timedelta(seconds=4))
    call.refresh_from_db()
    assert (call.state, call.attempts) == ("sent", 3)
    failures = AuditEvent.objects.filter(verb="deploy.send_failed", object_id=str(call.pk))
    assert [e.reason.split(":")[0] for e in failures] == ["Attempt 1", "Attempt 2"]
    if trouble == "HTTP 503":
        assert failures[0].after["status"] == 503
    else:
        assert failures[0].after["status"] is None  # nothing answered in time


@pytest.mark.parametrize(("policy", "state"), [("halt", "halted"), ("rollback", "failed")])
def test_deploy_that_never_gets_through_fails_the_wave_per_its_policy(rita, prod_eu, policy, state):
    attempts = settings.RELEASEDECK_DEPLOY_ATTEMPTS
    with tool([503] * attempts) as (url, received):
        release = webhook_release(rita, url, [prod_eu], policy=policy)
        now = timezone.now()
        for _ in range(attempts):
            run_engine(release, now)
            now += timedelta(seconds=300)
        (wave,) = waves_of(release)
        call = DeployCall.objects.get(wave=wave, action="deploy")
        assert (call.state, call.attempts) == ("failed", attempts)
        assert len(received.received("POST")) >= attempts
        assert wave.state == state
        assert "Deploy failed: HTTP 503" in wave.state_reason
        release.refresh_from_db()
        assert release.phase == "rollout"
        if policy == "rollback":
            # Undone only once the tool confirms the rollback it was sent.
            assert wave.rollback_pending
            assert report_sent_deploys(release, "rollback") == 1
            run_engine(release, now)
            (wave,) = waves_of(release)
            assert (wave.state, wave.rollback_pending) == ("rolled_back", False)
            assert Release.objects.get(pk=release.pk).phase == "rolled_back"


def test_webhook_wave_without_deploy_url_halts_for_an_operator(rita, oscar, prod_eu):
    with tool() as (url, _):
        release = webhook_release(rita, url, [prod_eu], policy="rollback")
    Environment.objects.filter(pk=prod_eu.pk).update(deploy_url="")
    run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    assert (wave.state, wave.state_reason) == (
        "halted",
        "prod-eu has no deploy URL for the webhook deployer",
    )
    assert Release.objects.get(pk=release.pk).phase == "rollout"  # nothing deployed, nothing undone


# Failure policy


def test_failing_check_halts_the_wave_for_an_operator(rita, oscar, prod_eu, prod_us):
    with tool() as (url, health):
        release = webhook_release(rita, url, [prod_eu, prod_us], policy="halt", bake=30)
        health.broken.add("/health/1")
        run_engine(release, timezone.now())
        report_sent_deploys(release)
        now = timezone.now()
        run_engine(release, now)
        first = waves_of(release)[0]
        assert (first.state, Check.objects.get(wave=first).consecutive_failures) == ("verifying", 1)
        run_engine(release, now + timedelta(seconds=60))
    first, second = waves_of(release)
    assert first.state == "halted"
    assert first.state_reason == (
        "Check health failed 2 times in a row (last seen: broken; expected version 2.0.0)"
    )
    assert second.state == "pending"
    assert Release.objects.get(pk=release.pk).phase == "rollout"
    assert not DeployCall.objects.filter(action="rollback").exists()
    results = CheckResult.objects.filter(wave=first).order_by("at")
    assert [(r.ok, r.value) for r in results] == [(False, "broken"), (False, "broken")]
    assert AuditEvent.objects.filter(verb="check.failed", release_id=release.pk).count() == 2


def test_failing_check_rolls_back_every_deployed_wave_newest_first(rita, oscar, three_regions):
    with tool() as (url, received):
        release = webhook_release(rita, url, three_regions, policy="rollback")
        Wave.objects.filter(plan__release=release, position=2).update(bake_minutes=30)
        for _ in range(3):
            run_engine(release, timezone.now())
            report_sent_deploys(release)
        now = timezone.now()
        first, second, third = waves_of(release)
        assert (first.state, second.state, third.state) == ("succeeded", "verifying", "pending")

        received.broken.add("/health/2")
        run_engine(release, now + timedelta(minutes=1))
        run_engine(release, now + timedelta(minutes=2))
        run_engine(release, now + timedelta(minutes=3))  # the rollback calls go out
        posts = [json.loads(r["body"]) for r in received.received("POST")]
        rollbacks = [(p["action"], p["wave"]["name"]) for p in posts if p["action"] == "rollback"]
        assert rollbacks == [("rollback", "prod-us 20%"), ("rollback", "prod-eu 10%")]
        assert list(
            DeployCall.objects.filter(action="rollback")
            .order_by("pk")
            .values_list("wave__name", "state")
        ) == [("prod-us 20%", "sent"), ("prod-eu 10%", "sent")]
        # Sent is not done: the waves keep their states, rollback pending, the release rolls out.
        assert Release.objects.get(pk=release.pk).phase == "rollout"
        assert [(w.state, w.rollback_pending) for w in waves_of(release)] == [
            ("succeeded", True),
            ("failed", True),
            ("pending", False),
        ]
        assert report_sent_deploys(release, "rollback") == 2
        run_engine(release, now + timedelta(minutes=4))
    release.refresh_from_db()
    assert release.phase == "rolled_back"
    assert [w.state for w in waves_of(release)] == ["rolled_back", "rolled_back", "pending"]
    event = AuditEvent.objects.get(verb="rollout.auto_rollback", release_id=release.pk)
    assert event.after == {
        "waves_rolled_back": [],
        "waves_rolling_back": ["prod-us 20%", "prod-eu 10%"],
    }
    assert "Check health failed 2 times in a row (last seen: broken" in event.reason


def test_a_failed_rollback_halts_the_wave_with_the_tools_reason(rita, oscar, prod_eu):
    OutboundWebhook.objects.create(name="chat", url="https://chat.example.com/hook", secret="s")
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu], policy="rollback", bake=30)
        run_engine(release, timezone.now())
        report_sent_deploys(release)
        received.broken.add("/health/1")
        now = timezone.now()
        for minute in range(3):
            run_engine(release, now + timedelta(minutes=minute))
        (call,) = DeployCall.objects.filter(action="rollback", state="sent")
        tool_report(call, "failed", "snapshot missing")
        run_engine(release, now + timedelta(minutes=3))
    (wave,) = waves_of(release)
    assert (wave.state, wave.rollback_pending) == ("halted", False)
    assert wave.state_reason.startswith("Rollback failed: snapshot missing.")
    assert Release.objects.get(pk=release.pk).phase == "rollout"  # an operator decides
    halted = Notification.objects.filter(event="wave.halted", release=release).last()
    assert "Rollback failed: snapshot missing" in halted.payload["text"]
    # The operator may roll it back again: a new call, a new round.
    rolled = operations.wave_operate(
        wave_id=wave.pk, action="rollback", actor=oscar, reason="Try again"
    )
    assert (rolled.state, rolled.rollback_pending) == ("halted", True)
    assert list(
        DeployCall.objects.filter(wave=wave, action="rollback")
        .order_by("round")
        .values_list("round", "state")
    ) == [(1, "failed"), (2, "pending")]


def test_a_rollback_the_tool_never_confirms_halts_at_the_deploy_timeout(rita, prod_eu):
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu], policy="rollback", bake=30)
        run_engine(release, timezone.now())
        report_sent_deploys(release)
        received.broken.add("/health/1")
        now = timezone.now()
        for minute in range(3):
            run_engine(release, now + timedelta(minutes=minute))
        assert waves_of(release)[0].rollback_pending
        run_engine(release, now + settings.RELEASEDECK_DEPLOY_TIMEOUT + timedelta(minutes=5))
    (wave,) = waves_of(release)
    assert wave.state == "halted"
    assert "did not report within the deploy timeout" in wave.state_reason


def test_auto_rollback_cap_counts_each_release_on_its_own(rita, settings):
    settings.RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR = 1
    with tool() as (url, received):
        envs = [EnvironmentFactory(name=f"prod-{i}", region="eu") for i in (1, 2)]
        flapping, other = (
            webhook_release(rita, url, [env], policy="rollback", bake=30) for env in envs
        )
        # The flapping release was rolled back automatically a moment ago; the other never was.
        record_change(
            release_id=flapping.pk, actor=None, verb="rollout.auto_rollback", obj=flapping
        )
        received.broken.update({"/health/1"})
        for release in (flapping, other):
            run_engine(release, timezone.now())
            report_sent_deploys(release)
            now = timezone.now()
            for minute in range(3):
                run_engine(release, now + timedelta(minutes=minute))
        assert report_sent_deploys(other, "rollback") == 1
        run_engine(other, now + timedelta(minutes=4))
    assert Release.objects.get(pk=other.pk).phase == "rolled_back"
    assert Release.objects.get(pk=flapping.pk).phase == "rollout"
    (wave,) = waves_of(flapping)
    assert wave.state == "halted"
    assert wave.state_reason.endswith(
        "Automatic rollback not attempted: this release was rolled back automatically 1 time(s) "
        "in the last hour, the cap (RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR); an operator "
        "decides"
    )
    assert not DeployCall.objects.filter(wave=wave, action="rollback").exists()


# Enqueueing: only after commit; duplicates are harmless


@pytest.fixture
def published():
    """Celery messages published during the test, as (task name, args); the test broker is
    emptied afterwards so no worker ever sees them."""
    sent: list[tuple[str, tuple]] = []

    def record(sender=None, body=None, **kwargs):
        sent.append((sender, tuple(body[0])))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)
    purge_celery_queue()


def test_due_steps_are_enqueued_only_after_commit_and_run_once(
    rita, oscar, prod_eu, django_capture_on_commit_callbacks, published
):
    with tool() as (url, received):
        release = webhook_release(rita, url, [prod_eu])
        (wave,) = waves_of(release)
        now = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert rollouts_tick(now=now) == {"armed": 1, "waves": 1, "calls": 0, "checks": 0}
            assert published == []
        assert published == [("apps.rollouts.tasks.wave_step", (wave.pk,))]

        published.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert wave_step(wave_id=wave.pk, now=now) == "deploying"
            assert published == []
        call = DeployCall.objects.get(wave=wave)
        assert published == [("apps.rollouts.tasks.deploy_call_send", (call.pk,))]
        assert wave_step(wave_id=wave.pk, now=now) == "not due"  # a duplicate message

        assert deploy_call_send(call_id=call.pk, now=now) == "sent"
        assert deploy_call_send(call_id=call.pk, now=now) == "not pending"
        assert len(received.received("POST")) == 1

    report_sent_deploys(release)
    published.clear()
    later = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert wave_step(wave_id=wave.pk, now=later) == "verifying"
    check = Check.objects.get(wave=wave)
    # The check runs at once; with no bake time the wave looks again at once too.
    assert sorted(published) == [
        ("apps.rollouts.tasks.check_run", (check.pk,)),
        ("apps.rollouts.tasks.wave_step", (wave.pk,)),
    ]


def test_a_due_step_is_enqueued_once_per_lease_until_it_has_run(
    rita, prod_eu, django_capture_on_commit_callbacks, published
):
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)
    now = timezone.now()

    def steps_sent() -> int:
        return sum(1 for name, _ in published if name.endswith("wave_step"))

    with django_capture_on_commit_callbacks(execute=True):
        rollouts_tick(now=now)
        rollouts_tick(now=now + timedelta(seconds=1))  # the message may still be queued
    assert steps_sent() == 1
    with django_capture_on_commit_callbacks(execute=True):
        rollouts_tick(now=now + settings.RELEASEDECK_STEP_LEASE + timedelta(seconds=1))
    assert steps_sent() == 2  # presumed lost: sent again

    wave_step(wave_id=wave.pk, now=now)  # the step ran: the next due time goes out at once
    Wave.objects.filter(pk=wave.pk).update(next_step_at=now)
    with django_capture_on_commit_callbacks(execute=True):
        rollouts_tick(now=now + settings.RELEASEDECK_STEP_LEASE + timedelta(seconds=2))
    assert steps_sent() == 3


def test_a_deploying_wave_keeps_the_deploy_timeout_it_started_with(rita, prod_eu, settings):
    with tool() as (url, _):
        release = webhook_release(rita, url, [prod_eu])
        start = timezone.now()
        run_engine(release, start)
    call = DeployCall.objects.get(wave__plan__release=release)
    assert call.deadline_at == start + timedelta(minutes=30)
    settings.RELEASEDECK_DEPLOY_TIMEOUT = timedelta(minutes=1)  # changed while it deploys
    run_engine(release, start + timedelta(minutes=5))
    assert waves_of(release)[0].state == "deploying"
    run_engine(release, start + timedelta(minutes=31))
    (wave,) = waves_of(release)
    assert (wave.state, wave.state_reason) == (
        "halted",
        "The deploy tool did not report within the deploy timeout",
    )


def test_engine_settings_come_from_the_environment():
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "RELEASEDECK_HTTP_TIMEOUT": "7.5",
        "RELEASEDECK_DEPLOY_ATTEMPTS": "4",
        "RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR": "2",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.RELEASEDECK_HTTP_TIMEOUT, s.RELEASEDECK_DEPLOY_ATTEMPTS, "
        "s.RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["7.5", "4", "2"]

"""Planning a rollout: planned starts in local time, wave sign-off requirements, the dry run."""

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed, ServiceError
from apps.environments import services as env_services
from apps.environments.models import Environment
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.dryrun import plan_dry_run
from apps.rollouts.models import Wave
from apps.signoffs.models import SignoffRequirement
from tests.factories import EnvironmentFactory, ReleaseFactory
from tests.rollouts.test_engine_steps import rolling_out, run_engine, waves_of
from tests.rollouts.test_services import (
    answered_without_writing,
    api_refused,
    refused_without_writing,
)

pytestmark = pytest.mark.django_db

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def prod_eu():
    return EnvironmentFactory(name="prod-eu", region="eu", time_zone=BERLIN)


@pytest.fixture
def prod_us():
    return EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK)


@pytest.fixture
def planning(rita):
    release = ReleaseFactory(owner=rita)
    ro.plan_set(release_id=release.pk, strategy="rolling", actor=rita)
    return release


def window(release: Release, start: datetime, days: int = 7) -> Release:
    """Plan the release's window from `start`, so a dry run at a fixed date falls inside it."""
    Release.objects.filter(pk=release.pk).update(
        planned_start=start, planned_end=start + timedelta(days=days)
    )
    release.refresh_from_db()
    return release


def add_wave(release: Release, env: Environment, rm: Any, **fields: Any) -> Wave:
    return ro.wave_add(
        release_id=release.pk, name=f"{env.name} wave", environment_id=env.pk, actor=rm, **fields
    )


# Planned start in the environment's local time


@pytest.mark.parametrize(
    ("zone", "local", "stored"),
    [
        (BERLIN, "2026-03-28T09:00", utc(2026, 3, 28, 8, 0)),  # CET, the day before
        (BERLIN, "2026-03-29T09:00", utc(2026, 3, 29, 7, 0)),  # CEST after spring-forward
        (BERLIN, "2026-10-25T09:00", utc(2026, 10, 25, 8, 0)),  # CET after fall-back
        (BERLIN, "2026-10-25T02:30", utc(2026, 10, 25, 0, 30)),  # happens twice: the first
        (NEW_YORK, "2026-03-08T09:00", utc(2026, 3, 8, 13, 0)),  # EDT after spring-forward
        (NEW_YORK, "2026-11-01T09:00", utc(2026, 11, 1, 14, 0)),  # EST after fall-back
        (NEW_YORK, "2026-11-01T01:30", utc(2026, 11, 1, 5, 30)),  # happens twice: the first
    ],
)
def test_planned_start_typed_in_local_time_is_stored_in_utc(planning, rita, zone, local, stored):
    env = EnvironmentFactory(name="prod", time_zone=zone)
    wave = add_wave(planning, env, rita)
    updated = ro.wave_update(
        wave_id=wave.pk, actor=rita, planned_start_local=datetime.fromisoformat(local)
    )
    assert updated.planned_start == stored
    assert Wave.objects.get(pk=wave.pk).planned_start == stored
    event = AuditEvent.objects.filter(verb="wave.updated").latest("id")
    assert (event.before, event.after) == (
        {"planned_start": None},
        {"planned_start": stored.isoformat()},
    )


@pytest.mark.parametrize(
    ("zone", "local", "message"),
    [
        (
            BERLIN,
            "2026-03-29T02:30",
            "02:30 on 29 March 2026 does not exist in Europe/Berlin (clocks go forward from "
            "02:00 to 03:00). Choose a time outside that gap.",
        ),
        (
            NEW_YORK,
            "2026-03-08T02:00",
            "02:00 on 8 March 2026 does not exist in America/New_York (clocks go forward from "
            "02:00 to 03:00). Choose a time outside that gap.",
        ),
    ],
)
def test_a_planned_start_in_the_spring_forward_gap_is_refused(planning, rita, zone, local, message):
    env = EnvironmentFactory(name="prod", time_zone=zone)
    wave = add_wave(planning, env, rita)
    with pytest.raises(ServiceError) as refused:
        ro.wave_update(
            wave_id=wave.pk, actor=rita, planned_start_local=datetime.fromisoformat(local)
        )
    assert (refused.value.message, refused.value.field) == (message, "planned_start_local")
    assert Wave.objects.get(pk=wave.pk).planned_start is None
    with pytest.raises(ServiceError):
        ro.wave_add(
            release_id=planning.pk,
            name="second",
            environment_id=env.pk,
            planned_start_local=datetime.fromisoformat(local),
            actor=rita,
        )


def test_planned_start_follows_the_zone_of_the_environment_chosen_with_it(
    planning, rita, prod_eu, prod_us
):
    wave = add_wave(planning, prod_eu, rita)
    updated = ro.wave_update(
        wave_id=wave.pk,
        actor=rita,
        environment_id=prod_us.pk,
        planned_start_local=datetime(2026, 12, 1, 9),
    )
    assert updated.planned_start == utc(2026, 12, 1, 14, 0)


def test_empty_planned_start_clears_it(planning, rita, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    ro.wave_update(wave_id=wave.pk, actor=rita, planned_start_local=datetime(2026, 12, 1, 9))
    assert (
        ro.wave_update(wave_id=wave.pk, actor=rita, planned_start_local=None).planned_start is None
    )


def test_an_empty_planned_start_from_the_api_clears_it(client, planning, rita, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    ro.wave_update(wave_id=wave.pk, actor=rita, planned_start_local=datetime(2026, 12, 1, 9))
    client.force_login(rita)
    answer = client.patch(
        f"/api/v1/waves/{wave.pk}/", {"planned_start_local": ""}, content_type="application/json"
    )
    assert (answer.status_code, answer.json()["planned_start"]) == (200, None)
    assert Wave.objects.get(pk=wave.pk).planned_start is None


# A planned start in local time is read by the API's serializer and the scheduler's form;
# the service takes a naive datetime. An aware datetime cannot travel in JSON: its text is the
# time with an offset, refused as such.
NOT_PLAIN_LOCAL = [
    "2026-12-01T09:00+01:00",
    "2026-12-01T09:00Z",
    "tomorrow morning",
    "2026-13-01T09:00",
    "0001-01-01T00:00",
    "2026-12-01T09:00:00+00:00",
    42,
    ["2026-12-01T09:00"],
    "x" * 41,
]


@pytest.mark.parametrize("value", NOT_PLAIN_LOCAL, ids=str)
def test_planned_start_refused_unless_a_plain_local_time(client, planning, rita, prod_eu, value):
    wave = add_wave(planning, prod_eu, rita)
    client.force_login(rita)
    api_refused(
        client,
        "patch",
        f"/api/v1/waves/{wave.pk}/",
        {"planned_start_local": value},
        "planned_start_local",
    )


@pytest.mark.parametrize("value", [v for v in NOT_PLAIN_LOCAL if isinstance(v, str)], ids=str)
def test_the_scheduler_refuses_a_planned_start_unless_a_plain_local_time(
    client, planning, rita, prod_eu, value
):
    wave = add_wave(planning, prod_eu, rita)
    client.force_login(rita)
    form = {
        f"w{wave.pk}-planned_start_local": value,
        f"w{wave.pk}-percentage": "100",
        f"w{wave.pk}-bake_minutes": "30",
        f"w{wave.pk}-failure_policy": "halt",
        f"w{wave.pk}-deployer": "simulated",
    }
    answer = answered_without_writing(
        lambda: client.post(f"/releases/{planning.pk}/plan/save/", form, HTTP_HX_REQUEST="true")
    )
    assert answer.status_code == 400
    assert (
        f'id="w{wave.pk}-planned_start_local-error">planned_start_local ' in answer.content.decode()
    )


def test_wave_update_refuses_unknown_fields_by_name(client, planning, rita, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    client.force_login(rita)
    answer = answered_without_writing(
        lambda: client.patch(
            f"/api/v1/waves/{wave.pk}/",
            {"planned_start_utc": "2026-12-01T09:00"},
            content_type="application/json",
        )
    )
    assert (answer.status_code, answer.json()["field"]) == (400, "planned_start_utc")
    for value in ("2026-12-01T25:00", "soon"):
        api_refused(
            client, "patch", f"/api/v1/waves/{wave.pk}/", {"planned_start": value}, "planned_start"
        )


def test_only_release_managers_plan_waves(planning, rita, oscar, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    refused_without_writing(
        lambda: ro.wave_update(
            wave_id=wave.pk, actor=oscar, planned_start_local=datetime(2026, 12, 1, 9)
        ),
        NotAllowed,
    )


def test_moving_a_scheduled_wave_earlier_starts_it_at_the_new_time(rita, prod_eu):
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)
    now = timezone.now()
    tomorrow = timezone.localtime(now + timedelta(days=1), timezone=ZoneInfo(BERLIN)).replace(
        tzinfo=None, second=0, microsecond=0
    )
    ro.wave_update(wave_id=wave.pk, actor=rita, planned_start_local=tomorrow)
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "scheduled"

    soon = tomorrow - timedelta(days=1, minutes=-10)  # ten minutes from now, local time
    moved = ro.wave_update(wave_id=wave.pk, actor=rita, planned_start_local=soon)
    assert moved.next_step_at <= timezone.now()  # looked at again at once
    run_engine(release, timezone.now())
    assert waves_of(release)[0].next_step_at == moved.planned_start
    run_engine(release, moved.planned_start)
    assert waves_of(release)[0].started_at == moved.planned_start


def test_a_started_wave_can_no_longer_be_edited(rita, prod_eu):
    release = rolling_out(rita, [prod_eu], bake_minutes=30)
    run_engine(release, timezone.now())
    (wave,) = waves_of(release)
    refused_without_writing(
        lambda: ro.wave_update(
            wave_id=wave.pk, actor=rita, planned_start_local=datetime(2030, 1, 1, 9)
        ),
        Conflict,
    )


# A wave's own sign-off requirement


def test_wave_requirement_is_set_changed_and_removed_with_an_audit_trail(planning, rita, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=2, actor=rita)
    assert SignoffRequirement.objects.get(wave=wave).count == 2
    events = AuditEvent.objects.count()
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=2, actor=rita)
    assert AuditEvent.objects.count() == events
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=0, actor=rita)
    assert not SignoffRequirement.objects.filter(wave=wave).exists()
    trail = AuditEvent.objects.filter(verb="wave.requirement_set").order_by("id")
    assert [(e.before["count"], e.after["count"]) for e in trail] == [(0, 1), (1, 2), (2, 0)]
    # A wave's requirement is not part of the release's own policy.
    assert not SignoffRequirement.objects.filter(release=planning, wave__isnull=True).exists()


def test_wave_requirement_refuses_an_unknown_role(planning, rita, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    error = refused_without_writing(
        lambda: ro.wave_requirement_set(wave_id=wave.pk, role="astronaut", count=1, actor=rita)
    )
    assert error.field == "role"


# The API reads the text "1" as the number 1, as DRF always did.
@pytest.mark.parametrize(
    ("changes", "field"),
    [({"role": "astronaut"}, "role"), ({"count": -1}, "count"), ({"count": "one"}, "count")],
)
def test_wave_requirement_refuses_bad_input(client, planning, rita, prod_eu, changes, field):
    wave = add_wave(planning, prod_eu, rita)
    client.force_login(rita)
    body = {"role": "business_owner", "count": 1, **changes}
    api_refused(client, "put", f"/api/v1/waves/{wave.pk}/signoff-requirement/", body, field)
    answer = answered_without_writing(
        lambda: client.post(
            f"/releases/{planning.pk}/plan/waves/{wave.pk}/requirement/",
            {k: str(v) for k, v in body.items()},
            HTTP_HX_REQUEST="true",
        )
    )
    assert answer.status_code == 400


def test_only_release_managers_set_wave_requirements(planning, rita, oscar, bob, prod_eu):
    wave = add_wave(planning, prod_eu, rita)
    for actor in (oscar, bob):
        refused_without_writing(
            lambda a=actor: ro.wave_requirement_set(
                wave_id=wave.pk, role="business_owner", count=1, actor=a
            ),
            NotAllowed,
        )


def test_dropping_a_wave_requirement_lets_the_waiting_wave_start(rita, prod_eu):
    release = rolling_out(rita, [prod_eu])
    (wave,) = waves_of(release)
    ro.wave_requirement_set(wave_id=wave.pk, role="security", count=1, actor=rita)
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "waiting"
    ro.wave_requirement_set(wave_id=wave.pk, role="security", count=0, actor=rita)
    run_engine(release, timezone.now())
    assert waves_of(release)[0].state == "succeeded"


# Dry run


def test_dry_run_gives_each_waves_earliest_start_and_why_it_is_later(
    rita, vera, planning, prod_eu, prod_us
):
    now = utc(2026, 12, 18, 10, 0)  # Friday 11:00 in Berlin
    window(planning, now)
    env_services.freeze_create(
        scope="environment",
        environment_id=prod_eu.pk,
        start=now - timedelta(days=1),
        end=utc(2026, 12, 18, 16, 0),
        reason="Payroll run",
        actor=rita,
    )
    env_services.deployment_window_add(
        environment_id=prod_us.pk,
        weekdays=[0, 1, 2, 3, 4],
        start_time=time(9, 0),
        end_time=time(17, 0),
        actor=rita,
    )
    add_wave(planning, prod_eu, rita, bake_minutes=120)
    add_wave(planning, prod_us, rita, bake_minutes=30)

    lines = plan_dry_run(release_id=planning.pk, actor=vera, now=now)

    eu, us = lines
    assert (eu["name"], eu["earliest_start"], eu["earliest_start_local"]) == (
        "prod-eu wave",
        utc(2026, 12, 18, 16, 0),
        "2026-12-18T17:00:00+01:00",
    )
    assert eu["warnings"] == ["prod-eu: freeze until Fri 18 Dec 17:00 Europe/Berlin (Payroll run)"]
    # After the EU bake (18:00 UTC = 13:00 in New York) the US window is open: no warning.
    assert (us["earliest_start"], us["warnings"]) == (utc(2026, 12, 18, 18, 0), [])
    assert us["earliest_start_local"] == "2026-12-18T13:00:00-05:00"
    assert us["time_zone"] == NEW_YORK


def test_dry_run_pushes_a_wave_past_closing_time_to_the_next_window(
    rita, planning, prod_eu, prod_us
):
    now = utc(2026, 12, 18, 20, 0)  # Friday 15:00 in New York
    window(planning, now)
    env_services.deployment_window_add(
        environment_id=prod_us.pk,
        weekdays=[0, 1, 2, 3, 4],
        start_time=time(9, 0),
        end_time=time(17, 0),
        actor=rita,
    )
    add_wave(planning, prod_eu, rita, bake_minutes=180)
    add_wave(planning, prod_us, rita)

    eu, us = plan_dry_run(release_id=planning.pk, actor=rita, now=now)
    assert (eu["earliest_start"], eu["warnings"]) == (now, [])
    assert us["earliest_start"] == utc(2026, 12, 21, 14, 0)  # Monday 09:00 EST
    assert us["warnings"] == [
        "prod-us: outside deployment hours until Mon 21 Dec 09:00 America/New_York"
    ]


def test_dry_run_says_when_a_planned_start_is_too_early_for_the_previous_bake(
    rita, planning, prod_eu, prod_us
):
    now = utc(2026, 12, 1, 8, 0)
    window(planning, now)
    add_wave(planning, prod_eu, rita, bake_minutes=240)
    late = add_wave(planning, prod_us, rita)
    on_time = ro.wave_update(
        wave_id=late.pk, actor=rita, planned_start_local=datetime(2026, 12, 1, 5)
    )
    assert on_time.planned_start == utc(2026, 12, 1, 10, 0)

    _, us = plan_dry_run(release_id=planning.pk, actor=rita, now=now)
    assert us["earliest_start"] == utc(2026, 12, 1, 12, 0)
    assert us["warnings"] == [
        "prod-us wave: starts after the previous wave has baked, Tue 01 Dec 07:00 America/New_York"
    ]


def test_dry_run_keeps_a_planned_start_that_nothing_delays(rita, planning, prod_eu):
    window(planning, utc(2026, 12, 1))
    wave = add_wave(planning, prod_eu, rita)
    ro.wave_update(wave_id=wave.pk, actor=rita, planned_start_local=datetime(2026, 12, 7, 9))
    (line,) = plan_dry_run(release_id=planning.pk, actor=rita, now=utc(2026, 12, 1))
    assert (line["earliest_start"], line["warnings"]) == (utc(2026, 12, 7, 8, 0), [])
    assert line["earliest_start_local"] == "2026-12-07T09:00:00+01:00"


def test_dry_run_needs_a_role(planning, charlie):
    with pytest.raises(NotAllowed):
        plan_dry_run(release_id=planning.pk, actor=charlie)


def test_dry_run_of_a_plan_without_waves_is_empty(planning, rita):
    assert plan_dry_run(release_id=planning.pk, actor=rita) == []

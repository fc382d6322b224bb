"""The wave scheduler and the rollout console through the Django test client: who may see and
press what, what is saved (and what is not), and what each poll costs."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments import calendars
from apps.environments import selectors as env_selectors
from apps.environments import services as env_services
from apps.releases import services as rs
from apps.releases.models import Release
from apps.rollouts import delivery
from apps.rollouts import services as ro
from apps.rollouts.models import Check, Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs.models import SignoffRequirement
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BERLIN, NEW_YORK, TOKYO = "Europe/Berlin", "America/New_York", "Asia/Tokyo"


# Dates in the dry-run tests lie this far ahead, so freezes and windows are never in the past.
YEAR = timezone.now().year + 2


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def describe(at: datetime, zone: str) -> str:
    return calendars.describe(at, zone)


def url(name: str, release: Release, *args: object) -> str:
    return reverse(f"rollouts:{name}", args=[release.pk, *args])


def waves_of(release: Release) -> list[Wave]:
    return list(Wave.objects.filter(plan__release=release).order_by("position"))


def row_fields(wave: Wave, **values: str) -> dict[str, str]:
    """A wave's row of the scheduler form as the browser posts it."""
    fields = {
        "planned_start_local": "",
        "percentage": str(wave.percentage),
        "bake_minutes": str(wave.bake_minutes),
        "failure_policy": wave.failure_policy,
        "deployer": wave.deployer,
        **values,
    }
    return {f"w{wave.pk}-{name}": value for name, value in fields.items()}


def plan_form(*rows: dict[str, str]) -> dict[str, str]:
    form: dict[str, str] = {}
    for row in rows:
        form.update(row)
    return form


@pytest.fixture
def world(rita, alice, bob):
    """A release in planning with one wave in each of three time zones."""
    release = planned_release(rita, qa=alice, business_owner=bob)
    (eu,) = waves_of(release)
    us = EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK)
    ap = EnvironmentFactory(name="prod-ap", region="ap", time_zone=TOKYO)
    ro.wave_add(release_id=release.pk, name="prod-us 100%", environment_id=us.pk, actor=rita)
    ro.wave_add(release_id=release.pk, name="prod-ap 100%", environment_id=ap.pk, actor=rita)
    release.refresh_from_db()
    return release


@pytest.fixture
def rolling(rita, alice, bob):
    """A release rolling out: its first wave is verifying, its second waits."""
    release = planned_release(rita, qa=alice, business_owner=bob, version="2.1.0")
    us = EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK)
    ro.wave_add(release_id=release.pk, name="prod-us 100%", environment_id=us.pk, actor=rita)
    first = waves_of(release)[0]
    ro.check_add(
        wave_id=first.pk,
        name="Error rate",
        kind="metric",
        config={"url": "http://metrics.test/crm", "field": "errors", "threshold": 0.01},
        actor=rita,
    )
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    for state in ("deploying", "verifying"):
        wave_transition(wave_id=first.pk, to=state, actor=None)
    release.refresh_from_db()
    return release


def year_end_freeze(rita, env_name: str = "prod-eu"):
    from apps.environments.models import Environment

    env = Environment.objects.get(name=env_name)
    return env_services.freeze_create(
        scope="environment",
        environment_id=env.pk,
        start=utc(YEAR, 12, 20, 0),
        end=utc(YEAR + 1, 1, 4, 0),
        reason="Year-end freeze",
        actor=rita,
    )


# ---- Wave scheduler: who sees what ----


def test_scheduler_shows_local_time_inputs_labelled_with_each_zone(client, world, rita):
    client.force_login(rita)
    response = client.get(url("scheduler", world))
    html = response.content.decode()
    assert response.status_code == 200
    for wave, zone in zip(waves_of(world), (BERLIN, NEW_YORK, TOKYO), strict=True):
        label = re.search(
            rf'<label class="tz-label" for="w{wave.pk}-planned_start_local">(.*?)</label>',
            html,
            re.S,
        )
        assert label and label.group(1).endswith(zone)
        assert re.search(rf'type="datetime-local"\s+id="w{wave.pk}-planned_start_local"', html)
    assert "Save waves" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="timeline-svg"' in html
    assert f'hx-post="{url("preview", world)}"' in html


def test_scheduler_shows_saved_planned_start_in_the_environment_local_time(client, world, rita):
    eu, us, _ = waves_of(world)
    ro.wave_update(wave_id=us.pk, actor=rita, planned_start_local=datetime(2026, 12, 1, 9))
    client.force_login(rita)
    html = client.get(url("scheduler", world)).content.decode()
    assert re.search(rf'name="w{us.pk}-planned_start_local"\s+value="2026-12-01T09:00"', html)


def test_scheduler_is_read_only_for_a_viewer(client, world, vera):
    client.force_login(vera)
    response = client.get(url("scheduler", world))
    html = response.content.decode()
    assert response.status_code == 200
    assert "datetime-local" not in html
    assert "Save waves" not in html
    assert "Apply defaults" not in html
    assert "<form" not in html.split('<main id="main"')[1]
    assert "tl-lane" in html  # the timeline is there for everyone


def test_scheduler_refuses_person_without_role(client, world, charlie):
    client.force_login(charlie)
    assert client.get(url("scheduler", world)).status_code == 403


def test_scheduler_sends_anonymous_people_to_sign_in(client, world):
    response = client.get(url("scheduler", world))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_scheduler_of_missing_release_is_404(client, rita):
    client.force_login(rita)
    assert client.get(reverse("rollouts:scheduler", args=[999999])).status_code == 404


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("scheduler", "post"),
        ("preview", "get"),
        ("save", "get"),
        ("strategy", "get"),
    ],
)
def test_scheduler_endpoints_refuse_the_wrong_method(client, world, rita, name, method):
    client.force_login(rita)
    assert getattr(client, method)(url(name, world)).status_code == 405


# ---- Wave scheduler: the dry run before saving ----


def test_scheduler_page_warns_about_a_freeze_in_the_saved_plan(client, world, vera, rita):
    year_end_freeze(rita)
    eu = waves_of(world)[0]
    ro.wave_update(wave_id=eu.pk, actor=rita, planned_start_local=datetime(YEAR, 12, 22, 9))
    client.force_login(vera)
    html = client.get(url("scheduler", world)).content.decode()
    thaw = describe(utc(YEAR + 1, 1, 4, 0), BERLIN)
    assert f"prod-eu: freeze until {thaw} (Year-end freeze)" in html
    assert "Unsaved values" not in html


def test_scheduler_calendars_are_the_engine_calendars(world, rita):
    from datetime import time

    from apps.environments.models import Environment

    eu, us, ap = (w.environment for w in waves_of(world))
    env_services.deployment_window_add(
        environment_id=eu.pk, weekdays=[0, 2], start_time=time(9), end_time=time(12), actor=rita
    )
    env_services.deployment_window_add(
        environment_id=eu.pk, weekdays=[4], start_time=time(14), end_time=time(16), actor=rita
    )
    year_end_freeze(rita, "prod-us")
    for scope, region in (("global", ""), ("region", "eu"), ("region", "ap")):
        env_services.freeze_create(
            scope=scope,
            region=region,
            start=utc(YEAR, 5, 1),
            end=utc(YEAR, 5, 2),
            reason=f"{scope} {region}".strip(),
            actor=rita,
        )
    now = timezone.now()
    envs = list(Environment.objects.filter(pk__in=[eu.pk, us.pk, ap.pk]))
    batched = env_selectors.calendars_for(envs, now)
    for env in envs:
        one = env_selectors.calendar_for(env, now)
        assert set(batched[env.pk].windows) == set(one.windows)
        assert sorted(batched[env.pk].freezes, key=str) == sorted(one.freezes, key=str)
        assert (batched[env.pk].name, batched[env.pk].time_zone) == (one.name, one.time_zone)
    assert {f.reason for f in batched[eu.pk].freezes} == {"global", "region eu"}
    assert {f.reason for f in batched[us.pk].freezes} == {"global", "Year-end freeze"}


def test_preview_saves_nothing_and_warns_about_a_freeze(client, world, rita):
    year_end_freeze(rita)
    eu, us, ap = waves_of(world)
    revision = Release.objects.get(pk=world.pk).revision
    counts = (Wave.objects.count(), AuditEvent.objects.count())
    client.force_login(rita)

    form = plan_form(
        row_fields(eu, planned_start_local=f"{YEAR}-12-22T09:00", bake_minutes="45"),
        row_fields(us, planned_start_local=f"{YEAR + 1}-01-05T09:00"),
        row_fields(ap, planned_start_local=f"{YEAR + 1}-01-06T09:00"),
    )
    response = client.post(url("preview", world), form, **HTMX)
    html = response.content.decode()

    assert response.status_code == 200
    thaw = describe(utc(YEAR + 1, 1, 4, 0), BERLIN)  # 01:00 in Berlin
    assert f"prod-eu: freeze until {thaw} (Year-end freeze)" in html
    assert 'class="tl-freeze"' in html
    assert "Unsaved values" in html
    # Flagged beside the wave's row, out of band.
    flag = re.search(rf'<div id="w{eu.pk}-conflict"(.*?)</div>', html, re.S)
    assert flag and 'hx-swap-oob="true"' in flag.group(1) and "Freeze" in flag.group(1)
    assert f"{thaw[:4]}4 Jan, 01:00 CET" in flag.group(1)
    # Nothing written: no wave changed, no audit event, the release's revision is the same.
    assert (Wave.objects.count(), AuditEvent.objects.count()) == counts
    assert [w.planned_start for w in waves_of(world)] == [None, None, None]
    assert [w.bake_minutes for w in waves_of(world)] == [
        eu.bake_minutes,
        us.bake_minutes,
        ap.bake_minutes,
    ]
    assert Release.objects.get(pk=world.pk).revision == revision


def test_preview_without_conflicts_says_every_wave_can_start(client, world, rita):
    Release.objects.filter(pk=world.pk).update(
        planned_start=utc(YEAR, 6, 4, 0), planned_end=utc(YEAR, 6, 7, 0)
    )
    eu, us, ap = waves_of(world)
    client.force_login(rita)
    form = plan_form(
        row_fields(eu, planned_start_local=f"{YEAR}-06-04T09:00"),
        row_fields(us, planned_start_local=f"{YEAR}-06-05T09:00"),
        row_fields(ap, planned_start_local=f"{YEAR}-06-06T09:00"),
    )
    html = client.post(url("preview", world), form, **HTMX).content.decode()
    assert "Every wave can start at its planned time." in html
    assert "No conflicts" in html


def test_preview_of_the_saved_values_is_not_marked_unsaved(client, world, rita):
    eu, us, ap = waves_of(world)
    ro.wave_update(wave_id=eu.pk, actor=rita, planned_start_local=datetime(YEAR, 6, 4, 9))
    client.force_login(rita)
    form = plan_form(
        row_fields(eu, planned_start_local=f"{YEAR}-06-04T09:00"), row_fields(us), row_fields(ap)
    )
    assert "Unsaved values" not in client.post(url("preview", world), form, **HTMX).content.decode()
    form.update(row_fields(ap, bake_minutes="90"))
    assert "Unsaved values" in client.post(url("preview", world), form, **HTMX).content.decode()


def test_preview_flags_a_start_outside_the_deployment_window(client, world, rita):
    from datetime import time

    eu = waves_of(world)[0]
    env_services.deployment_window_add(
        environment_id=eu.environment_id,
        weekdays=[0, 1, 2, 3, 4],
        start_time=time(9),
        end_time=time(17),
        actor=rita,
    )
    client.force_login(rita)
    form = plan_form(*(row_fields(w) for w in waves_of(world)[1:]))
    tuesday = datetime(YEAR, 6, 1) + timedelta(days=(1 - datetime(YEAR, 6, 1).weekday()) % 7)
    form.update(row_fields(eu, planned_start_local=f"{tuesday:%Y-%m-%d}T20:00"))
    html = client.post(url("preview", world), form, **HTMX).content.decode()
    opens = calendars.local_to_utc(tuesday + timedelta(days=1, hours=9), BERLIN)
    assert f"prod-eu: outside deployment hours until {describe(opens, BERLIN)}" in html
    assert "Wed" in describe(opens, BERLIN)
    assert "Outside window" in html
    assert 'class="tl-window"' in html


def test_preview_of_an_invalid_value_names_the_wave(client, world, rita):
    eu, us, ap = waves_of(world)
    client.force_login(rita)
    form = plan_form(row_fields(eu), row_fields(us, bake_minutes="soon"), row_fields(ap))
    response = client.post(url("preview", world), form, **HTMX)
    assert response.status_code == 400
    assert "prod-us 100%: the bake time must be a whole number." in response.content.decode()


def test_preview_refuses_person_without_role(client, world, charlie):
    client.force_login(charlie)
    assert client.post(url("preview", world), {}, **HTMX).status_code == 403


# ---- Wave scheduler: saving ----


@pytest.mark.parametrize(
    ("zone", "local", "stored"),
    [
        (BERLIN, "2026-03-28T09:00", utc(2026, 3, 28, 8)),  # CET
        (BERLIN, "2026-03-29T09:00", utc(2026, 3, 29, 7)),  # CEST, the day clocks go forward
        (BERLIN, "2026-10-25T09:00", utc(2026, 10, 25, 8)),  # CET again
        (NEW_YORK, "2026-03-07T09:00", utc(2026, 3, 7, 14)),  # EST
        (NEW_YORK, "2026-03-08T09:00", utc(2026, 3, 8, 13)),  # EDT
        (NEW_YORK, "2026-11-01T09:00", utc(2026, 11, 1, 14)),  # EST again
    ],
)
def test_save_converts_local_times_to_utc_across_daylight_saving(
    client, world, rita, zone, local, stored
):
    wave = next(w for w in waves_of(world) if w.environment.time_zone == zone)
    client.force_login(rita)
    response = client.post(url("save", world), row_fields(wave, planned_start_local=local))
    assert response.status_code == 302
    assert Wave.objects.get(pk=wave.pk).planned_start == stored


def test_save_writes_every_wave_in_one_request(client, world, rita):
    eu, us, ap = waves_of(world)
    client.force_login(rita)
    form = plan_form(
        row_fields(eu, planned_start_local="2026-12-01T09:00", percentage="10", bake_minutes="45"),
        row_fields(us, planned_start_local="2026-12-01T09:00", failure_policy="rollback"),
        row_fields(ap, planned_start_local="2026-12-02T09:00", deployer="manual"),
    )
    response = client.post(url("save", world), form, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Saved 3 waves." in html
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    eu, us, ap = waves_of(world)
    assert (eu.planned_start, eu.percentage, eu.bake_minutes) == (utc(2026, 12, 1, 8), 10, 45)
    assert (us.planned_start, us.failure_policy) == (utc(2026, 12, 1, 14), "rollback")
    assert (ap.planned_start, ap.deployer) == (utc(2026, 12, 2, 0), "manual")


def test_save_with_one_bad_wave_saves_nothing_and_shows_the_error_beside_it(client, world, rita):
    eu, us, ap = waves_of(world)
    events = AuditEvent.objects.count()
    client.force_login(rita)
    form = plan_form(
        row_fields(eu, planned_start_local="2026-12-01T09:00"),
        row_fields(us, planned_start_local="2026-12-01T09:00", percentage="150"),
        row_fields(ap, planned_start_local="2026-12-02T09:00"),
    )
    response = client.post(url("save", world), form, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was saved: 1 value needs fixing." in html
    assert f'id="w{us.pk}-percentage-error">percentage must be between 0 and 100.' in html
    assert (
        f'id="w{us.pk}-percentage" name="w{us.pk}-percentage" value="150" aria-invalid="true"'
        in html
    )
    # What was typed stays in the form; nothing reached the database.
    assert 'value="2026-12-02T09:00"' in html
    assert [w.planned_start for w in waves_of(world)] == [None, None, None]
    assert AuditEvent.objects.count() == events


def test_save_refuses_a_local_time_with_an_offset(client, world, rita):
    eu = waves_of(world)[0]
    client.force_login(rita)
    response = client.post(
        url("save", world), row_fields(eu, planned_start_local="2026-12-01T09:00+05:00")
    )
    assert response.status_code == 400
    assert "give it without an offset" in response.content.decode()
    assert Wave.objects.get(pk=eu.pk).planned_start is None


@pytest.mark.parametrize("persona", ["vera", "oscar", "alice"])
def test_save_forged_by_someone_who_may_not_plan_is_refused(client, world, persona, request):
    eu = waves_of(world)[0]
    client.force_login(request.getfixturevalue(persona))
    response = client.post(
        url("save", world), row_fields(eu, planned_start_local="2026-12-01T09:00")
    )
    assert response.status_code == 403
    assert Wave.objects.get(pk=eu.pk).planned_start is None


def test_save_refuses_a_wave_that_has_started(client, rolling, rita):
    first, second = waves_of(rolling)
    client.force_login(rita)
    form = plan_form(
        row_fields(first, planned_start_local="2030-01-01T09:00"),
        row_fields(second, planned_start_local="2030-01-02T09:00"),
    )
    response = client.post(url("save", rolling), form)
    assert response.status_code == 400
    assert "A verifying wave can no longer be edited." in response.content.decode()
    assert Wave.objects.get(pk=second.pk).planned_start is None


def test_scheduler_shows_started_waves_as_text(client, rolling, rita):
    first, second = waves_of(rolling)
    client.force_login(rita)
    html = client.get(url("scheduler", rolling)).content.decode()
    assert f'name="w{first.pk}-planned_start_local"' not in html
    assert f'name="w{second.pk}-planned_start_local"' in html


# ---- Wave scheduler: strategy, sign-offs, checks ----


def test_strategy_defaults_replace_the_waves_in_the_order_given(client, world, rita):
    eu, us, ap = (w.environment for w in waves_of(world))
    client.force_login(rita)
    form = {
        "strategy": "rolling",
        "environments": [str(eu.pk), str(us.pk), str(ap.pk)],
        f"order-{eu.pk}": "3",
        f"order-{us.pk}": "1",
        f"order-{ap.pk}": "2",
    }
    response = client.post(url("strategy", world), form, **HTMX)
    assert response.status_code == 200
    assert "Applied the rolling defaults: 3 waves." in response.content.decode()
    assert [w.name for w in waves_of(world)] == ["prod-us 100%", "prod-ap 100%", "prod-eu 100%"]


def test_strategy_without_environments_shows_the_error(client, world, rita):
    client.force_login(rita)
    response = client.post(url("strategy", world), {"strategy": "canary"}, **HTMX)
    assert response.status_code == 400
    assert "Name the environments, in rollout order." in response.content.decode()
    assert len(waves_of(world)) == 3


def test_strategy_forged_by_an_operator_is_refused(client, world, oscar):
    env = waves_of(world)[0].environment
    client.force_login(oscar)
    response = client.post(
        url("strategy", world), {"strategy": "big_bang", "environments": [str(env.pk)]}
    )
    assert response.status_code == 403
    assert len(waves_of(world)) == 3


def test_wave_signoff_requirement_is_set_from_the_scheduler(client, world, rita, vera):
    wave = waves_of(world)[2]
    client.force_login(vera)
    target = url("requirement", world, wave.pk)
    assert client.post(target, {"role": "business_owner", "count": "1"}).status_code == 403
    client.force_login(rita)
    response = client.post(target, {"role": "business_owner", "count": "1"}, **HTMX)
    assert response.status_code == 200
    assert "1 × Business owner" in response.content.decode()
    assert SignoffRequirement.objects.get(wave=wave).count == 1
    bad = client.post(target, {"role": "astronaut", "count": "1"}, **HTMX)
    assert bad.status_code == 400
    assert "Unknown stakeholder role &#x27;astronaut&#x27;." in bad.content.decode()


def test_check_is_added_from_the_scheduler(client, world, rita, oscar):
    wave = waves_of(world)[0]
    target = url("check_add", world, wave.pk)
    form = {
        "name": "Health",
        "kind": "http",
        "url": "https://crm.example.test/health",
        "expect_status": "200",
        "expect_version": "2.0.0",
        "interval_seconds": "30",
        "failures_to_fail": "2",
    }
    client.force_login(oscar)
    assert client.post(target, form).status_code == 403
    client.force_login(rita)
    response = client.post(target, form, **HTMX)
    assert response.status_code == 200
    check = Check.objects.get(wave=wave)
    assert (check.kind, check.interval_seconds, check.failures_to_fail) == ("http", 30, 2)
    assert check.config["url"] == "https://crm.example.test/health"
    assert check.config["expect_version"] == "2.0.0"
    bad = client.post(target, {**form, "url": "ftp://nope"}, **HTMX)
    assert bad.status_code == 400
    assert "config.url must be an http(s) URL." in bad.content.decode()


def test_check_of_a_wave_of_another_release_is_404(client, world, rolling, rita):
    other = waves_of(rolling)[1]
    client.force_login(rita)
    response = client.post(url("check_add", world, other.pk), {"name": "x", "kind": "manual"})
    assert response.status_code == 404


def scheduler_queries(client, release: Release) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("scheduler", release))
    assert response.status_code == 200
    return len(queries)


def test_scheduler_queries_do_not_grow_with_the_number_of_waves(
    client, rita, alice, bob, django_assert_max_num_queries
):
    small = planned_release(rita, qa=alice, business_owner=bob)
    large = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    us = EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK)
    ro.wave_add(release_id=small.pk, name="us", environment_id=us.pk, actor=rita)
    for n in range(11):
        ro.wave_add(release_id=large.pk, name=f"us {n}", environment_id=us.pk, actor=rita)
    year_end_freeze(rita)
    for wave in waves_of(large):
        ro.check_add(wave_id=wave.pk, name="up", kind="manual", actor=rita)
        ro.wave_requirement_set(wave_id=wave.pk, role="qa", count=1, actor=rita)
    assert len(waves_of(small)) == 2 and len(waves_of(large)) == 12
    client.force_login(rita)
    with django_assert_max_num_queries(20):
        client.get(url("scheduler", large))
    assert scheduler_queries(client, large) == scheduler_queries(client, small)


# ---- Rollout console ----


def test_console_shows_the_current_wave_and_operator_buttons(client, rolling, oscar):
    first, second = waves_of(rolling)
    client.force_login(oscar)
    response = client.get(url("console", rolling))
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'class="card focus-card is-current"', html)
    assert "Current wave" in html and first.name in html
    assert re.search(rf'data-wave="{first.pk}"\s+aria-current="step"', html)
    assert "1 of 2" not in html and "0 of 2 waves done" in html
    for label in ("Pause", "Abort", "Roll back"):
        assert f'aria-haspopup="dialog">{label}</button>' in html
    assert url("confirm", rolling, first.pk, "pause") in html
    assert 'hx-trigger="every 1s, release-changed from:body"' in html


def test_console_is_read_only_for_a_viewer_and_a_release_manager(client, rolling, vera, rita):
    for person in (vera, rita):
        client.force_login(person)
        html = client.get(url("console", rolling)).content.decode()
        assert 'aria-haspopup="dialog"' not in html
        assert "read only" in html


def test_console_refuses_person_without_role(client, rolling, charlie):
    client.force_login(charlie)
    assert client.get(url("console", rolling)).status_code == 403


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("console", (), "post"),
        ("console_live", (), "post"),
        ("confirm", ("pause",), "post"),
        ("operate", ("pause",), "get"),
    ],
)
def test_console_endpoints_refuse_the_wrong_method(client, rolling, oscar, name, args, method):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    full_args = (wave.pk, *args) if args else ()
    assert getattr(client, method)(url(name, rolling, *full_args)).status_code == 405


def test_console_shows_the_latest_result_of_each_check_with_value_and_detail(client, rolling, vera):
    check = Check.objects.get(wave=waves_of(rolling)[0])
    delivery.record_check_result(
        check_id=check.pk, ok=True, value="0.002", detail="errors = 0.002 ≤ 0.01"
    )
    delivery.record_check_result(
        check_id=check.pk, ok=False, value="0.04", detail="errors = 0.04 > 0.01"
    )
    client.force_login(vera)
    html = client.get(url("console", rolling)).content.decode()
    row = re.search(r'data-testid="check-row">(.*?)</tr>', html, re.S).group(1)
    assert "Error rate" in row and "Failing" in row
    assert "<code>0.04</code>" in row and "errors = 0.04 &gt; 0.01" in row
    assert "1/3 failures in a row" in row
    feed = re.search(r'data-testid="result-feed">(.*?)</ol>', html, re.S).group(1)
    assert feed.index("0.04") < feed.index("0.002")  # newest first


def test_confirm_step_asks_for_a_reason_where_the_service_needs_one(client, rolling, oscar):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    abort = client.get(url("confirm", rolling, wave.pk, "abort"), **HTMX).content.decode()
    assert "Abort wave" in abort and "data-confirm-open" in abort
    assert re.search(r'<textarea id="confirm-reason"[^>]*\brequired\b', abort, re.S)
    pause = client.get(url("confirm", rolling, wave.pk, "pause"), **HTMX).content.decode()
    assert "Pause wave" in pause and "(optional)" in pause
    assert not re.search(r'<textarea id="confirm-reason"[^>]*\brequired\b', pause, re.S)
    # Nothing happened yet: asking is not doing.
    assert Wave.objects.get(pk=wave.pk).state == "verifying"


def test_confirm_step_without_javascript_is_a_page_with_the_form_open(client, rolling, oscar):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    html = client.get(url("confirm", rolling, wave.pk, "pause")).content.decode()
    assert '<dialog id="confirm-dialog"' in html and " open\n" in html
    assert "Pause wave" in html


def test_confirm_step_refused_to_non_operators(client, rolling, vera):
    client.force_login(vera)
    wave = waves_of(rolling)[0]
    assert client.get(url("confirm", rolling, wave.pk, "pause"), **HTMX).status_code == 403


def test_unknown_action_or_wave_of_another_release_is_404(client, rolling, world, oscar):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    assert client.post(url("operate", rolling, wave.pk, "explode")).status_code == 404
    assert client.post(url("operate", world, wave.pk, "pause")).status_code == 404


def test_pause_then_resume_from_the_console(client, rolling, oscar):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    response = client.post(
        url("operate", rolling, wave.pk, "pause"), {"reason": "Odd latency"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    wave.refresh_from_db()
    assert (wave.state, wave.state_reason) == ("halted", "Paused by oscar: Odd latency")
    assert "Paused prod-eu 100%." in html
    assert (
        'id="focus-wave" class="card focus-card is-current" aria-labelledby="focus-title" hx-swap-oob="true"'
        in html
    )
    assert 'data-testid="focus-state">Halted' in html
    assert "data-confirm-open" not in html  # the dialog closes
    assert "release-changed" in response["HX-Trigger-After-Settle"]

    response = client.post(url("operate", rolling, wave.pk, "resume"), {"reason": ""}, **HTMX)
    assert response.status_code == 200
    assert Wave.objects.get(pk=wave.pk).state == "verifying"
    assert 'data-testid="focus-state">Verifying' in response.content.decode()


def test_operate_without_javascript_redirects_back_to_the_console(client, rolling, oscar):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    response = client.post(url("operate", rolling, wave.pk, "pause"), {"reason": ""})
    assert response.status_code == 302
    assert response["Location"] == f"{url('console', rolling)}?wave={wave.pk}"


def test_abort_without_a_reason_is_refused_beside_the_field(client, rolling, oscar):
    wave = waves_of(rolling)[0]
    client.force_login(oscar)
    response = client.post(url("operate", rolling, wave.pk, "abort"), {"reason": " "}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'aria-invalid="true" aria-describedby="confirm-reason-error"' in html
    assert 'id="confirm-reason-error">Say why you abort this wave.' in html
    assert "data-confirm-open" in html  # the dialog stays open
    assert Wave.objects.get(pk=wave.pk).state == "verifying"


def test_a_reason_past_its_length_is_refused_beside_the_field(client, rolling, oscar):
    wave = waves_of(rolling)[0]
    events = AuditEvent.objects.count()
    client.force_login(oscar)
    response = client.post(
        url("operate", rolling, wave.pk, "pause"), {"reason": "x" * 2001}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="confirm-reason-error">reason must be at most 2000 characters.' in html
    assert Wave.objects.get(pk=wave.pk).state == "verifying"
    assert AuditEvent.objects.count() == events


def test_starting_a_later_wave_shows_the_blockers_with_409(client, rolling, oscar):
    second = waves_of(rolling)[1]
    client.force_login(oscar)
    response = client.post(url("operate", rolling, second.pk, "start"), {"reason": ""}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 409
    assert "An earlier wave has not finished." in html
    assert "<code>earlier_wave_running</code>" in html
    assert Wave.objects.get(pk=second.pk).state == "pending"


@pytest.mark.parametrize("persona", ["vera", "rita", "alice"])
def test_operate_forged_by_a_non_operator_is_refused(client, rolling, persona, request):
    wave = waves_of(rolling)[0]
    events = AuditEvent.objects.count()
    client.force_login(request.getfixturevalue(persona))
    response = client.post(url("operate", rolling, wave.pk, "pause"), {"reason": "x"}, **HTMX)
    assert response.status_code == 403
    assert "You need one of these roles to operate waves: operator." in response.content.decode()
    assert Wave.objects.get(pk=wave.pk).state == "verifying"
    assert AuditEvent.objects.count() == events


def test_operate_refused_when_the_release_is_not_rolling_out(client, world, oscar):
    wave = waves_of(world)[0]
    client.force_login(oscar)
    response = client.post(url("operate", world, wave.pk, "start"), {"reason": ""}, **HTMX)
    assert response.status_code == 409
    assert "The release is in planning" in response.content.decode()


# ---- Rollout console: live ----


def poll_url(html: str) -> str:
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match, "the console has no live poller"
    return match.group(1).replace("&amp;", "&")


def test_live_unchanged_answers_204_after_one_query(client, rolling, vera, poll_costs_one_query):
    client.force_login(vera)
    target = poll_url(client.get(url("console", rolling)).content.decode())
    assert client.get(target, **HTMX).status_code == 204
    assert '"revision"' in poll_costs_one_query(client, target)


def test_live_renders_a_new_check_result_and_wave_state(client, rolling, vera, oscar):
    check = Check.objects.get(wave=waves_of(rolling)[0])
    client.force_login(vera)
    target = poll_url(client.get(url("console", rolling)).content.decode())
    delivery.record_check_result(check_id=check.pk, ok=True, value="0.003", detail="fine")

    response = client.get(target, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<code>0.003</code>" in html
    assert 'id="checks" class="card" aria-labelledby="checks-title" hx-swap-oob="true"' in html
    # The fresh poller polls on from the new revision.
    assert client.get(poll_url(html), **HTMX).status_code == 204


def test_live_keeps_the_wave_being_looked_at(client, rolling, vera):
    second = waves_of(rolling)[1]
    client.force_login(vera)
    html = client.get(url("console", rolling), {"wave": second.pk}).content.decode()
    assert "Wave 2 of 2" in html
    target = poll_url(html)
    assert f"wave={second.pk}" in target
    wave_transition(wave_id=waves_of(rolling)[0].pk, to="halted", actor=None, reason="x")
    assert "Wave 2 of 2" in client.get(target, **HTMX).content.decode()


def test_live_stops_polling_with_286_once_the_release_has_ended(client, rolling, rita, vera):
    client.force_login(vera)
    target = poll_url(client.get(url("console", rolling)).content.decode())
    rs.release_move(release_id=rolling.pk, to="rolled_back", reason="Errors.", actor=rita)
    response = client.get(target, **HTMX)
    html = response.content.decode()
    assert response.status_code == 286
    assert "The release was rolled back." in html
    assert 'id="live"' in html and "hx-trigger" not in html


def test_live_refuses_person_without_role(client, rolling, charlie):
    client.force_login(charlie)
    response = client.get(url("console_live", rolling), {"rev": rolling.revision}, **HTMX)
    assert response.status_code == 403
    assert "hx-trigger" not in response.content.decode()


def test_live_pass_of_another_person_does_not_skip_the_role_check(client, rolling, vera, charlie):
    client.force_login(vera)
    target = poll_url(client.get(url("console", rolling)).content.decode())
    client.force_login(charlie)
    assert client.get(target, **HTMX).status_code == 403


def console_queries(client, release: Release) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("console", release))
    assert response.status_code == 200
    return len(queries)


def grown_rollout(rm, qa, business_owner, *, waves: int, results: int, version: str) -> Release:
    release = planned_release(rm, qa=qa, business_owner=business_owner, version=version)
    env = EnvironmentFactory(name="prod-us", region="us", time_zone=NEW_YORK)
    for n in range(waves - 1):
        ro.wave_add(release_id=release.pk, name=f"us {n}", environment_id=env.pk, actor=rm)
    first = waves_of(release)[0]
    for n in range(2 if results > 1 else 1):
        ro.check_add(wave_id=first.pk, name=f"check {n}", kind="manual", actor=rm)
    release = advance(release, rm, qa=qa, business_owner=business_owner, to="rollout")
    for state in ("deploying", "verifying"):
        wave_transition(wave_id=first.pk, to=state, actor=None)
    checks = list(Check.objects.filter(wave=first))
    for n in range(results):
        delivery.record_check_result(
            check_id=checks[n % len(checks)].pk, ok=True, value=str(n), detail="ok"
        )
    return release


def test_console_queries_do_not_grow_with_waves_or_check_results(
    client, rita, alice, bob, oscar, django_assert_max_num_queries
):
    small = grown_rollout(rita, alice, bob, waves=2, results=1, version="2.0.0")
    large = grown_rollout(rita, alice, bob, waves=12, results=40, version="3.0.0")
    client.force_login(oscar)
    with django_assert_max_num_queries(15):
        client.get(url("console", large))
    assert console_queries(client, large) == console_queries(client, small)


def test_console_of_a_release_in_planning_explains_when_waves_run(client, world, oscar):
    client.force_login(oscar)
    html = client.get(url("console", world)).content.decode()
    assert "waves run once it rolls out" in html
    assert "Operator actions are available while the release rolls out." in html
    assert 'aria-haspopup="dialog"' not in html


def test_console_shows_stop_the_line(client, rolling, oscar):
    from apps.environments.stop_line import stop_the_line_set

    stop_the_line_set(active=True, reason="Payment outage", actor=oscar)
    client.force_login(oscar)
    html = client.get(url("console", rolling)).content.decode()
    assert "Stop the line is on." in html and "Payment outage" in html
    assert (
        timezone.now() - timedelta(minutes=1)
        < Wave.objects.get(pk=waves_of(rolling)[0].pk).updated_at
    )

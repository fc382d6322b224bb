"""The wave scheduler and the rollout console in a real browser."""

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts.models import Profile
from apps.environments import calendars
from apps.environments import services as env_services
from apps.releases.models import Release
from apps.rollouts import delivery
from apps.rollouts import services as ro
from apps.rollouts.models import Check, Wave
from apps.rollouts.transitions import wave_transition
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory

from .conftest import PHONE, SCREENSHOTS, screenshot, sign_in

pytestmark = pytest.mark.browser

LIVE_MS = 2000
WEEKDAYS = [0, 1, 2, 3, 4]


def next_tuesday(after_days: int = 10) -> date:
    day = timezone.now().date() + timedelta(days=after_days)
    return day + timedelta(days=(1 - day.weekday()) % 7)


def waves_of(release) -> list[Wave]:
    return list(Wave.objects.filter(plan__release=release).order_by("position"))


def test_release_manager_schedules_three_time_zones_and_sees_the_freeze_before_saving(
    new_page, rita, alice, bob
):
    Profile.objects.create(user=rita, time_zone="Europe/Berlin")
    release = planned_release(rita, qa=alice, business_owner=bob)
    eu = waves_of(release)[0].environment
    us = EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")
    ap = EnvironmentFactory(name="prod-ap", region="ap", time_zone="Asia/Tokyo")
    for env, opens, closes in ((eu, 9, 17), (us, 8, 18), (ap, 9, 18)):
        env_services.deployment_window_add(
            environment_id=env.pk,
            weekdays=WEEKDAYS,
            start_time=time(opens),
            end_time=time(closes),
            actor=rita,
        )
    tuesday = next_tuesday()
    wednesday = tuesday + timedelta(days=1)
    # The release's planned window spans the planned days.
    Release.objects.filter(pk=release.pk).update(
        planned_start=datetime.combine(tuesday, time(0), tzinfo=UTC),
        planned_end=datetime.combine(tuesday + timedelta(days=3), time(0), tzinfo=UTC),
    )
    # A freeze over the New York morning of the planned day.
    env_services.freeze_create(
        scope="environment",
        environment_id=us.pk,
        start=calendars.local_to_utc(datetime.combine(tuesday, time(7)), "America/New_York"),
        end=calendars.local_to_utc(datetime.combine(tuesday, time(13)), "America/New_York"),
        reason="Payments provider maintenance",
        actor=rita,
    )

    page: Page = new_page()
    sign_in(page, "rita")
    page.goto(f"/releases/{release.pk}/plan/")
    expect(page.get_by_role("heading", name="Wave scheduler", level=1)).to_be_visible()

    # Start over from the rolling strategy: prod-eu, then prod-us, then prod-ap.
    page.get_by_text("Start over from a strategy").click()
    page.get_by_role("radio", name=re.compile("^Rolling")).check()
    for env, order in ((eu, "1"), (us, "2"), (ap, "3")):
        page.get_by_role("checkbox", name=re.compile(f"^{env.name}")).check()
        page.get_by_label(f"Rollout order of {env.name}").fill(order)
    page.get_by_role("button", name="Apply defaults").click()
    expect(page.get_by_test_id("scheduler-notice")).to_have_text(
        "Applied the rolling defaults: 3 waves. Set their start times, then save."
    )
    assert [w.name for w in waves_of(release)] == ["prod-eu 100%", "prod-us 100%", "prod-ap 100%"]

    # Each start is typed in the environment's own zone, which its label names.
    starts = {
        "prod-eu 100%": ("Europe/Berlin", f"{tuesday}T09:00"),
        "prod-us 100%": ("America/New_York", f"{tuesday}T09:00"),
        "prod-ap 100%": ("Asia/Tokyo", f"{wednesday}T10:00"),
    }
    for name, (zone, local) in starts.items():
        field = page.get_by_label(f"Planned start of {name}, local time in {zone}")
        field.fill(local)
        field.press("Tab")

    # The dry run warns about the freeze before anything is saved: the last preview (all three
    # starts typed) has only that warning, and prod-ap starts on time.
    ap_wave = waves_of(release)[2]
    expect(page.locator(f"#w{ap_wave.pk}-conflict")).to_contain_text("10:00 JST", timeout=LIVE_MS)
    expect(page.locator(f"#w{ap_wave.pk}-conflict")).to_contain_text("On time")
    expect(page.get_by_test_id("warning-count")).to_have_text("1 warning")
    warnings = page.get_by_test_id("dry-run-warnings")
    expect(warnings).to_contain_text("prod-us: freeze until")
    expect(warnings).to_contain_text("(Payments provider maintenance)")
    expect(page.get_by_test_id("preview-badge")).to_have_text("Unsaved values")
    us_wave = waves_of(release)[1]
    expect(page.locator(f"#w{us_wave.pk}-conflict")).to_contain_text("Freeze")
    expect(page.locator(".tl-freeze")).to_have_count(1)
    assert all(w.planned_start is None for w in waves_of(release))
    page.locator("#plan-title").scroll_into_view_if_needed()
    screenshot(page, "scheduler")

    page.get_by_role("button", name="Save waves").click()
    expect(page.get_by_test_id("scheduler-notice")).to_have_text("Saved 3 waves.")
    expect(page.get_by_test_id("dry-run-warnings")).to_contain_text("prod-us: freeze until")
    saved = {w.name: w.planned_start for w in waves_of(release)}
    for name, (zone, local) in starts.items():
        expected = calendars.local_to_utc(datetime.fromisoformat(local), zone)
        assert saved[name] == expected
    screenshot(page, "scheduler-saved")

    # prod-ap waits for the business owner's own approval.
    page.locator(f"#extra-{ap_wave.pk} > summary").click()
    page.get_by_label("Role").last.select_option("business_owner")
    page.locator(f"#extra-{ap_wave.pk}").get_by_role("button", name="Set").click()
    expect(page.locator(f"#extra-{ap_wave.pk} .chip-signoff")).to_have_text("1 × Business owner")
    assert ap_wave.signoff_requirements.get().role.slug == "business_owner"
    page.locator(f"#extra-{ap_wave.pk}").scroll_into_view_if_needed()
    screenshot(page, "scheduler-extras")
    page.set_viewport_size(PHONE)
    screenshot(page, "scheduler-phone")


def running_rollout(rita, alice, bob):
    """A canary rollout whose first wave succeeded and whose second is baking with checks."""
    release = planned_release(rita, qa=alice, business_owner=bob)
    first = waves_of(release)[0]
    ro.wave_update(wave_id=first.pk, actor=rita, name="prod-eu 10%", percentage=10, bake_minutes=30)
    eu = first.environment
    us = EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")
    second = ro.wave_add(
        release_id=release.pk,
        name="prod-eu 100%",
        environment_id=eu.pk,
        percentage=100,
        bake_minutes=60,
        actor=rita,
    )
    ro.wave_add(release_id=release.pk, name="prod-us 100%", environment_id=us.pk, actor=rita)
    ro.check_add(
        wave_id=second.pk,
        name="Health endpoint",
        kind="http",
        config={"url": "https://crm.example.test/health", "expect_version": "2.0.0"},
        interval_seconds=60,
        actor=rita,
    )
    ro.check_add(
        wave_id=second.pk,
        name="Error rate",
        kind="metric",
        config={
            "url": "https://metrics.example.test/crm",
            "field": "errors.rate",
            "operator": "<=",
            "threshold": 0.01,
        },
        interval_seconds=60,
        actor=rita,
    )
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    now = timezone.now()
    for state in ("deploying", "verifying", "succeeded"):
        wave_transition(wave_id=first.pk, to=state, actor=None)
    for state in ("deploying", "verifying"):
        wave_transition(wave_id=second.pk, to=state, actor=None, now=now - timedelta(minutes=12))
    health, errors = Check.objects.filter(wave=second).order_by("pk")
    for minutes in (10, 8, 6, 4, 2):
        at = now - timedelta(minutes=minutes)
        delivery.record_check_result(
            check_id=health.pk, ok=True, value="200", detail="HTTP 200, version 2.0.0", now=at
        )
        rate = 0.004 if minutes != 6 else 0.013
        delivery.record_check_result(
            check_id=errors.pk,
            ok=rate <= 0.01,
            value=str(rate),
            detail=f"errors.rate = {rate} {'≤' if rate <= 0.01 else '>'} 0.01",
            now=at,
        )
    return release, second


def test_operator_pauses_and_resumes_a_running_rollout_from_the_console(
    new_page, rita, alice, bob, oscar
):
    Profile.objects.create(user=oscar, time_zone="Europe/Berlin")
    release, wave = running_rollout(rita, alice, bob)

    page: Page = new_page()
    sign_in(page, "oscar")
    page.goto(f"/releases/{release.pk}/console/")
    state = page.get_by_test_id("focus-state")
    expect(state).to_have_text("Verifying")
    expect(page.get_by_test_id("progress-text")).to_have_text("1 of 3 waves done · 33%")
    expect(page.get_by_test_id("check-verdict")).to_have_text(["Passing", "Passing"])
    screenshot(page, "console")
    page.evaluate("window.notReloaded = true")

    # The confirmation step: the dialog opens, Escape closes it and nothing happens.
    page.get_by_role("button", name="Pause", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Pause prod-eu 100%?")
    expect(dialog.get_by_label("Reason (optional)")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Wave.objects.get(pk=wave.pk).state == "verifying"

    page.get_by_role("button", name="Pause", exact=True).click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason (optional)").fill("Error rate spiked once; watching it.")
    # The viewport only: a modal's backdrop covers the window, not the whole page.
    page.screenshot(path=str(SCREENSHOTS / "console-confirm.png"), animations="disabled")
    dialog.get_by_role("button", name="Pause wave").click()
    expect(dialog).to_be_hidden()
    expect(state).to_have_text("Halted")
    expect(page.get_by_test_id("focus-reason")).to_have_text(
        "Paused by oscar: Error rate spiked once; watching it."
    )
    expect(page.get_by_test_id("console-notice")).to_have_text("Paused prod-eu 100%.")
    assert Wave.objects.get(pk=wave.pk).state == "halted"
    screenshot(page, "console-halted")

    page.get_by_role("button", name="Resume", exact=True).click()
    expect(dialog.get_by_role("heading")).to_have_text("Resume prod-eu 100%?")
    dialog.get_by_role("button", name="Resume wave").click()
    expect(state).to_have_text("Verifying")
    assert Wave.objects.get(pk=wave.pk).state == "verifying"
    assert page.evaluate("window.notReloaded") is True

    # A change made elsewhere shows without a reload.
    check = Check.objects.filter(wave=wave).order_by("pk").last()
    delivery.record_check_result(
        check_id=check.pk, ok=False, value="0.05", detail="errors.rate = 0.05 > 0.01"
    )
    expect(page.get_by_test_id("check-verdict").last).to_have_text("Failing", timeout=LIVE_MS)
    page.set_viewport_size(PHONE)
    screenshot(page, "console-phone")

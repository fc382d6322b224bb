"""The dashboard and the calendar in a real browser: stop the line shows everywhere at once,
the calendar pages navigate, the feed address works."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Profile
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from tests.dashboard.scenes import working_week

from .conftest import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser

# The product promise: a change shows on an open page within 2 seconds.
LIVE_MS = 2000


def test_stop_the_line_pulled_on_one_dashboard_shows_on_another_within_two_seconds(
    new_page, rita, alice, bob, oscar, vera
):
    working_week(rita, alice, bob, oscar)
    Profile.objects.create(user=oscar, time_zone="Europe/London")
    Profile.objects.create(user=vera, time_zone="Europe/London")

    vera_page = new_page()
    sign_in(vera_page, "vera")
    vera_page.goto("/dashboard/")
    expect(vera_page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(vera_page.get_by_test_id("stop-line-banner")).to_have_count(0)
    expect(vera_page.get_by_role("button", name="Stop the line…")).to_have_count(0)
    expect(vera_page.get_by_test_id("cell-erp-prod-eu")).to_contain_text("Deploying · 10%")
    vera_page.evaluate("window.notReloaded = true")

    oscar_page = new_page()
    sign_in(oscar_page, "oscar")
    oscar_page.goto("/dashboard/")
    expect(oscar_page.get_by_test_id("rollouts")).to_contain_text("1 of 4 waves done")
    screenshot(oscar_page, "dashboard")
    oscar_page.get_by_text("Stop the line…").click()
    oscar_page.get_by_label("Why stop the line?").fill("Payments outage in prod-eu")
    screenshot(oscar_page, "dashboard-stop-confirm")
    oscar_page.get_by_role("button", name="Stop every running wave").click()
    expect(oscar_page.get_by_test_id("stop-line-banner")).to_contain_text(
        "Payments outage in prod-eu"
    )

    banner = vera_page.get_by_test_id("stop-line-banner")
    expect(banner).to_contain_text("The line is stopped", timeout=LIVE_MS)
    expect(banner).to_contain_text("“Payments outage in prod-eu” — oscar")
    expect(vera_page.get_by_test_id("cell-erp-prod-eu")).to_contain_text(
        "Halted · 10%", timeout=LIVE_MS
    )
    expect(vera_page.get_by_role("button", name="Lift…")).to_have_count(0)
    screenshot(vera_page, "dashboard-stopped")

    oscar_page.get_by_text("Lift…").click()
    oscar_page.get_by_role("button", name="Lift stop the line").click()
    expect(oscar_page.get_by_text("The line is running.")).to_be_visible()
    expect(banner).to_have_count(0, timeout=LIVE_MS)
    assert vera_page.evaluate("window.notReloaded") is True


def test_approver_sees_what_waits_and_walks_the_calendar(new_page, rita, alice, bob, oscar):
    working_week(rita, alice, bob, oscar)
    Profile.objects.create(user=alice, time_zone="Europe/London")

    page = new_page()
    sign_in(page, "alice")
    page.goto("/dashboard/")
    waiting = page.get_by_test_id("waiting")
    expect(waiting).to_contain_text("CRM 2.0.0")
    expect(waiting).to_contain_text("as QA")
    expect(page.get_by_test_id("cell-payroll-prod-eu")).to_contain_text("3.1.0")
    screenshot(page, "dashboard-approver")

    page.get_by_role("link", name="Open the calendar").click()
    month = page.get_by_test_id("cal-month")
    expect(month).to_be_visible()
    expect(month).to_contain_text("ERP 5.1.0")
    expect(month).to_contain_text("Freeze: Year-end close")
    title = page.get_by_test_id("cal-title").inner_text()
    page.get_by_role("button", name="Get my feed address").click()
    address = page.get_by_test_id("feed-url").input_value()
    feed = page.request.get(address)
    assert feed.status == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:ERP 5.1.0 · EU canary" in feed.text()
    screenshot(page, "calendar-month")

    page.get_by_role("link", name="Next month").click()
    expect(page.get_by_test_id("cal-title")).not_to_have_text(title)
    page.get_by_role("link", name="Today").click()
    expect(page.get_by_test_id("cal-title")).to_have_text(title)

    page.get_by_role("navigation", name="Calendar view").get_by_role("link", name="Week").click()
    week = page.get_by_test_id("cal-week")
    expect(week).to_be_visible()
    expect(week).to_contain_text("ERP 5.1.0 · EU canary")
    expect(week).to_contain_text("Freeze: US payroll run")
    screenshot(page, "calendar-week")
    page.get_by_role("link", name="Previous week").click()
    expect(page.get_by_test_id("cal-title")).to_contain_text("Week")

    page.set_viewport_size(PHONE)
    page.goto("/dashboard/")
    expect(waiting).to_be_visible()
    screenshot(page, "dashboard-phone")
    page.goto("/calendar/")
    expect(page.get_by_test_id("cal-month")).to_contain_text("ERP 5.1.0")
    screenshot(page, "calendar-month-phone")


def test_a_canary_share_that_succeeded_shows_as_partly_deployed(
    new_page, rita, alice, bob, oscar, vera
):
    releases = working_week(rita, alice, bob, oscar)
    page = new_page()
    sign_in(page, "vera")
    page.goto("/dashboard/")
    eu = page.get_by_test_id("cell-erp-prod-eu")
    expect(eu).to_contain_text("Deploying · 10%")
    expect(page.get_by_test_id("rollout-share")).to_have_text("25 % of waves")

    canary = Wave.objects.get(plan__release=releases["erp"], name="EU canary")
    for state in ("verifying", "succeeded"):
        wave_transition(wave_id=canary.pk, to=state, actor=None)
    expect(eu.locator(".dash-ver-partial")).to_have_text("5.1.0 at 10 %", timeout=LIVE_MS)
    expect(eu).to_contain_text("Pending · 100%")
    expect(eu.locator(".dash-ver").first).to_have_text("5.0.0")
    expect(page.get_by_test_id("rollout-share")).to_have_text("50 % of waves")
    expect(page.get_by_test_id("reached")).to_have_text("Reached staging-eu 100 % · prod-eu 10 %")
    expect(page.get_by_test_id("lifecycle")).to_have_text("Release lifecycle 70 %")
    screenshot(page, "dashboard-partial")

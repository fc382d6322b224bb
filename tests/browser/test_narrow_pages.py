"""Every page on a small phone: nothing scrolls sideways at 360 px."""

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from apps.accounts.models import Profile
from tests.dashboard.scenes import working_week

from .conftest import PHONE, screenshot, sign_in
from .test_release_pages import portfolio
from .test_rollout_pages import running_rollout

pytestmark = pytest.mark.browser

# Names the elements that stick out past the viewport, outside any box that scrolls or clips
# them, so a failure says where to look.
STICKING_OUT = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  return [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !clipped(el))
    .slice(0, 8)
    .map((el) => `${el.tagName.toLowerCase()}.${el.className} → ${Math.round(el.getBoundingClientRect().right)}px`);
}"""


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def assert_fits_a_phone(browser: Browser, live_server, visits: list[tuple[str, str, str]]) -> None:
    """Visit each (persona, address, screenshot name or "") at 360 px; none may be wider."""
    contexts: dict[str, tuple[BrowserContext, Page]] = {}
    too_wide: dict[str, tuple[int, list[str]]] = {}
    errors: list[str] = []
    try:
        for persona, address, shot in visits:
            if persona not in contexts:
                context = browser.new_context(base_url=live_server.url, viewport=PHONE)
                context.set_default_timeout(5000)
                page = context.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                if persona:
                    sign_in(page, persona)
                contexts[persona] = (context, page)
            page = contexts[persona][1]
            response = page.goto(address)
            assert response is not None and response.status == 200, address
            expect(page.locator("main h1").first).to_be_visible()
            width = page_width(page)
            if width > PHONE["width"]:
                too_wide[f"{persona or 'anonymous'} {address}"] = (
                    width,
                    page.evaluate(STICKING_OUT),
                )
            if shot:
                screenshot(page, shot)
    finally:
        for context, _ in contexts.values():
            context.close()
    assert not errors, errors
    assert too_wide == {}, f"pages wider than {PHONE['width']} px: {too_wide}"


def test_every_page_of_a_working_week_fits_a_360px_phone(
    browser: Browser, live_server, rita, alice, bob, oscar
):
    releases = working_week(rita, alice, bob, oscar)
    for person in (rita, alice, oscar):
        Profile.objects.create(user=person, time_zone="Asia/Singapore")
    erp, crm, hr = releases["erp"], releases["crm"], releases["hr"]
    # The dashboard, calendar, scheduler and console phone shots come from their own tests.
    assert_fits_a_phone(
        browser,
        live_server,
        [
            ("", "/accounts/login/", "login-phone"),
            ("rita", "/dashboard/", ""),
            ("alice", "/dashboard/", ""),
            ("rita", "/", "releases-phone"),
            ("rita", "/releases/new/", ""),
            ("rita", f"/releases/{erp.pk}/", ""),
            ("rita", f"/releases/{hr.pk}/", ""),
            ("alice", f"/releases/{crm.pk}/sign/", ""),
            ("rita", f"/releases/{hr.pk}/plan/", ""),
            ("oscar", f"/releases/{erp.pk}/console/", ""),
            ("rita", "/calendar/", ""),
            ("rita", "/calendar/?view=week", ""),
            ("rita", "/environments/", "environments-phone"),
            ("rita", "/audit/", "audit-phone"),
            ("rita", "/account/tokens/", "tokens-phone"),
        ],
    )


def test_a_release_in_testing_and_its_signoff_page_fit_a_360px_phone(
    browser: Browser, live_server, rita, alice, bob
):
    crm = portfolio(rita, alice, bob)
    assert_fits_a_phone(
        browser,
        live_server,
        [
            ("rita", f"/releases/{crm.pk}/", "release-phone"),
            ("alice", f"/releases/{crm.pk}/", ""),
            ("alice", f"/releases/{crm.pk}/sign/", "signoff-phone"),
            ("rita", f"/releases/{crm.pk}/edit/", ""),
        ],
    )


def test_a_running_rollout_with_checks_fits_a_360px_phone(
    browser: Browser, live_server, rita, alice, bob, oscar
):
    release, _ = running_rollout(rita, alice, bob)
    assert_fits_a_phone(
        browser,
        live_server,
        [
            ("oscar", f"/releases/{release.pk}/console/", ""),
            ("oscar", f"/releases/{release.pk}/", ""),
            ("rita", f"/releases/{release.pk}/plan/", ""),
            ("oscar", "/dashboard/", ""),
        ],
    )


def test_the_people_and_team_pages_fit_a_360px_phone(browser: Browser, live_server, rita, vera):
    from apps.accounts.models import RoleGrant
    from tests.conftest import _persona
    from tests.factories import ApplicationFactory, TeamFactory

    _persona("ada", "administrator")
    team = TeamFactory(name="Customer relationship management", slug="crm")
    ApplicationFactory(name="CRM", slug="crm", team=team)
    RoleGrant.objects.create(user=vera, role="operator", team=team, tiers=["staging"])
    assert_fits_a_phone(
        browser,
        live_server,
        [
            ("ada", "/people/", ""),
            ("ada", "/people/teams/", ""),
            ("ada", f"/people/teams/{team.pk}/", ""),
        ],
    )

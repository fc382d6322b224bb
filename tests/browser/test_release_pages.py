"""The release pages in a real browser: live updates without reload, and who sees which buttons."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts.models import Profile
from apps.releases import services as rs
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.stakeholders import services as sh
from tests.builders import advance, planned_release
from tests.factories import ApplicationFactory, EnvironmentFactory

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

# The product promise: a change shows on an open page within 2 seconds.
LIVE_MS = 2000


def release_of(
    app_name: str,
    version: str,
    name: str,
    rm,
    *,
    qa,
    business_owner,
    scope: str = "Routine update.",
) -> Release:
    """A release of another application whose first gate is open, built through the services."""
    app = ApplicationFactory(name=app_name, slug=app_name.lower())
    env = EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=6)
    release = rs.release_create(
        application_id=app.pk,
        name=name,
        version=version,
        build_ref=f"git:{version}",
        scope=scope,
        planned_start=start,
        planned_end=start + timedelta(hours=6),
        actor=rm,
    )
    sh.stakeholder_add(release_id=release.pk, user_id=qa.pk, role="qa", actor=rm)
    sh.stakeholder_add(
        release_id=release.pk, user_id=business_owner.pk, role="business_owner", actor=rm
    )
    so.policy_set(
        release_id=release.pk,
        requirements=[{"role": "qa", "count": 1}, {"role": "business_owner", "count": 1}],
        actor=rm,
    )
    ro.plan_set(release_id=release.pk, strategy="canary", actor=rm)
    for share in (10, 50, 100):
        ro.wave_add(
            release_id=release.pk,
            name=f"{env.name} {share}%",
            environment_id=env.pk,
            percentage=share,
            planned_start=start + timedelta(hours=share // 25),
            actor=rm,
        )
    return release


def portfolio(rita, alice, bob) -> Release:
    """Releases in several phases, like a working week; returns CRM 2.0.0, waiting in testing."""
    Profile.objects.create(user=rita, time_zone="Europe/Berlin")
    Profile.objects.create(user=alice, time_zone="Europe/Berlin")

    erp = release_of("ERP", "5.1.0", "Ledger close for Q4", rita, qa=alice, business_owner=bob)
    erp = advance(erp, rita, qa=alice, business_owner=bob, to="rollout")
    first, second = Wave.objects.filter(plan__release=erp).order_by("position")[:2]
    for state in ("deploying", "verifying", "succeeded"):
        wave_transition(wave_id=first.pk, to=state, actor=None)
    wave_transition(wave_id=second.pk, to="deploying", actor=None)

    release_of("HR", "1.4.0", "Leave requests", rita, qa=alice, business_owner=bob, scope="")
    payroll = release_of("Payroll", "3.2.0", "Tax tables 2027", rita, qa=alice, business_owner=bob)
    rs.release_move(
        release_id=payroll.pk, to="cancelled", reason="Superseded by 3.3.0.", actor=rita
    )

    crm = planned_release(rita, qa=alice, business_owner=bob)
    env = Wave.objects.filter(plan__release=crm).get().environment
    rs.checklist_item_add(
        release_id=crm.pk,
        environment_id=env.pk,
        area="networking",
        title="Firewall rule for the PDF service",
        actor=rita,
    )
    rs.checklist_item_add(
        release_id=crm.pk,
        environment_id=env.pk,
        area="integrations",
        title="Mail relay certificate renewed",
        actor=rita,
    )
    crm = advance(crm, rita, to="preparation")
    items = list(crm.checklist.order_by("id"))
    rs.checklist_item_set(item_id=items[0].pk, status="done", actor=rita)
    rs.checklist_item_set(item_id=items[1].pk, status="done", actor=rita)
    rs.checklist_item_set(
        item_id=items[2].pk,
        status="waived",
        reason="Certificate is valid until next year.",
        actor=rita,
    )
    rs.release_move(release_id=crm.pk, to="testing", actor=rita)
    rs.test_case_record(case_id=crm.test_cases.get().pk, status="passed", actor=alice)
    export = rs.test_case_add(release_id=crm.pk, title="Export an invoice to PDF", actor=rita)
    rs.defect_open(release_id=crm.pk, title="Totals column misaligned", severity="minor", actor=bob)
    so.signoff_give(
        release_id=crm.pk, decision="approve", comment="Matches the business case.", actor=bob
    )
    crm.export_case = export
    return crm


def release_url(release: Release) -> str:
    return f"/releases/{release.pk}/"


def test_signoff_shows_on_another_open_page_within_two_seconds(new_page, rita, alice, bob):
    crm = portfolio(rita, alice, bob)

    rita_page = new_page()
    rita_page.goto("/accounts/login/")
    screenshot(rita_page, "login")
    sign_in(rita_page, "rita")
    rita_page.goto("/")
    expect(rita_page.get_by_role("heading", name="Releases", level=1)).to_be_visible()
    screenshot(rita_page, "releases")
    rita_page.goto(release_url(crm))
    tally = rita_page.get_by_test_id("signoff-tally")
    blockers = rita_page.get_by_test_id("blockers")
    expect(tally).to_have_text("1 of 2 approvals")
    expect(blockers).to_contain_text("Needs 1 more QA approval.")
    screenshot(rita_page, "release-manager")
    rita_page.evaluate("window.notReloaded = true")

    alice_page = new_page()
    sign_in(alice_page, "alice")
    alice_page.goto(release_url(crm))
    alice_page.get_by_label("Comment").fill("Invoices and search checked on staging.")
    screenshot(alice_page, "release-approver")
    alice_page.get_by_role("button", name="Approve").click()
    expect(alice_page.get_by_test_id("my-signoff")).to_contain_text("You approved version 2.0.0")

    expect(tally).to_have_text("2 of 2 approvals", timeout=LIVE_MS)
    expect(blockers).not_to_contain_text("approval", timeout=LIVE_MS)
    expect(blockers).to_contain_text("Export an invoice to PDF")
    assert rita_page.evaluate("window.notReloaded") is True


def test_change_made_elsewhere_shows_on_the_open_page(new_page, rita, alice, bob, vera):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="preparation")
    page = new_page()
    sign_in(page, "vera")
    page.goto(release_url(release))
    blockers = page.get_by_test_id("blockers")
    expect(blockers).to_contain_text("prod-eu: “Backup confirmed” is not done.")
    page.evaluate("window.notReloaded = true")

    rs.checklist_item_set(item_id=release.checklist.get().pk, status="done", actor=rita)
    expect(blockers).to_have_text("Ready to move to testing.", timeout=LIVE_MS)
    expect(page.get_by_test_id("checklist-status")).to_have_text("Done")

    rs.release_move(release_id=release.pk, to="testing", actor=rita)
    stepper = page.locator("#stepper")
    expect(stepper.locator('[data-phase="testing"]')).to_have_attribute(
        "data-state", "current", timeout=LIVE_MS
    )
    expect(stepper.locator('[data-phase="preparation"]')).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("phase-badge")).to_have_text("Testing")
    expect(blockers).to_contain_text("Needs 1 more QA approval.", timeout=LIVE_MS)
    assert page.evaluate("window.notReloaded") is True

    # Once the release has ended the page shows it once more, then stops asking.
    polls: list[str] = []
    page.on(
        "request", lambda request: polls.append(request.url) if "/live/" in request.url else None
    )
    rs.release_move(release_id=release.pk, to="cancelled", reason="Budget cut.", actor=rita)
    expect(stepper.locator('[data-phase="cancelled"]')).to_have_attribute(
        "data-state", "ended", timeout=LIVE_MS
    )
    expect(page.locator("#live")).to_contain_text("Final")
    seen = len(polls)
    page.wait_for_timeout(1500)
    assert len(polls) == seen


def test_viewer_sees_no_action_buttons(new_page, rita, alice, bob, vera):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    page: Page = new_page()
    sign_in(page, "vera")
    page.goto(release_url(release))
    expect(page.get_by_test_id("blockers")).to_contain_text("more QA approval")
    expect(page.locator("main button")).to_have_count(0)
    expect(page.locator("main textarea")).to_have_count(0)
    expect(page.locator("main form")).to_have_count(0)


def test_waves_still_rolling_out_show_as_progress_not_as_errors(new_page, rita, alice, bob):
    portfolio(rita, alice, bob)
    erp = Release.objects.get(application__name="ERP")
    page = new_page()
    sign_in(page, "rita")
    page.goto(release_url(erp))
    expect(page.get_by_test_id("blocker-count")).to_have_text("Under way")
    under_way = page.get_by_test_id("under-way")
    expect(under_way).to_have_count(2)
    expect(under_way.first).to_contain_text("Wave prod-us 50% is deploying.")
    expect(under_way.last).to_contain_text("Wave prod-us 100% has not started yet.")
    expect(page.locator(".blocker:not(.blocker-progress)")).to_have_count(0)
    # Not the pink of a fault: the soft blue of work going on.
    background = under_way.first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(230, 239, 251)"
    page.locator("#gate").scroll_into_view_if_needed()
    screenshot(page, "release-rollout")

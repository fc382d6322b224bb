"""The sign-off, release form, environments, audit and token pages in a real browser: an approver
signs off, a release manager creates a release and declares a freeze, an administrator
checks the audit chain, and someone creates an API token."""

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from apps.accounts.models import ApiToken, Profile
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.environments import services as es
from apps.environments.models import FreezeWindow
from apps.releases.models import Release
from apps.signoffs.models import SignOff

from .conftest import VIEWPORT, screenshot, sign_in
from .test_release_pages import LIVE_MS, portfolio

pytestmark = pytest.mark.browser


@pytest.fixture
def form_page(browser: Browser, live_server) -> Iterator[Page]:
    """A page whose forms are expected to come back with errors: Chromium logs every 400 answer
    on the console, so those are allowed here; any other console or script error still fails."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(5000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "status of 400" not in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"errors in the browser: {errors}"


def test_approver_signs_off_from_the_signoff_page(new_page, form_page, rita, alice, bob):
    crm = portfolio(rita, alice, bob)

    rita_page = new_page()
    sign_in(rita_page, "rita")
    rita_page.goto(f"/releases/{crm.pk}/sign/")
    expect(rita_page.get_by_test_id("why-not")).to_contain_text("You own this release")
    tally = rita_page.get_by_test_id("signoff-tally")
    expect(tally).to_have_text("1 of 2 approvals")

    page = form_page
    sign_in(page, "alice")
    page.goto(f"/releases/{crm.pk}/sign/")
    expect(page.get_by_role("heading", name="Sign off CRM 2.0.0", level=1)).to_be_visible()
    expect(page.get_by_test_id("scope")).to_have_text("Invoices: new screen. Search: faster.")
    expect(page.get_by_test_id("open-defects")).to_contain_text("Totals column misaligned")
    expect(page.get_by_test_id("missing")).to_contain_text("1 more approval from QA")

    comment = page.get_by_label("Comment")
    comment.fill("Invoices and search checked on staging; PDF export still open.")
    screenshot(page, "signoff")

    # A rejection without a reason is refused on the comment field, and nothing is recorded.
    comment.fill("")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#decision-comment-error")).to_have_text(
        "Say why you reject: a rejection needs a comment."
    )
    expect(comment).to_have_attribute("aria-invalid", "true")
    assert not SignOff.objects.filter(release=crm, signer=alice).exists()

    comment = page.get_by_label("Comment")
    comment.fill("Invoices and search checked on staging; PDF export still open.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("my-signoff")).to_contain_text("You approved version 2.0.0 as QA")
    expect(page.get_by_test_id("signoff-tally")).to_have_text("2 of 2 approvals")
    expect(page.get_by_test_id("missing")).to_contain_text("The policy is met")
    assert SignOff.objects.get(release=crm, signer=alice).comment.startswith("Invoices and search")

    # The owner's open page shows the verdict without a reload.
    expect(tally).to_have_text("2 of 2 approvals", timeout=LIVE_MS)
    expect(rita_page.get_by_test_id("history")).to_contain_text("Invoices and search checked")


def test_release_manager_filters_the_list_and_creates_a_release(form_page, rita, alice, bob):
    portfolio(rita, alice, bob)
    page = form_page
    sign_in(page, "rita")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Releases").click()
    page.get_by_label("Application").select_option(label="ERP")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("Ledger close for Q4")

    page.get_by_role("link", name="New release").click()
    page.get_by_label("Application").select_option(label="HR")
    page.get_by_label("Version").fill("1.5.0")
    page.get_by_label("Name").fill("Self-service payslips")
    page.get_by_label("Build reference").fill("git:7f3c2e1")
    page.get_by_label("Scope").fill(
        "Employees download payslips themselves.\nManagers approve leave on mobile."
    )
    page.get_by_label("Planned start").fill("2031-03-03T09:00")
    page.get_by_label("Planned end").fill("2031-03-03T17:30")
    page.get_by_label("Sign-offs expire after (days)").fill("14")
    screenshot(page, "release-form")

    # The service refuses a window that ends before it starts; the form says so on the field.
    page.get_by_label("Planned end").fill("2031-03-03T08:00")
    page.get_by_role("button", name="Create release").click()
    expect(page.locator("#id_planned_end_error")).to_have_text(
        "The planned window must end after it starts."
    )
    expect(page.get_by_label("Planned end")).to_have_attribute("aria-invalid", "true")
    assert not Release.objects.filter(version="1.5.0").exists()
    page.get_by_label("Planned end").fill("2031-03-03T17:30")
    page.get_by_role("button", name="Create release").click()

    expect(page.get_by_test_id("phase-badge")).to_have_text("Planning")
    release = Release.objects.get(version="1.5.0")
    # rita works in Berlin: 09:00 CET is 08:00 UTC.
    assert release.planned_start == datetime(2031, 3, 3, 8, 0, tzinfo=UTC)
    assert (release.name, release.signoff_expiry_days) == ("Self-service payslips", 14)


def test_release_manager_declares_a_freeze_and_adds_a_window(new_page, rita, alice, bob):
    portfolio(rita, alice, bob)
    Profile.objects.update_or_create(user=rita, defaults={"time_zone": "Europe/London"})
    prod_ap = es.environment_create(
        name="prod-ap", tier="production", region="ap", time_zone="Asia/Singapore", actor=rita
    )
    es.environment_create(
        name="staging-eu",
        tier="staging",
        region="eu",
        time_zone="Europe/Berlin",
        health_url="https://staging-eu.example.test/health",
        actor=rita,
    )
    es.deployment_window_add(
        environment_id=prod_ap.pk,
        weekdays=[0, 1, 2, 3],
        start_time=time(22),
        end_time=time(23, 30),
        actor=rita,
    )
    now = timezone.now()
    es.freeze_create(
        scope="global",
        start=now + timedelta(days=20),
        end=now + timedelta(days=22),
        reason="Year-end change freeze",
        actor=rita,
    )
    es.freeze_create(
        scope="region",
        region="us",
        start=now - timedelta(hours=2),
        end=now + timedelta(hours=10),
        reason="US data-centre maintenance",
        actor=rita,
    )

    page = new_page()
    sign_in(page, "rita")
    page.goto("/environments/")
    expect(page.locator('[data-env="prod-us"] [data-testid="env-status"]')).to_contain_text(
        "Frozen"
    )

    page.get_by_text("Declare a freeze").click()
    form = page.locator("#new-freeze")
    form.get_by_label("One environment").check()
    form.get_by_label("Environment", exact=True).select_option(label="prod-eu")
    form.get_by_label("Starts").fill("2031-01-10T09:00")
    form.get_by_label("Ends").fill("2031-01-10T18:00")
    form.get_by_label("Reason").fill("Payroll run")
    form.get_by_role("button", name="Declare freeze").click()
    expect(page.get_by_test_id("flash")).to_have_text("Freeze declared.")
    expect(page.get_by_test_id("freezes")).to_contain_text("Payroll run")
    freeze = FreezeWindow.objects.get(reason="Payroll run")
    assert freeze.start == datetime(2031, 1, 10, 9, 0, tzinfo=UTC)  # London is on UTC in January

    card = page.locator('[data-env="staging-eu"]')
    card.locator("summary", has_text="Add window").click()
    for day in ("Tue", "Thu"):
        card.get_by_label(day).check()
    card.get_by_label("From").fill("07:00")
    card.get_by_label("To").fill("09:30")
    card.get_by_role("button", name="Add window").click()
    expect(page.get_by_test_id("flash")).to_have_text("Deployment window added.")
    expect(page.locator('[data-env="staging-eu"] .window-list')).to_contain_text("Tue, Thu")
    page.wait_for_timeout(300)
    screenshot(page, "environments")


def test_administrator_filters_the_audit_log_and_verifies_the_chain(
    new_page, rita, alice, bob, root
):
    crm = portfolio(rita, alice, bob)
    Profile.objects.create(user=root, time_zone="Europe/Berlin")
    page = new_page()
    sign_in(page, "root")
    page.goto("/audit/")
    page.get_by_label("Release").select_option(label="CRM 2.0.0")
    page.get_by_label("Action").fill("signoff")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#results-title")).to_have_text("1 event matches")
    expect(page.get_by_test_id("events")).to_contain_text("signoff.approved")

    page.get_by_label("Action").fill("")
    page.get_by_role("button", name="Filter").click()
    page.locator("details.changes").first.locator("summary").click()
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_test_id("verify-result")).to_contain_text("The chain is intact.")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "audit-events.csv"
    with open(download.value.path(), encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][:4] == ["id", "at", "actor", "verb"]
    assert len(rows) - 1 == AuditEvent.objects.filter(release_id=crm.pk).count()
    screenshot(page, "audit")


def test_person_creates_and_revokes_an_api_token(new_page, vera):
    api_token_create(actor=vera, name="Status dashboard", read_only=True)
    old, _ = api_token_create(actor=vera, name="Old laptop script")
    ApiToken.objects.filter(pk=old.pk).update(last_used_at=timezone.now() - timedelta(days=3))
    page = new_page()
    sign_in(page, "vera")
    page.goto("/account/tokens/")
    page.get_by_label("Name").fill("CI pipeline")
    page.get_by_label("Read-only").check()
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_label("Your new read-only key").input_value()
    assert ApiToken.objects.get(name="CI pipeline").prefix == key[:8]
    screenshot(page, "tokens")

    page.get_by_text("Revoke Old laptop script").click()
    page.get_by_role("button", name="Revoke for good").click()
    expect(page.get_by_test_id("flash")).to_have_text("Token revoked.")
    expect(page.get_by_test_id("tokens")).not_to_contain_text("Old laptop script")
    expect(page.get_by_test_id("new-key")).to_have_count(0)  # the key is never shown again
    assert not ApiToken.objects.filter(pk=old.pk).exists()

"""Inline actions on the release page in a real browser: typed text survives live refreshes."""

import pytest
from playwright.sync_api import expect

from apps.releases import services as rs
from apps.releases.models import Release
from tests.builders import advance, planned_release

from .conftest import sign_in

pytestmark = pytest.mark.browser

LIVE_MS = 2000


def test_waive_reason_and_new_test_case_survive_a_live_refresh(new_page, rita, alice, bob, oscar):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="preparation")
    page = new_page()
    sign_in(page, "rita")
    page.goto(f"/releases/{release.pk}/")

    page.get_by_text("Waive…").first.click()
    page.get_by_label("Why waive “Backup confirmed”").fill("Restored last week.")
    page.get_by_label("New test case").fill("Export to PDF")

    # A change made elsewhere refreshes the live parts of the open page.
    rs.defect_open(release_id=release.pk, title="Logo blurry", severity="minor", actor=oscar)
    expect(page.locator("#defects-list")).to_contain_text("Logo blurry", timeout=LIVE_MS)
    expect(page.get_by_label("Why waive “Backup confirmed”")).to_have_value("Restored last week.")
    expect(page.get_by_label("New test case")).to_have_value("Export to PDF")

    page.get_by_role("button", name="Waive", exact=True).click()
    expect(page.get_by_test_id("checklist-status")).to_have_text("Waived")
    expect(page.locator("#checklist-list")).to_contain_text("Waived: Restored last week.")

    page.get_by_role("button", name="Add test case").click()
    expect(page.locator("#tests-list")).to_contain_text("Export to PDF")
    expect(page.get_by_label("New test case")).to_have_value("")
    assert Release.objects.get(pk=release.pk).test_cases.filter(title="Export to PDF").exists()

"""The mailed Approve link in a real browser: the approver, not signed in, opens it from the
mail, reads what they sign on the confirmation page, and approves."""

import pytest
from playwright.sync_api import Browser, expect

from apps.signoffs.models import SignOff
from tests.builders import advance, planned_release
from tests.signoffs.test_links import mailed_links

from .conftest import PHONE, screenshot

pytestmark = pytest.mark.browser


def test_approver_opens_the_mailed_link_and_approves(new_page, rita, alice, bob):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    links = mailed_links(alice.email)

    page = new_page()
    page.goto(links["approve"])
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approve CRM 2.0.0?")
    expect(page.get_by_test_id("scope")).to_have_text("Invoices: new screen. Search: faster.")
    expect(page.locator("#evidence")).to_contain_text("Create an invoice")
    expect(page.get_by_test_id("link-form")).to_contain_text("You sign as alice, QA")
    screenshot(page, "signoff-link")
    assert not SignOff.objects.exists()  # opening it decided nothing

    page.get_by_label("Comment").fill("Invoices checked against last month's run.")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_test_id("link-done")).to_contain_text("Recorded as QA for version 2.0.0")
    signoff = SignOff.objects.get()
    assert (signoff.signer, signoff.decision, signoff.role.slug) == (alice, "approve", "qa")
    assert signoff.fingerprint == release.fingerprint


def test_the_link_pages_fit_a_360px_phone(browser: Browser, live_server, rita, alice, bob):
    advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    links = mailed_links(alice.email)
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(links["reject"])
        expect(page.get_by_role("button", name="Reject", exact=True)).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "signoff-link-phone")
        page.get_by_role("button", name="Reject", exact=True).click()
        expect(page.locator("#decision-comment-error")).to_contain_text("Say why you reject")
        page.get_by_label("Comment").fill("Totals are still misaligned.")
        page.get_by_role("button", name="Reject", exact=True).click()
        expect(page.get_by_test_id("link-done")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()

"""The notification webhooks page in a real browser: a release manager finds it in the
page footer, adds a webhook whose secret ReleaseDeck makes up, switches it off and removes it."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.notifications.models import Notification, OutboundWebhook

from .conftest import PHONE, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_release_manager_manages_notification_webhooks(new_page, rita):
    old = OutboundWebhook.objects.create(
        name="Release chat", url="https://chat.example.test/hooks/T024/B0F1", secret="s" * 24
    )
    for state, error in (("sent", ""), ("sent", ""), ("pending", "HTTP 503")):
        Notification.objects.create(
            event="release.moved",
            channel="webhook",
            recipient=old.url,
            webhook=old,
            subject="s",
            body="b",
            state=state,
            last_error=error,
            sent_at=timezone.now() if state == "sent" else None,
        )
    page = new_page()
    sign_in(page, "rita")
    page.get_by_role("contentinfo").get_by_role("link", name="Notification webhooks").click()
    expect(page.get_by_role("heading", name="Notification webhooks")).to_be_visible()
    expect(page.get_by_test_id("delivery-counts")).to_have_text("2 sent · 1 retrying")
    expect(page.get_by_test_id("last-error")).to_have_text("Last error: HTTP 503")

    page.get_by_label("Name").fill("CAB board")
    page.get_by_label("URL").fill("https://cab.example.test/releasedeck")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_test_id("flash")).to_have_text("Webhook “CAB board” added.")
    secret = page.get_by_label("Signing secret").input_value()
    assert OutboundWebhook.objects.get(name="CAB board").secret == secret
    screenshot(page, "webhooks")

    row = page.locator("tr", has_text="CAB board")
    row.get_by_role("button", name="Switch off CAB board").click()
    expect(page.get_by_test_id("flash")).to_contain_text("switched off")
    expect(page.get_by_test_id("new-secret")).to_have_count(0)  # the secret is never shown again
    assert OutboundWebhook.objects.get(name="CAB board").active is False

    page.locator("tr", has_text="Release chat").get_by_text("Remove Release chat").click()
    page.get_by_role("button", name="Remove for good").click()
    expect(page.get_by_test_id("flash")).to_have_text("Webhook removed.")
    expect(page.get_by_test_id("webhooks")).not_to_contain_text("Release chat")
    assert not OutboundWebhook.objects.filter(pk=old.pk).exists()

    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a phone"
    screenshot(page, "webhooks-phone")


def test_the_page_is_not_offered_to_an_approver(new_page, alice):
    page = new_page()
    sign_in(page, "alice")
    expect(page.get_by_role("link", name="Notification webhooks")).to_have_count(0)

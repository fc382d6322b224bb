"""The mailed Approve link of a wave's own sign-off in a real browser: the approver, not signed
in, opens it from the mail, reads which wave and content they sign, and approves."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.rollouts.models import Wave
from apps.signoffs.models import SignOff
from tests.signoffs.test_wave_links import wave_mailed_links
from tests.signoffs.test_wave_signoffs import rolling, run_engine, state

pytestmark = pytest.mark.browser


def test_approver_opens_the_mailed_wave_link_and_approves(new_page, rita, alice, bob):
    release, wave = rolling(rita, alice, bob)
    run_engine(release, timezone.now())
    assert state(wave) == "waiting"
    links = wave_mailed_links(wave, bob.email)

    page = new_page()
    page.goto(links["approve"])
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Approve wave prod-eu 100% of CRM 2.0.0?"
    )
    expect(page.get_by_test_id("wave-environment")).to_have_text("prod-eu")
    expect(page.get_by_test_id("wave-share")).to_have_text("100%")
    expect(page.get_by_test_id("wave-covers")).to_contain_text("It counts for this wave only")
    expect(page.get_by_test_id("scope")).to_have_text("Invoices: new screen. Search: faster.")
    expect(page.get_by_test_id("link-form")).to_contain_text("You sign as bob, Business owner")
    assert not SignOff.objects.filter(wave=wave).exists()  # opening it decided nothing

    page.get_by_label("Comment").fill("Sales campaign is over; go.")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_test_id("link-done")).to_contain_text(
        "Recorded as Business owner for wave prod-eu 100% (prod-eu), version 2.0.0"
    )
    signoff = SignOff.objects.get(wave=wave)
    assert (signoff.signer, signoff.decision, signoff.role.slug) == (
        bob,
        "approve",
        "business_owner",
    )
    assert signoff.fingerprint == release.fingerprint
    # The wave was woken: due now, or already started by a worker that took the wake-up
    # (the suite's shared worker runs beside the browser tests).
    woken = Wave.objects.get(pk=wave.pk)
    assert woken.next_step_at <= timezone.now() or woken.state != "waiting", woken.state

"""A wave's own sign-off in a real browser: the approver finds it on the dashboard, signs it on
the sign-off page, and the engine then starts the wave."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.runner import wave_step
from apps.signoffs.models import SignOff
from tests.builders import advance, planned_release

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_business_owner_finds_the_wave_on_the_dashboard_and_approves_it(new_page, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    Wave.objects.filter(pk=wave.pk).update(next_step_at=timezone.now())
    assert wave_step(wave_id=wave.pk, now=timezone.now()) == "waiting"

    page = new_page()
    sign_in(page, "bob")
    page.goto("/dashboard/")
    waiting = page.get_by_test_id("waiting")
    expect(waiting).to_contain_text("CRM 2.0.0")
    expect(waiting.get_by_test_id("waiting-wave")).to_have_text("wave prod-eu 100%")
    waiting.get_by_role("link", name="CRM 2.0.0").click()

    card = page.locator(f"#wave-{wave.pk}")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Business owner")
    expect(card.get_by_test_id("wave-asks-you")).to_have_text(
        "This wave waits for your sign-off before it starts."
    )
    screenshot(page, "signoff-wave")
    card.get_by_label("Comment on prod-eu 100%").fill("Sales campaign is over; go.")
    card.get_by_role("button", name="Approve prod-eu 100%").click()
    expect(page.locator(f"#wave-{wave.pk}").get_by_test_id("my-wave-signoff")).to_contain_text(
        "You approved prod-eu 100% as Business owner"
    )
    assert SignOff.objects.get(wave=wave, signer=bob).comment == "Sales campaign is over; go."

    # The approval woke the wave: its next step starts it (here, or in a session's Celery
    # worker that an earlier test started and that took the step first).
    assert wave_step(wave_id=wave.pk, now=timezone.now()) in ("deploying", "not due")
    wave.refresh_from_db()
    assert wave.state in ("deploying", "verifying", "succeeded")
    page.goto("/dashboard/")
    expect(page.get_by_test_id("waiting")).to_have_count(0)

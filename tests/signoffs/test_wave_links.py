"""Approve/Reject links in a wave's own sign-off request mail: the release's links' guarantees
(see test_links.py), bound to one wave, and decided through `wave_signoff_give`."""

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from apps.notifications.outbox import notifications_send
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.operations import WaveAction, wave_operate
from apps.rollouts.wave_signoffs import wave_signoff_give
from apps.signoffs.models import ApprovalLink, SignOff
from apps.stakeholders import services as sh
from apps.stakeholders.models import Stakeholder
from tests.db_state import db_state
from tests.factories import revoke_all

from .test_links import LINK, confirm, csrf_client, refusals
from .test_wave_signoffs import approver, rolling, run_engine, state

pytestmark = pytest.mark.django_db


def wave_mailed_links(wave: Wave, email: str) -> dict[str, str]:
    """Send the wave's sign-off request mail to `email` and read its links: {decision: path}."""
    (row,) = Notification.objects.filter(
        event="signoff.requested", channel="email", recipient=email, payload__wave__id=wave.pk
    )
    assert notifications_send(notification_ids=[row.pk]) == {row.pk: "sent"}
    message = mail.outbox[-1]
    assert message.to == [email]
    return {kind.lower(): path for kind, path, _ in LINK.findall(message.body)}


@pytest.fixture
def waiting_wave(rita, alice, bob) -> tuple[Release, Wave]:
    release, wave = rolling(rita, alice, bob)
    run_engine(release, timezone.now())
    assert state(wave) == "waiting"
    return release, wave


@pytest.fixture
def links(waiting_wave, bob) -> dict[str, str]:
    return wave_mailed_links(waiting_wave[1], bob.email)


def wave_signoffs() -> list[SignOff]:
    return list(SignOff.objects.filter(wave__isnull=False))


def test_the_wave_request_mail_carries_links_bound_to_the_wave(waiting_wave, links, bob):
    release, wave = waiting_wave
    assert set(links) == {"approve", "reject"}
    link = ApprovalLink.objects.get(wave=wave)
    assert (link.user, link.role.slug, link.release_id) == (bob, "business_owner", release.pk)
    assert link.fingerprint == release.fingerprint
    assert timedelta(hours=71) < link.expires_at - timezone.now() <= timedelta(hours=72)
    assert "or the wave no longer waits for its sign-off" in mail.outbox[-1].body


def test_opening_a_wave_link_changes_nothing_and_shows_the_wave(links):
    before = db_state()
    response = Client().get(links["approve"])
    assert db_state() == before
    html = response.content.decode()
    assert response.status_code == 200
    assert "Approve wave prod-eu 100% of CRM" in html
    assert "Invoices: new screen. Search: faster." in html  # the release's scope
    assert 'data-testid="wave-share">100%' in html
    assert "It counts for this wave only" in html
    assert 'name="comment"' in html and 'name="csrfmiddlewaretoken"' in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_post_signs_the_wave_once_through_the_wave_writer(waiting_wave, links, bob):
    release, wave = waiting_wave
    response = confirm(csrf_client(), links["approve"], "approve", "Go for EU.")
    assert response.status_code == 200
    assert "You approved wave prod-eu 100% of CRM" in response.content.decode()
    (signoff,) = wave_signoffs()
    assert (signoff.signer, signoff.wave_id, signoff.role.slug) == (bob, wave.pk, "business_owner")
    assert signoff.fingerprint == release.fingerprint and signoff.comment == "Go for EU."
    wave.refresh_from_db()
    assert wave.next_step_at <= timezone.now()  # woken, as wave_signoff_give does
    used = AuditEvent.objects.get(verb="signoff.link_used")
    assert used.actor == bob and used.after["wave"] == wave.pk

    again = confirm(csrf_client(), links["reject"], "reject", "Changed my mind")
    assert again.status_code == 409
    assert "already used to say approve" in again.content.decode()
    assert refusals()[-1].after == {**refusals()[-1].after, "code": "used", "wave": wave.pk}
    assert len(wave_signoffs()) == 1


def test_a_verdict_given_elsewhere_decides_the_wave_link(waiting_wave, links, bob):
    wave_signoff_give(wave_id=waiting_wave[1].pk, decision="approve", actor=bob)
    response = confirm(csrf_client(), links["approve"], "approve")
    assert response.status_code == 409
    assert "approved wave prod-eu 100%" in response.content.decode()
    assert refusals()[-1].after["code"] == "decided"


def test_the_release_verdict_does_not_decide_the_wave_link(waiting_wave, links, bob):
    # bob approved the release itself before it rolled out: the wave's link still works.
    assert SignOff.objects.filter(signer=bob, wave__isnull=True).exists()
    assert Client().get(links["approve"]).status_code == 200


def test_a_wave_rejection_needs_a_comment_and_the_link_still_works(links):
    client = csrf_client()
    response = confirm(client, links["reject"], "reject")
    assert response.status_code == 400
    assert "Say why you reject" in response.content.decode()
    assert not wave_signoffs() and not refusals()
    assert confirm(client, links["reject"], "reject", "Not during the sale.").status_code == 200
    assert wave_signoffs()[0].decision == "reject"


def _void_answer(path: str, code: str) -> None:
    assert Client().get(path).status_code == 410
    response = confirm(csrf_client(), path, "approve")
    assert response.status_code == 410
    assert "no longer works" in response.content.decode()
    assert not SignOff.objects.filter(wave__isnull=False, signer__username="bob").exists()
    assert refusals()[-1].after["code"] == code
    assert ApprovalLink.objects.get(wave__isnull=False).void_reason == code


def test_an_expired_wave_link_answers_410(links):
    ApprovalLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _void_answer(links["approve"], "expired")


def test_a_wave_link_for_other_content_answers_410(links):
    # Content is frozen while the release rolls out; a link minted for earlier content is void.
    ApprovalLink.objects.update(fingerprint="0" * 64)
    _void_answer(links["approve"], "content_changed")


def test_skipping_the_wave_voids_its_link(waiting_wave, links, oscar):
    wave_operate(wave_id=waiting_wave[1].pk, action=WaveAction.SKIP, actor=oscar, reason="EU later")
    _void_answer(links["approve"], "not_asked")


def test_the_wave_starting_voids_its_link(waiting_wave, links, rita):
    release, wave = waiting_wave
    dora = approver("dora")
    sh.stakeholder_add(release_id=release.pk, user_id=dora.pk, role="business_owner", actor=rita)
    wave_signoff_give(wave_id=wave.pk, decision="approve", actor=dora)
    run_engine(release, timezone.now())
    assert state(wave) not in ("pending", "scheduled", "waiting")
    _void_answer(links["approve"], "not_asked")


def test_removing_the_wave_requirement_voids_its_link(waiting_wave, links, rita):
    ro.wave_requirement_set(wave_id=waiting_wave[1].pk, role="business_owner", count=0, actor=rita)
    _void_answer(links["approve"], "not_asked")


def test_removing_the_approver_voids_the_wave_link(waiting_wave, links, rita, bob):
    stakeholder = Stakeholder.objects.get(release=waiting_wave[0], user=bob)
    sh.stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    _void_answer(links["approve"], "not_stakeholder")


def test_deactivating_the_approver_voids_the_wave_link(links, bob):
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    _void_answer(links["approve"], "deactivated")


def test_another_signed_in_person_cannot_use_the_wave_link(links, alice):
    client = csrf_client()
    client.force_login(alice)
    page = client.get(links["approve"])
    assert page.status_code == 403
    assert "This approval link is not yours, alice" in page.content.decode()
    response = client.post(
        links["approve"].split("?")[0],
        {"decision": "approve", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 403
    assert not wave_signoffs()
    assert refusals()[-1].actor == alice and refusals()[-1].after["code"] == "not_yours"


def test_a_wave_link_takes_only_get_and_post(links):
    assert Client().put(links["approve"]).status_code == 405


def test_a_wave_request_for_a_wave_no_longer_asked_carries_no_links(waiting_wave, oscar, bob):
    release, wave = waiting_wave
    wave_operate(wave_id=wave.pk, action=WaveAction.SKIP, actor=oscar, reason="EU later")
    assert wave_mailed_links(wave, bob.email) == {}
    assert not ApprovalLink.objects.filter(wave=wave).exists()


def test_the_wave_links_own_person_signed_in_may_use_it(links, bob):
    client = csrf_client()
    client.force_login(bob)
    assert confirm(client, links["approve"], "approve").status_code == 200
    assert wave_signoffs()[0].signer == bob


def test_a_wave_link_does_not_show_the_release_to_an_approver_who_lost_their_roles(links, bob):
    revoke_all(bob)
    page = Client().get(links["approve"])
    assert page.status_code == 403
    assert "may no longer see this release" in page.content.decode()
    assert "Invoices: new screen" not in page.content.decode()
    assert confirm(csrf_client(), links["approve"], "approve").status_code == 403
    assert not wave_signoffs()
    assert refusals()[-1].after["code"] == "not_allowed"

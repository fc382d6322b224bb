"""Approve/Reject links in a sign-off request mail: opening one changes nothing, the POST from
its confirmation page decides once, and a link that no longer fits answers why."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from apps.notifications.outbox import notifications_send
from apps.releases import services as rs
from apps.releases.models import Release
from apps.signoffs import services as so
from apps.signoffs.models import ApprovalLink, SignOff
from apps.stakeholders import services as sh
from apps.stakeholders.models import Stakeholder
from tests.builders import advance, planned_release
from tests.db_state import db_state
from tests.factories import revoke_all

pytestmark = pytest.mark.django_db

LINK = re.compile(r"(Approve|Reject):\s+https?://[^/\s]+(/signoffs/links/([\w-]+)/\?decision=\w+)")


@pytest.fixture
def testing_release(rita, alice, bob) -> Release:
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    rs.defect_open(release_id=release.pk, title="Totals misaligned", severity="minor", actor=bob)
    return release


def mailed_links(email: str) -> dict[str, str]:
    """Send the sign-off request mails to `email` and read their links: {decision: path}."""
    ids = list(
        Notification.objects.filter(event="signoff.requested", recipient=email).values_list(
            "pk", flat=True
        )
    )
    assert notifications_send(notification_ids=ids) == dict.fromkeys(ids, "sent")
    (message,) = [m for m in mail.outbox if m.to == [email]]
    return {kind.lower(): path for kind, path, _ in LINK.findall(message.body)}


@pytest.fixture
def links(testing_release, alice) -> dict[str, str]:
    return mailed_links(alice.email)


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def confirm(client: Client, path: str, decision: str, comment: str = ""):
    """Open the link as a browser does, then post the confirmation form with its CSRF token."""
    client.get(path)
    token = client.cookies["csrftoken"].value
    return client.post(
        path.split("?")[0],
        {"decision": decision, "comment": comment, "csrfmiddlewaretoken": token},
    )


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb="signoff.link_refused").order_by("id"))


# ---- The mail and what is stored ----


def test_request_mail_carries_approve_and_reject_links_for_that_approver(
    testing_release, alice, bob
):
    alice_links = mailed_links(alice.email)
    bob_links = mailed_links(bob.email)
    assert set(alice_links) == {"approve", "reject"}
    assert alice_links["approve"].endswith("?decision=approve")
    assert alice_links["reject"].endswith("?decision=reject")
    assert alice_links["approve"] != bob_links["approve"]
    mine = ApprovalLink.objects.get(user=alice)
    assert mine.release_id == testing_release.pk
    assert mine.role.slug == "qa"
    assert mine.fingerprint == testing_release.fingerprint
    assert timedelta(hours=71) < mine.expires_at - timezone.now() <= timedelta(hours=72)
    assert ApprovalLink.objects.get(user=bob).role.slug == "business_owner"


def test_only_the_hash_of_a_link_is_stored(links):
    token = links["approve"].split("/")[3]
    assert ApprovalLink.objects.get().token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        for table in ("signoffs_approvallink", "notifications_notification"):
            cursor.execute(f"SELECT count(*) FROM {table} r WHERE r::text LIKE %s", [f"%{token}%"])
            assert cursor.fetchone() == (0,), table


def test_a_request_mail_for_a_wave_that_no_longer_waits_carries_no_links(rita, alice, bob):
    # A wave's own request is linked in test_wave_links.py; this wave is not asked any more.
    release = planned_release(rita, qa=alice, business_owner=bob)
    row = Notification.objects.create(
        event="signoff.requested",
        release=release,
        channel="email",
        recipient=alice.email,
        subject="s",
        body="b",
        payload={"wave": {"id": 1}},
        next_attempt_at=timezone.now(),
    )
    notifications_send(notification_ids=[row.pk])
    assert "/signoffs/links/" not in mail.outbox[0].body
    assert not ApprovalLink.objects.exists()


# ---- Opening a link ----


def test_opening_a_link_changes_nothing_and_shows_what_to_decide(links):
    before = db_state()
    response = Client().get(links["approve"])
    assert db_state() == before
    html = response.content.decode()
    assert response.status_code == 200
    assert "Invoices: new screen. Search: faster." in html  # scope
    assert "Create an invoice" in html  # test evidence
    assert "Totals misaligned" in html  # open defect
    assert 'name="comment"' in html and 'name="csrfmiddlewaretoken"' in html
    assert 'name="decision" value="approve"' in html
    assert "alice" in html and "QA" in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_opening_the_reject_link_leads_with_reject(links):
    html = Client().get(links["reject"]).content.decode()
    assert html.index('value="reject"') < html.index('value="approve"')


def test_an_unknown_link_is_not_found(links):
    assert Client().get("/signoffs/links/not-a-token/").status_code == 404
    assert Client().post("/signoffs/links/not-a-token/", {"decision": "approve"}).status_code in (
        403,  # no CSRF token
        404,
    )


def test_a_link_takes_only_get_and_post(links):
    assert Client().put(links["approve"]).status_code == 405


# ---- Deciding ----


def test_the_post_approves_once_as_the_links_approver(links, testing_release, alice):
    client = csrf_client()
    response = confirm(client, links["approve"], "approve", "Checked the invoices.")
    assert response.status_code == 200
    assert "You approved CRM 2.0.0" in response.content.decode()
    signoff = SignOff.objects.get()
    assert (signoff.signer, signoff.role.slug, signoff.decision) == (alice, "qa", "approve")
    assert signoff.fingerprint == testing_release.fingerprint
    assert signoff.comment == "Checked the invoices."
    link = ApprovalLink.objects.get(user=alice)
    assert link.used_at is not None and link.signoff == signoff
    used = AuditEvent.objects.get(verb="signoff.link_used")
    assert used.actor == alice and used.release_id == testing_release.pk
    assert used.after["decision"] == "approve"
    assert AuditEvent.objects.filter(verb="signoff.approved", actor=alice).count() == 1
    assert "_auth_user_id" not in client.session  # the link signs nobody in


def test_a_second_use_answers_409_and_changes_nothing(links):
    assert confirm(csrf_client(), links["approve"], "approve").status_code == 200
    before = db_state()
    again = confirm(csrf_client(), links["reject"], "reject", "Changed my mind")
    assert again.status_code == 409
    assert "already used to say approve" in again.content.decode()
    assert SignOff.objects.count() == 1
    (refused,) = refusals()
    assert refused.after["code"] == "used" and refused.after["status"] == 409
    changed = {table for table, state in db_state().items() if before[table] != state}
    assert changed == {"audit_auditevent"}  # the refusal's event, and nothing else


def test_opening_a_used_link_answers_409(links):
    confirm(csrf_client(), links["approve"], "approve")
    assert Client().get(links["approve"]).status_code == 409


def test_a_verdict_given_on_the_sign_off_page_decides_the_request(links, testing_release, alice):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    response = confirm(csrf_client(), links["approve"], "approve")
    assert response.status_code == 409
    assert "already decided" in response.content.decode()
    assert refusals()[-1].after["code"] == "decided"


def test_a_post_without_the_csrf_token_is_refused(links):
    response = csrf_client().post(links["approve"].split("?")[0], {"decision": "approve"})
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_a_rejection_needs_a_comment_and_the_link_still_works(links, alice):
    client = csrf_client()
    response = confirm(client, links["reject"], "reject")
    assert response.status_code == 400
    assert "Say why you reject" in response.content.decode()
    assert not SignOff.objects.exists() and not refusals()
    assert confirm(client, links["reject"], "reject", "Totals are wrong.").status_code == 200
    assert SignOff.objects.get().decision == "reject"


def test_the_links_own_person_signed_in_may_use_it(links, alice):
    client = csrf_client()
    client.force_login(alice)
    assert confirm(client, links["approve"], "approve").status_code == 200
    assert SignOff.objects.get().signer == alice


# ---- Links that no longer fit ----


def _void_answer(path: str, code: str) -> None:
    assert Client().get(path).status_code == 410
    response = confirm(csrf_client(), path, "approve")
    assert response.status_code == 410
    assert not SignOff.objects.exists()
    assert refusals()[-1].after["code"] == code
    assert ApprovalLink.objects.get(user__username="alice").void_reason == code


def test_an_expired_link_answers_410(links):
    ApprovalLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _void_answer(links["approve"], "expired")


def test_a_content_change_voids_the_link(links, testing_release, rita):
    rs.release_update(release_id=testing_release.pk, actor=rita, scope="Invoices only.")
    _void_answer(links["approve"], "content_changed")


def test_removing_the_approver_as_stakeholder_voids_the_link(links, testing_release, rita, alice):
    stakeholder = Stakeholder.objects.get(release=testing_release, user=alice)
    sh.stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    _void_answer(links["approve"], "not_stakeholder")


def test_deactivating_the_approver_voids_the_link(links, alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    _void_answer(links["approve"], "deactivated")


# ---- The web's rules still apply ----


def test_another_signed_in_person_cannot_use_the_link(links, bob):
    client = csrf_client()
    client.force_login(bob)
    page = client.get(links["approve"])
    assert page.status_code == 403
    assert "This approval link is not yours, bob" in page.content.decode()
    response = client.post(
        links["approve"].split("?")[0],
        {"decision": "approve", "csrfmiddlewaretoken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 403
    assert not SignOff.objects.exists()
    (refused,) = refusals()
    assert refused.actor == bob and refused.after["code"] == "not_yours"


def test_self_approval_is_refused_through_a_link_too(links, testing_release, rita, alice):
    rs.release_update(release_id=testing_release.pk, actor=rita, owner_id=alice.pk)
    response = confirm(csrf_client(), links["approve"], "approve")
    assert response.status_code == 403
    assert "cannot sign it off" in response.content.decode()
    assert not SignOff.objects.exists()
    assert refusals()[-1].after["code"] == "refused"
    assert ApprovalLink.objects.get(user=alice).used_at is None


def test_a_link_does_not_show_the_release_to_an_approver_who_lost_their_roles(links, alice):
    revoke_all(alice)
    page = Client().get(links["approve"])
    assert page.status_code == 403
    assert "may no longer see this release" in page.content.decode()
    assert "Invoices: new screen" not in page.content.decode()
    assert confirm(csrf_client(), links["approve"], "approve").status_code == 403
    assert not SignOff.objects.exists()
    assert refusals()[-1].after["code"] == "not_allowed"

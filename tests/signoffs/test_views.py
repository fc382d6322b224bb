"""The sign-off page through the Django test client: who sees the form, what a verdict writes,
and what the page shows an approver about the release."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.releases import services as rs
from apps.releases.models import Defect, Release, TestCase
from apps.signoffs import services as so
from apps.signoffs.models import SignOff
from apps.stakeholders import services as sh
from apps.stakeholders.models import Stakeholder, StakeholderRole
from tests.builders import advance, planned_release
from tests.factories import UserFactory, give

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_url(release: Release) -> str:
    return reverse("signoffs:page", args=[release.pk])


def live_url(html: str) -> str:
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match, "the page has no live poller"
    return match.group(1).replace("&amp;", "&")


def verdict(release: Release, decision: str, comment: str = "", **extra: str) -> dict[str, str]:
    return {
        "decision": decision,
        "comment": comment,
        "fingerprint": release.fingerprint,
        **extra,
    }


@pytest.fixture
def testing_release(rita, alice, bob) -> Release:
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    rs.defect_open(release_id=release.pk, title="Totals misaligned", severity="minor", actor=bob)
    return release


def approver(username: str):
    user = UserFactory(username=username)
    give(user, "approver")
    return user


# ---- What the page shows ----


def test_approver_sees_scope_evidence_defects_policy_and_the_form(client, testing_release, alice):
    client.force_login(alice)
    response = client.get(page_url(testing_release))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Invoices: new screen. Search: faster." in html  # scope
    assert "git:2.0.0" in html  # build
    assert "Create an invoice" in html and "Not run" in html  # test evidence
    assert "Totals misaligned" in html and "sev-minor" in html  # open defect with severity
    assert "0 of 2 approvals" in html
    assert "1 more approval from QA" in html and "1 more approval from Business owner" in html
    assert f'hx-post="{page_url(testing_release)}"' in html
    assert 'name="decision" value="approve"' in html and 'name="decision" value="reject"' in html
    assert f'name="fingerprint" value="{testing_release.fingerprint}"' in html
    assert '<label for="decision-comment">' in html


def test_test_case_results_and_notes_are_shown(client, testing_release, rita, alice):
    case = testing_release.test_cases.get()
    rs.test_case_record(case_id=case.pk, status="failed", note="PDF export times out.", actor=alice)
    client.force_login(alice)
    html = client.get(page_url(testing_release)).content.decode()
    assert "PDF export times out." in html
    assert '<span class="badge test-failed">Failed</span>' in html
    assert "0 of 1 passed or waived" in html


def test_blocking_defect_is_called_out(client, testing_release, rita, alice):
    rs.defect_open(
        release_id=testing_release.pk, title="Data loss on save", severity="critical", actor=rita
    )
    client.force_login(alice)
    html = client.get(page_url(testing_release)).content.decode()
    assert "1 open blocker or critical defect" in html
    assert "Data loss on save" in html


def test_stale_signoff_is_marked_with_why(client, testing_release, rita, alice, vera):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    rs.release_update(release_id=testing_release.pk, scope="Invoices only.", actor=rita)
    client.force_login(vera)
    html = client.get(page_url(testing_release)).content.decode()
    assert re.search(r'class="signoff is-stale".*?Given for earlier content', html, re.S)
    assert "0 of 2 approvals" in html


def test_signoff_of_someone_no_longer_in_the_role_is_marked(client, testing_release, rita, bob):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=bob)
    stakeholder = Stakeholder.objects.get(release=testing_release, user=bob)
    sh.stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    client.force_login(rita)
    html = client.get(page_url(testing_release)).content.decode()
    assert "The signer is no longer named as Business owner on this release." in html
    assert "0 of 2 approvals" in html
    assert "Nobody is named in this role." in html


def test_current_signoff_counts_and_names_the_signer(client, testing_release, alice, vera):
    so.signoff_give(
        release_id=testing_release.pk, decision="approve", comment="Looks right.", actor=alice
    )
    client.force_login(vera)
    html = client.get(page_url(testing_release)).content.decode()
    assert "1 of 2 approvals" in html
    assert "Looks right." in html
    assert 'class="signoff is-stale"' not in html
    assert "1 more approval from Business owner" in html
    assert "more approval from QA" not in html


# ---- Who gets the form, and why not ----


def test_owner_is_told_why_there_is_no_form(client, testing_release, rita):
    client.force_login(rita)
    html = client.get(page_url(testing_release)).content.decode()
    assert "You own this release, so you cannot sign it off" in html
    assert 'name="decision"' not in html


def test_viewer_is_told_only_approvers_sign(client, testing_release, vera):
    client.force_login(vera)
    html = client.get(page_url(testing_release)).content.decode()
    assert "Only approvers sign releases off" in html
    assert 'name="decision"' not in html


def test_approver_not_named_on_the_release_is_told_so(client, testing_release):
    client.force_login(approver("carol"))
    html = client.get(page_url(testing_release)).content.decode()
    assert "You are not named on this release in a role the policy asks for" in html
    assert "Business owner, QA" in html
    assert 'name="decision"' not in html


def test_approver_before_testing_is_told_when_signing_opens(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(alice)
    html = client.get(page_url(release)).content.decode()
    assert "Sign-offs are given while the release is in preparation or testing" in html
    assert 'name="decision"' not in html


def test_approver_who_signed_sees_their_verdict_not_the_form(client, testing_release, alice):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(alice)
    html = client.get(page_url(testing_release)).content.decode()
    assert "You approved version 2.0.0 as QA" in html
    assert 'name="decision"' not in html


def test_person_without_role_cannot_open_the_page(client, testing_release, charlie):
    client.force_login(charlie)
    assert client.get(page_url(testing_release)).status_code == 403


def test_anonymous_is_sent_to_login(client, testing_release):
    response = client.get(page_url(testing_release))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_unknown_release_is_404(client, vera):
    client.force_login(vera)
    assert client.get(reverse("signoffs:page", args=[987654])).status_code == 404


# ---- Giving a verdict ----


def test_approver_approves_through_the_page(client, testing_release, alice):
    client.force_login(alice)
    response = client.post(
        page_url(testing_release), verdict(testing_release, "approve", "Checked."), **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    signoff = SignOff.objects.get(release=testing_release, signer=alice)
    assert (signoff.decision, signoff.comment, signoff.role.slug) == ("approve", "Checked.", "qa")
    assert html.lstrip().startswith('<section id="decision"')
    assert "You approved version 2.0.0 as QA" in html
    assert 'id="policy"' in html and 'hx-swap-oob="true"' in html
    assert "1 of 2 approvals" in html
    assert "release-changed" in response["HX-Trigger-After-Settle"]


def test_plain_post_redirects_back_to_the_page(client, testing_release, bob):
    client.force_login(bob)
    response = client.post(page_url(testing_release), verdict(testing_release, "approve"))
    assert response.status_code == 302
    assert response["Location"] == page_url(testing_release)
    assert SignOff.objects.get(signer=bob).role.slug == "business_owner"


def test_rejection_with_comment_is_recorded(client, testing_release, alice):
    client.force_login(alice)
    response = client.post(
        page_url(testing_release),
        verdict(testing_release, "reject", "Search is slower than before."),
        **HTMX,
    )
    assert response.status_code == 200
    assert "You rejected version 2.0.0" in response.content.decode()
    signoff = SignOff.objects.get(release=testing_release)
    assert (signoff.decision, signoff.comment) == ("reject", "Search is slower than before.")


def test_rejection_without_comment_is_a_form_error_on_the_comment(client, testing_release, alice):
    client.force_login(alice)
    response = client.post(page_url(testing_release), verdict(testing_release, "reject"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(
        r'<p class="field-error" id="decision-comment-error">Say why you reject: a rejection needs a comment.</p>',
        html,
    )
    assert 'aria-invalid="true" aria-describedby="decision-comment-error"' in html
    assert "HX-Trigger-After-Settle" not in response
    assert not SignOff.objects.exists()


def test_rejection_without_comment_without_htmx_renders_the_page_with_400(
    client, testing_release, alice
):
    client.force_login(alice)
    response = client.post(page_url(testing_release), verdict(testing_release, "reject"))
    assert response.status_code == 400
    assert "a rejection needs a comment" in response.content.decode()
    assert "<html" in response.content.decode()
    assert not SignOff.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"decision": "maybe"},
        {"decision": ""},
        {"decision": "approve", "comment": "x" * 5001},
        {"decision": "approve", "comment": "nul\x00byte"},
        {"decision": "approve", "fingerprint": ""},
    ],
    ids=["unknown-decision", "no-decision", "long-comment", "nul", "no-fingerprint"],
)
def test_bad_input_is_a_form_error_and_writes_nothing(client, testing_release, alice, data):
    client.force_login(alice)
    body = {**verdict(testing_release, "approve"), **data}
    response = client.post(page_url(testing_release), body, **HTMX)
    assert response.status_code == 400
    assert "field-error" in response.content.decode() or "alert-error" in response.content.decode()
    assert not SignOff.objects.exists()


def test_verdict_on_content_that_changed_since_the_page_loaded_is_refused(
    client, testing_release, rita, alice
):
    seen = verdict(testing_release, "approve")
    rs.release_update(release_id=testing_release.pk, build_ref="git:2.0.1", actor=rita)
    client.force_login(alice)
    response = client.post(page_url(testing_release), seen, **HTMX)
    html = response.content.decode()
    assert response.status_code == 409
    assert "The release changed while you were reading it" in html
    testing_release.refresh_from_db()
    assert f'name="fingerprint" value="{testing_release.fingerprint}"' in html
    assert not SignOff.objects.exists()


def test_changing_a_verdict_on_the_same_content_is_409(client, testing_release, alice):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(alice)
    response = client.post(page_url(testing_release), verdict(testing_release, "reject", "No."))
    assert response.status_code == 409
    assert "already given your verdict" in response.content.decode()
    assert SignOff.objects.get().decision == "approve"


def test_approver_holding_two_roles_must_say_which(client, testing_release, rita, alice):
    so.policy_set(
        release_id=testing_release.pk,
        requirements=[
            {"role": "qa", "count": 1},
            {"role": "business_owner", "count": 1},
            {"role": "security", "count": 1},
        ],
        actor=rita,
    )
    sh.stakeholder_add(release_id=testing_release.pk, user_id=alice.pk, role="security", actor=rita)
    client.force_login(alice)
    html = client.get(page_url(testing_release)).content.decode()
    assert '<label for="decision-role">Sign as</label>' in html
    assert '<option value="security">Security</option>' in html

    response = client.post(page_url(testing_release), verdict(testing_release, "approve"))
    assert response.status_code == 400
    assert 'id="decision-role-error"' in response.content.decode()
    assert not SignOff.objects.exists()

    response = client.post(
        page_url(testing_release), verdict(testing_release, "approve", role="security")
    )
    assert response.status_code == 302
    assert SignOff.objects.get().role.slug == "security"


# ---- Forged and wrong requests ----


@pytest.mark.parametrize("persona", ["vera", "rita", "oscar", "charlie"])
def test_forged_verdict_from_someone_who_may_not_sign_is_403(
    client, testing_release, persona, request
):
    client.force_login(request.getfixturevalue(persona))
    response = client.post(page_url(testing_release), verdict(testing_release, "approve"))
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_forged_verdict_from_approver_not_named_is_403_with_the_reason(client, testing_release):
    client.force_login(approver("carol"))
    response = client.post(page_url(testing_release), verdict(testing_release, "approve"), **HTMX)
    assert response.status_code == 403
    assert "Only a stakeholder whose role the sign-off policy names" in response.content.decode()
    assert not SignOff.objects.exists()


def test_verdict_outside_the_signing_phases_is_409(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(alice)
    response = client.post(page_url(release), verdict(release, "approve"), **HTMX)
    assert response.status_code == 409
    assert "Sign-offs are given in preparation or testing" in response.content.decode()
    assert not SignOff.objects.exists()


def test_anonymous_verdict_goes_to_login(client, testing_release):
    response = client.post(page_url(testing_release), verdict(testing_release, "approve"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not SignOff.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_page_rejects_other_methods(client, testing_release, alice, method):
    client.force_login(alice)
    assert getattr(client, method)(page_url(testing_release)).status_code == 405
    assert not SignOff.objects.exists()


# ---- Live updates ----


def test_live_unchanged_answers_204_after_one_query(
    client, testing_release, alice, poll_costs_one_query
):
    client.force_login(alice)
    url = live_url(client.get(page_url(testing_release)).content.decode())
    assert client.get(url, **HTMX).status_code == 204
    assert '"revision"' in poll_costs_one_query(client, url)


def test_live_shows_a_verdict_given_elsewhere(client, testing_release, alice, bob):
    client.force_login(alice)
    url = live_url(client.get(page_url(testing_release)).content.decode())
    so.signoff_give(release_id=testing_release.pk, decision="approve", comment="OK", actor=bob)
    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 of 2 approvals" in html
    assert 'id="history" class="card" aria-labelledby="history-title" hx-swap-oob="true"' in html
    assert client.get(live_url(html), **HTMX).status_code == 204


def test_live_stops_with_286_once_the_release_ended(client, testing_release, rita, vera):
    client.force_login(vera)
    url = live_url(client.get(page_url(testing_release)).content.decode())
    rs.release_move(release_id=testing_release.pk, to="cancelled", reason="Budget cut.", actor=rita)
    response = client.get(url, **HTMX)
    assert response.status_code == 286
    assert "hx-trigger" not in response.content.decode()


def test_live_refuses_person_without_role(client, testing_release, alice, charlie):
    client.force_login(alice)
    url = live_url(client.get(page_url(testing_release)).content.decode())
    client.force_login(charlie)
    assert client.get(url, **HTMX).status_code == 403


def test_live_rejects_post(client, testing_release, vera):
    client.force_login(vera)
    url = reverse("signoffs:live", args=[testing_release.pk])
    assert client.post(url).status_code == 405


# ---- Query budget ----


def pad(release: Release, rm, n: int) -> None:
    """n more test cases, defects and qa stakeholders who approved, straight into the tables."""
    qa = StakeholderRole.objects.get(slug="qa")
    TestCase.objects.bulk_create(
        TestCase(release=release, title=f"Case {i}", status="passed", note=f"note {i}")
        for i in range(n)
    )
    Defect.objects.bulk_create(
        Defect(release=release, title=f"Defect {i}", severity="minor", opened_by=rm)
        for i in range(n)
    )
    for i in range(n):
        user = UserFactory(username=f"{release.version}-qa{i}")
        give(user, "approver")
        Stakeholder.objects.create(release=release, user=user, role=qa)
        SignOff.objects.create(
            release=release,
            signer=user,
            role=qa,
            decision="approve",
            comment=f"ok {i}",
            fingerprint=release.fingerprint if i % 2 else "old",
        )
    Release.objects.filter(pk=release.pk).update(updated_at=timezone.now())


def page_queries(client, release: Release) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page_url(release))
    assert response.status_code == 200
    return len(queries)


def test_page_queries_do_not_grow_with_evidence_defects_or_signoffs(client, rita, alice, bob):
    small = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    large = advance(
        planned_release(rita, qa=alice, business_owner=bob, version="3.0.0"), rita, to="testing"
    )
    pad(small, rita, 10)
    pad(large, rita, 200)
    client.force_login(alice)
    assert page_queries(client, large) == page_queries(client, small)
    assert page_queries(client, large) <= 25
    html = client.get(page_url(large)).content.decode()
    assert "Case 199" in html and "Defect 199" in html

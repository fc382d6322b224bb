"""Release pages through the Django test client: who may see and press what, and what they get."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Profile
from apps.pages import release as views
from apps.releases import services as rs
from apps.releases.models import MoveState, PhaseMove, Release
from apps.rollouts import services as ro
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.signoffs.models import SignOff
from apps.stakeholders import services as sh
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory, ReleaseFactory, TeamFactory, UserFactory, give

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def detail_url(release: Release) -> str:
    return reverse("releases:detail", args=[release.pk])


def signoff_url(release: Release) -> str:
    return reverse("releases:signoff", args=[release.pk])


def move_url(release: Release) -> str:
    return reverse("releases:move", args=[release.pk])


def poll_url(html: str) -> str:
    """The URL the page's live part polls, as the browser would read it from the page."""
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match, "the page has no live poller"
    return match.group(1).replace("&amp;", "&")


@pytest.fixture
def testing_release(rita, alice, bob) -> Release:
    release = planned_release(rita, qa=alice, business_owner=bob)
    return advance(release, rita, to="testing")


@pytest.fixture
def bare_release(rita) -> Release:
    """A release in planning with nothing prepared, so its first gate has blockers."""
    return ReleaseFactory(owner=rita, scope="", planned_start=None, planned_end=None)


# ---- Login page ----


def test_login_page_has_labelled_fields(client):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_login_with_wrong_password_shows_the_error(client, rita):
    response = client.post(reverse("login"), {"username": "rita", "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html
    assert "Please enter a correct username and password" in html
    assert 'aria-invalid="true"' in html


def test_login_then_lands_on_the_dashboard(client, rita):
    response = client.post(reverse("login"), {"username": "rita", "password": "pw"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")


# ---- Release list ----


def test_list_redirects_anonymous_to_login(client):
    response = client.get(reverse("releases:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_list_shows_releases_with_phase_owner_and_window(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(rita)
    response = client.get(reverse("releases:list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert detail_url(release) in html
    assert "CRM" in html and "2.0.0" in html
    assert '<span class="badge phase-planning">Planning</span>' in html
    assert '<td data-label="Owner">rita</td>' in html
    assert release.planned_start.strftime("%Y") in html


def test_list_header_names_the_user_roles_and_offers_sign_out(client, rita):
    client.force_login(rita)
    html = client.get(reverse("releases:list")).content.decode()
    assert '<span class="who-name">rita</span>' in html
    assert '<span class="role-chip">Release manager</span>' in html
    assert f'action="{reverse("logout")}"' in html


def test_pages_load_htmx_from_our_own_static_files(client, vera):
    client.force_login(vera)
    html = client.get(reverse("releases:list")).content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_list_filters_by_phase(client, rita, alice, bob, vera):
    in_testing = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    planning = ReleaseFactory(owner=rita)
    client.force_login(vera)
    html = client.get(reverse("releases:list"), {"phase": "testing"}).content.decode()
    assert detail_url(in_testing) in html
    assert detail_url(planning) not in html


def test_list_refuses_person_without_role(client, charlie, rita):
    ReleaseFactory(owner=rita)
    client.force_login(charlie)
    response = client.get(reverse("releases:list"))
    assert response.status_code == 403
    assert b"You need one of these roles" in response.content


def test_list_rejects_post(client, vera):
    client.force_login(vera)
    assert client.post(reverse("releases:list")).status_code == 405


# ---- Release page ----


def test_detail_shows_every_part_of_the_release(client, testing_release, vera):
    client.force_login(vera)
    response = client.get(detail_url(testing_release))
    html = response.content.decode()
    assert response.status_code == 200
    for part in ('id="stepper"', 'id="gate"', 'id="signoffs"', 'id="waves"', 'id="uat"'):
        assert part in html
    assert 'data-phase="testing"' in html and 'aria-current="step"' in html
    assert "Gate to rollout" in html
    assert "signoff_missing" in html
    assert "Invoices: new screen. Search: faster." in html  # scope
    assert "prod-eu 100%" in html  # wave
    assert "Backup confirmed" in html  # checklist
    assert "Create an invoice" in html  # test case
    assert "moved the release to testing" in html  # activity


def test_detail_lists_blocker_codes_and_messages(client, bare_release, rita):
    client.force_login(rita)
    html = client.get(detail_url(bare_release)).content.decode()
    assert "scope_missing" in html and "Write the scope of the release." in html
    assert "window_missing" in html
    assert "rollout_plan_missing" in html


def test_blockers_read_as_sentences_with_role_labels(client, testing_release, rita):
    client.force_login(rita)
    html = client.get(detail_url(testing_release)).content.decode()
    assert "Needs 1 more business owner approval." in html
    assert "Needs 1 more QA approval." in html
    assert "approval(s)" not in html and "&#x27;qa&#x27;" not in html
    assert "<code" not in re.search(r'<ul class="blockers".*?</ul>', html, re.S).group(0)


def test_waves_still_rolling_out_show_as_progress_and_a_halted_one_as_a_blocker(
    client, rita, alice, bob
):
    release = planned_release(rita, qa=alice, business_owner=bob)
    first = release.rollout_plan.waves.get()
    ro.wave_add(
        release_id=release.pk, name="prod-eu rest", environment_id=first.environment_id, actor=rita
    )
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave_transition(wave_id=first.pk, to="deploying", actor=None)
    client.force_login(rita)

    gate = re.search(
        r'<section id="gate".*?</section>', client.get(detail_url(release)).content.decode(), re.S
    ).group(0)
    assert 'data-testid="blocker-count">Under way<' in gate
    assert gate.count('class="blocker blocker-progress" data-code="wave_not_succeeded"') == 2
    assert 'class="blocker" ' not in gate
    assert "Wave prod-eu 100% is deploying." in gate
    assert "Wave prod-eu rest has not started yet." in gate

    wave_transition(wave_id=first.pk, to="halted", actor=None, reason="Error rate high")
    gate = re.search(
        r'<section id="gate".*?</section>', client.get(detail_url(release)).content.decode(), re.S
    ).group(0)
    assert 'data-testid="blocker-count">1 blocker<' in gate
    assert 'class="blocker" data-code="wave_not_succeeded"' in gate
    assert "Wave prod-eu 100% is halted: resume it or roll back." in gate
    assert gate.count("blocker-progress") == 1


def test_detail_says_ready_when_the_gate_is_open(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(rita)
    html = client.get(detail_url(release)).content.decode()
    assert "Ready to move to preparation." in html


def test_detail_refuses_person_without_role(client, testing_release, charlie):
    client.force_login(charlie)
    assert client.get(detail_url(testing_release)).status_code == 403


def test_detail_redirects_anonymous_to_login(client, testing_release):
    response = client.get(detail_url(testing_release))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_detail_of_unknown_release_is_404(client, vera):
    client.force_login(vera)
    assert client.get(reverse("releases:detail", args=[987654])).status_code == 404


def test_detail_rejects_post(client, testing_release, vera):
    client.force_login(vera)
    assert client.post(detail_url(testing_release)).status_code == 405


def test_detail_for_htmx_is_the_live_fragment(client, testing_release, vera):
    client.force_login(vera)
    response = client.get(detail_url(testing_release), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="live"' in html
    assert 'id="gate" class="card" aria-labelledby="gate-title" hx-swap-oob="true"' in html


def test_viewer_sees_the_release_but_no_action_buttons(client, testing_release, vera):
    client.force_login(vera)
    html = client.get(detail_url(testing_release)).content.decode()
    assert "signoff_missing" in html
    assert signoff_url(testing_release) not in html
    assert move_url(testing_release) not in html
    assert 'value="approve"' not in html
    assert "Cancel this release" not in html


def test_release_manager_sees_move_and_cancel(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(rita)
    html = client.get(detail_url(release)).content.decode()
    assert f'hx-post="{move_url(release)}"' in html
    assert 'name="to" value="preparation"' in html
    assert "Move to preparation" in html
    assert 'name="to" value="cancelled"' in html


def test_move_button_is_disabled_while_blockers_remain(client, testing_release, rita):
    client.force_login(rita)
    html = client.get(detail_url(testing_release)).content.decode()
    button = re.search(r"<button[^>]*>\s*Move to rollout", html)
    assert button and "disabled" in button.group(0)


def test_approver_stakeholder_sees_the_signoff_form(client, testing_release, alice):
    client.force_login(alice)
    html = client.get(detail_url(testing_release)).content.decode()
    assert f'hx-post="{signoff_url(testing_release)}"' in html
    assert 'name="decision" value="approve"' in html
    assert 'name="decision" value="reject"' in html
    assert '<label for="signoff-comment">' in html


def test_owner_gets_no_signoff_form(client, testing_release, rita):
    client.force_login(rita)
    html = client.get(detail_url(testing_release)).content.decode()
    assert signoff_url(testing_release) not in html


def test_times_are_shown_in_the_viewer_time_zone(client, testing_release, vera):
    Profile.objects.create(user=vera, time_zone="America/New_York")
    client.force_login(vera)
    html = client.get(detail_url(testing_release)).content.decode()
    local = timezone.localtime(testing_release.planned_start, ZoneInfo("America/New_York"))
    assert local.strftime("%H:%M") in html
    assert local.tzname() in html  # EST or EDT
    assert "America/New_York" in html


def test_stale_signoff_is_marked(client, testing_release, rita, alice, vera):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    rs.release_update(release_id=testing_release.pk, scope="Invoices only.", actor=rita)
    client.force_login(vera)
    html = client.get(detail_url(testing_release)).content.decode()
    assert re.search(r'class="signoff is-stale".*?>Stale</span>', html, re.S)
    assert "0 of 2 approvals" in html


def test_expired_signoff_is_marked_and_not_counted(client, testing_release, alice, vera):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    Release.objects.filter(pk=testing_release.pk).update(signoff_expiry_days=7)
    SignOff.objects.filter(release=testing_release).update(
        created_at=timezone.now() - timedelta(days=8)
    )
    client.force_login(vera)
    html = client.get(detail_url(testing_release)).content.decode()
    assert re.search(r'class="signoff is-stale".*?>Expired</span>', html, re.S)
    assert ">Stale</span>" not in html
    assert "0 of 2 approvals" in html


def test_cancelled_release_shows_its_end_distinctly(client, rita, alice, bob, vera):
    release = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    rs.release_move(release_id=release.pk, to="cancelled", reason="Budget cut.", actor=rita)
    client.force_login(vera)
    html = client.get(detail_url(release)).content.decode()
    assert 'class="step step-ended step-cancelled"' in html
    assert re.search(r'data-phase="testing"\s+data-state="stopped"', html)
    assert re.search(r'data-phase="rollout"\s+data-state="skipped"', html)
    assert "This release was cancelled." in html
    assert "Reason: Budget cut." in html
    assert "hx-trigger" not in html  # nothing left to watch


# ---- Sign-off ----


def test_approver_signs_off_through_the_page(client, testing_release, alice):
    client.force_login(alice)
    response = client.post(
        signoff_url(testing_release), {"decision": "approve", "comment": "Checked."}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    signoff = SignOff.objects.get(release=testing_release, signer=alice)
    assert (signoff.decision, signoff.comment) == ("approve", "Checked.")
    assert html.lstrip().startswith('<div id="signoff-panel"')
    assert "You approved version 2.0.0 as QA" in html
    assert "release-changed" in response["HX-Trigger-After-Settle"]


def test_signoff_without_htmx_redirects_back_to_the_page(client, testing_release, alice):
    client.force_login(alice)
    response = client.post(signoff_url(testing_release), {"decision": "approve"})
    assert response.status_code == 302
    assert response["Location"] == detail_url(testing_release)
    assert SignOff.objects.filter(release=testing_release, signer=alice).exists()


def test_rejection_without_comment_is_refused_with_400(client, testing_release, alice):
    client.force_login(alice)
    response = client.post(signoff_url(testing_release), {"decision": "reject"}, **HTMX)
    assert response.status_code == 400
    assert "a rejection needs a comment" in response.content.decode()
    assert "HX-Trigger-After-Settle" not in response
    assert not SignOff.objects.filter(release=testing_release).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "approved"}, "decision must be one of: approve, reject."),
        ({"decision": ""}, "decision must be one of: approve, reject."),
        ({"decision": "approve", "comment": "c" * 5001}, "comment must be at most 5000"),
        ({"decision": "approve", "comment": "a\x00b"}, "comment must not contain NUL"),
        (
            {"decision": "approve", "role": "q a"},
            "role may hold only letters, digits, hyphens and underscores.",
        ),
        ({"decision": "approve", "role": "r" * 33}, "role must be at most 32 characters."),
    ],
)
def test_signoff_with_bad_input_is_400_with_the_reason(
    client, testing_release, alice, data, message
):
    client.force_login(alice)
    response = client.post(signoff_url(testing_release), data, **HTMX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "HX-Trigger-After-Settle" not in response
    assert not SignOff.objects.filter(release=testing_release).exists()


def test_changing_a_verdict_on_the_same_content_is_409(client, testing_release, alice):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(alice)
    response = client.post(
        signoff_url(testing_release), {"decision": "reject", "comment": "No."}, **HTMX
    )
    assert response.status_code == 409
    assert "already given your verdict" in response.content.decode()


def test_viewer_forged_signoff_is_refused_403(client, testing_release, vera):
    client.force_login(vera)
    response = client.post(signoff_url(testing_release), {"decision": "approve"})
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_viewer_forged_htmx_signoff_is_refused_403_with_the_reason(client, testing_release, vera):
    client.force_login(vera)
    response = client.post(signoff_url(testing_release), {"decision": "approve"}, **HTMX)
    assert response.status_code == 403
    assert "Only a stakeholder whose role the sign-off policy names" in response.content.decode()
    assert not SignOff.objects.exists()


def test_owner_forged_signoff_is_refused_403(client, testing_release, rita):
    client.force_login(rita)
    response = client.post(signoff_url(testing_release), {"decision": "approve"})
    assert response.status_code == 403
    assert not SignOff.objects.exists()


def test_person_without_role_cannot_sign_off(client, testing_release, charlie):
    client.force_login(charlie)
    assert client.post(signoff_url(testing_release), {"decision": "approve"}).status_code == 403


def test_anonymous_signoff_goes_to_login_and_back_to_the_page(client, testing_release):
    page = f"http://testserver{detail_url(testing_release)}"
    response = client.post(signoff_url(testing_release), {"decision": "approve"}, HTTP_REFERER=page)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == [page]
    assert not SignOff.objects.exists()


def test_anonymous_htmx_signoff_is_403_and_sends_the_page_to_login(client, testing_release):
    response = client.post(
        signoff_url(testing_release),
        {"decision": "approve"},
        HTTP_HX_CURRENT_URL=f"http://testserver{detail_url(testing_release)}",
        **HTMX,
    )
    assert response.status_code == 403
    assert response["HX-Redirect"].startswith(reverse("login") + "?next=")
    assert not SignOff.objects.exists()


def test_signoff_rejects_get(client, testing_release, alice):
    client.force_login(alice)
    assert client.get(signoff_url(testing_release)).status_code == 405


# ---- Phase moves ----


def test_move_refused_shows_blockers_with_409(client, testing_release, rita):
    client.force_login(rita)
    response = client.post(move_url(testing_release), {"to": "rollout"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 409
    assert html.lstrip().startswith('<div id="move-panel"')
    assert "The release cannot move to rollout now." in html
    assert "signoff_missing" in html and "test_case_open" in html
    assert not PhaseMove.objects.filter(release=testing_release).exists()


def test_move_refused_without_htmx_renders_the_page_with_409(client, testing_release, rita):
    client.force_login(rita)
    response = client.post(move_url(testing_release), {"to": "rollout"})
    assert response.status_code == 409
    assert "The release cannot move to rollout now." in response.content.decode()


def test_move_accepted_is_handed_to_a_worker(
    client, rita, alice, bob, django_capture_on_commit_callbacks
):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(rita)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(move_url(release), {"to": "preparation"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 202
    move = PhaseMove.objects.get(release=release)
    assert (move.to_phase, move.state) == ("preparation", MoveState.PENDING)
    assert len(callbacks) == 1  # the worker's task, sent once the request committed
    assert "Move to preparation" in html and "a worker is carrying it out" in html
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    release.refresh_from_db()
    assert release.phase == "planning"  # the worker moves it, not the page


def test_cancel_needs_a_reason(client, testing_release, rita):
    client.force_login(rita)
    response = client.post(move_url(testing_release), {"to": "cancelled"}, **HTMX)
    assert response.status_code == 400
    assert "Say why the release is cancelled." in response.content.decode()
    assert not PhaseMove.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to": "launched"}, "to must be one of: planning, preparation, testing"),
        ({"to": ""}, "to must be one of: planning, preparation, testing"),
        ({"to": "cancelled", "reason": "r" * 2001}, "reason must be at most 2000 characters."),
        ({"to": "cancelled", "reason": "a\x00b"}, "reason must not contain NUL characters."),
        ({"to": "cancelled", "reason": "   "}, "Say why the release is cancelled."),
    ],
)
def test_move_with_bad_input_is_400_and_requests_nothing(
    client, testing_release, rita, data, message
):
    client.force_login(rita)
    response = client.post(move_url(testing_release), data, **HTMX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PhaseMove.objects.exists()


def test_cancel_with_reason_is_requested(client, testing_release, rita):
    client.force_login(rita)
    response = client.post(
        move_url(testing_release), {"to": "cancelled", "reason": "Budget cut."}, **HTMX
    )
    assert response.status_code == 202
    assert "Cancellation requested" in response.content.decode()
    assert PhaseMove.objects.get().reason == "Budget cut."


def test_viewer_forged_move_is_refused_403(client, rita, alice, bob, vera):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(vera)
    response = client.post(move_url(release), {"to": "preparation"})
    assert response.status_code == 403
    assert not PhaseMove.objects.exists()


def test_approver_forged_move_is_refused_403(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(alice)
    response = client.post(move_url(release), {"to": "preparation"}, **HTMX)
    assert response.status_code == 403
    assert "You need one of these roles to move phase" in response.content.decode()
    assert not PhaseMove.objects.exists()


def test_move_rejects_get(client, testing_release, rita):
    client.force_login(rita)
    assert client.get(move_url(testing_release)).status_code == 405


# ---- Live updates ----


def test_live_unchanged_answers_204_after_one_query(
    client, testing_release, alice, poll_costs_one_query
):
    client.force_login(alice)
    url = poll_url(client.get(detail_url(testing_release)).content.decode())
    assert client.get(url, **HTMX).status_code == 204  # the time zone is cached by now
    assert '"revision"' in poll_costs_one_query(client, url)


def test_live_renders_the_live_part_when_the_revision_changed(client, testing_release, rita, alice):
    client.force_login(alice)
    url = poll_url(client.get(detail_url(testing_release)).content.decode())
    case = testing_release.test_cases.get()
    rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    revision = Release.objects.get(pk=testing_release.pk).revision

    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert f"rev={revision}&amp;" in poll_url_raw(html)
    assert 'id="gate" class="card" aria-labelledby="gate-title" hx-swap-oob="true"' in html
    assert "test_case_open" not in html
    assert "signoff_missing" in html
    # The fresh part polls on from the new revision and costs one query again.
    assert client.get(poll_url(html), **HTMX).status_code == 204


def poll_url_raw(html: str) -> str:
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match
    return match.group(1)


def test_live_stops_polling_with_286_after_the_final_state(client, testing_release, rita, vera):
    client.force_login(vera)
    url = poll_url(client.get(detail_url(testing_release)).content.decode())
    rs.release_move(release_id=testing_release.pk, to="cancelled", reason="Budget cut.", actor=rita)

    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 286
    assert "This release was cancelled." in html
    assert 'id="live"' in html and "hx-trigger" not in html


def test_live_renews_an_expired_pass_with_a_full_render(client, testing_release, vera, monkeypatch):
    client.force_login(vera)
    url = poll_url(client.get(detail_url(testing_release)).content.decode())
    monkeypatch.setattr(views.live_pass, "max_age", -1)
    response = client.get(url, **HTMX)
    assert response.status_code == 200  # not 204: the roles were checked again
    assert 'hx-swap-oob="true"' in response.content.decode()


def live_render(client, user, url: str) -> tuple[str, int]:
    """A poll that sees a change, as `user`: its HTML and how many queries it cost."""
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **HTMX)
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_viewers_of_one_revision_share_one_render_each_with_their_own_pass(
    client, testing_release, rita, vera
):
    other = UserFactory(username="vic")
    give(other, "viewer")
    urls = {}
    for person in (vera, other, rita):
        client.force_login(person)
        urls[person.username] = poll_url(client.get(detail_url(testing_release)).content.decode())
    case = testing_release.test_cases.get()
    rs.test_case_record(case_id=case.pk, status="passed", actor=rita)

    first, first_cost = live_render(client, vera, urls["vera"])
    second, second_cost = live_render(client, other, urls["vic"])
    assert second_cost < first_cost / 3  # served from the shared render
    mine = poll_url(second)
    assert parse_qs(urlsplit(mine).query)["pass"][0].startswith(f"{other.pk}.")
    assert re.sub(r"pass=[^&\"]+", "", first) == re.sub(r"pass=[^&\"]+", "", second)
    # The fresh part, with its holder's own pass, polls on at one query.
    client.force_login(other)
    assert client.get(mine, **HTMX).status_code == 204

    # A release manager sees buttons of their own: never a viewer's render.
    manager, manager_cost = live_render(client, rita, urls["rita"])
    assert manager_cost >= first_cost - 2
    assert "Move to rollout" in manager and "Move to rollout" not in first


def test_live_refuses_person_without_role(client, testing_release, charlie):
    client.force_login(charlie)
    url = reverse("releases:live", args=[testing_release.pk])
    response = client.get(url, {"rev": testing_release.revision}, **HTMX)
    assert response.status_code == 403
    assert "hx-trigger" not in response.content.decode()


def test_live_pass_of_another_person_does_not_skip_the_role_check(
    client, testing_release, alice, charlie
):
    client.force_login(alice)
    url = poll_url(client.get(detail_url(testing_release)).content.decode())
    client.force_login(charlie)
    assert client.get(url, **HTMX).status_code == 403


def test_live_pass_is_void_once_its_holder_signed_out(client, testing_release, alice):
    client.force_login(alice)
    url = poll_url(client.get(detail_url(testing_release)).content.decode())
    client.logout()
    response = client.get(url, **HTMX)
    assert response.status_code == 403
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_live_anonymous_htmx_is_sent_to_login(client, testing_release):
    url = reverse("releases:live", args=[testing_release.pk])
    response = client.get(url, {"rev": testing_release.revision}, **HTMX)
    assert response.status_code == 403
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_live_rejects_post(client, testing_release, vera):
    client.force_login(vera)
    url = reverse("releases:live", args=[testing_release.pk])
    assert client.post(url).status_code == 405


# ---- Query budget ----


def grow(release: Release, rm, *, people: int, waves: int, items: int) -> None:
    """Add stakeholders who sign off, more waves and more checklist items to `release`."""
    env = EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")
    signers = []
    for n in range(people):
        user = UserFactory(username=f"qa{n}")
        give(user, "approver")
        sh.stakeholder_add(release_id=release.pk, user_id=user.pk, role="qa", actor=rm)
        signers.append(user)
    for n in range(waves):
        ro.wave_add(
            release_id=release.pk,
            name=f"wave {n}",
            environment_id=env.pk,
            percentage=10 * (n + 1),
            planned_start=timezone.now() + timedelta(days=5, hours=n),
            actor=rm,
        )
    for n in range(items):
        rs.checklist_item_add(
            release_id=release.pk,
            environment_id=env.pk,
            area="servers",
            title=f"Host {n}",
            actor=rm,
        )
    rs.defect_open(release_id=release.pk, title="Typo", severity="minor", actor=rm)
    for user in signers:
        so.signoff_give(release_id=release.pk, decision="approve", comment="ok", actor=user)


def page_queries(client, release: Release) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(detail_url(release))
    assert response.status_code == 200
    return len(queries)


def test_release_page_queries_are_bounded_and_do_not_grow_with_its_content(
    client, rita, alice, bob, django_assert_max_num_queries
):
    small = advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    large = advance(
        planned_release(rita, qa=alice, business_owner=bob, version="3.0.0"), rita, to="testing"
    )
    grow(large, rita, people=6, waves=5, items=8)
    client.force_login(alice)

    with django_assert_max_num_queries(30):
        client.get(detail_url(large))
    assert page_queries(client, large) == page_queries(client, small)
    assert SignOff.objects.filter(release=large).count() == 6


# ---- Activity ----


def activity_of(html: str) -> list[str]:
    section = re.search(r'<section id="audit".*?</section>', html, re.S).group(0)
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
        for item in re.findall(r"<li>(.*?)</li>", section, re.S)
    ]


def test_check_results_are_one_line_of_the_activity_and_name_their_check(
    client, rita, alice, bob, vera
):
    from apps.rollouts import delivery
    from apps.rollouts.models import Check

    release = planned_release(rita, qa=alice, business_owner=bob)
    wave = release.rollout_plan.waves.get()
    ro.check_add(
        wave_id=wave.pk,
        name="Health endpoint",
        kind="http",
        config={"url": "https://crm.example.test/health"},
        interval_seconds=60,
        actor=rita,
    )
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    for state in ("deploying", "verifying"):
        wave_transition(wave_id=wave.pk, to=state, actor=None)
    check = Check.objects.get(wave=wave)
    for n in range(24):
        delivery.record_check_result(check_id=check.pk, ok=n != 20, value="200", detail="HTTP 200")
    client.force_login(vera)
    html = client.get(detail_url(release)).content.decode()

    entries = activity_of(html)
    assert not any("check" in e and ("passed" in e or "failed" in e) for e in entries)
    assert any("approved as QA" in e for e in entries)
    assert any("wave “prod-eu 100%” is now verifying" in e for e in entries)
    line = re.search(r'data-testid="check-results">(.*?)</p>', html, re.S).group(1)
    line = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", line)).strip()
    assert line.startswith(
        "24 check results : 23 passed, 1 failed. Latest: check “Health endpoint” passed at"
    )
    assert reverse("rollouts:console", args=[release.pk]) in html


def test_header_names_the_team_each_role_is_held_in(client):
    crm = TeamFactory(name="CRM team", slug="crm")
    erp = TeamFactory(name="ERP team", slug="erp")
    tom = UserFactory(username="tom")
    give(tom, "release_manager", team=crm)
    give(tom, "approver", team=erp)
    give(tom, "operator", tiers=("staging",))
    client.force_login(tom)
    html = client.get(reverse("releases:list")).content.decode()
    chips = re.findall(r'<span class="role-chip">([^<]*)</span>', html)
    assert chips == ["Approver · ERP team", "Operator (staging)", "Release manager · CRM team"]

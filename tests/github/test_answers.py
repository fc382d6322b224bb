"""Deciding a deployment protection request and answering GitHub with the verdict."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.github.delivery import answer_send
from apps.github.models import DeploymentProtectionRequest
from apps.github.services import protection_request_evaluate
from apps.github.sweep import github_sweep
from apps.releases import services as rs
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from tests.builders import advance

from .conftest import INSTALLATION, deliver, event, release_at

pytestmark = pytest.mark.django_db


def receive(client, github, **kwargs) -> DeploymentProtectionRequest:
    response = deliver(client, event(github, **kwargs))
    assert response.status_code == 202, response.content
    return DeploymentProtectionRequest.objects.get(pk=response.json()["id"])


def verbs(request: DeploymentProtectionRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_id=str(request.pk), verb__startswith="github.")
        .order_by("id")
        .values_list("verb", flat=True)
    )


def test_approved_once_the_wave_for_that_environment_has_started(client, github, rita, alice, bob):
    release = release_at(rita, alice, bob, "rollout")
    request = receive(client, github)
    assert protection_request_evaluate(request_id=request.pk) == "pending"
    request.refresh_from_db()
    assert [b["code"] for b in request.waiting_for] == ["wave_not_started"]

    wave = Wave.objects.get(plan__release=release)
    wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    assert protection_request_evaluate(request_id=request.pk) == "approved"
    assert answer_send(request_id=request.pk) == "sent"

    (answer,) = github.callbacks()
    assert answer["path"] == "/repos/acme/crm/actions/runs/1/deployment_protection_rule"
    assert github.tokens[answer["token"]] == INSTALLATION  # the installation's own token
    assert answer["body"]["environment_name"] == "production"
    assert answer["body"]["state"] == "approved"
    comment = answer["body"]["comment"]
    assert "CRM 2.0.0 (2.0.0)" in comment and "prod-eu 100% is deploying" in comment
    assert "alice (QA)" in comment and "bob (Business owner)" in comment
    request.refresh_from_db()
    assert (request.verdict, request.answer_state, request.response_status) == (
        "approved",
        "sent",
        204,
    )
    assert request.answered_at is not None
    assert verbs(request) == [
        "github.protection_requested",
        "github.approved",
        "github.answer_sent",
    ]


def test_deciding_and_answering_twice_acts_once(client, github, rita, alice, bob):
    release = release_at(rita, alice, bob, "rollout")
    wave = Wave.objects.get(plan__release=release)
    wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    request = receive(client, github)
    deliver(client, event(github))  # the same event delivered again
    assert protection_request_evaluate(request_id=request.pk) == "approved"
    assert protection_request_evaluate(request_id=request.pk) == "approved"
    assert answer_send(request_id=request.pk) == "sent"
    assert answer_send(request_id=request.pk) == "not due"
    assert github_sweep() == {"decided": 0, "answers": 0}
    assert len(github.callbacks()) == 1
    assert github.token_requests() == 1
    assert verbs(request).count("github.approved") == 1


def test_rejected_with_its_blockers_when_the_release_is_cancelled(client, github, rita, alice, bob):
    release = release_at(rita, alice, bob, "testing")
    request = receive(client, github)
    assert protection_request_evaluate(request_id=request.pk) == "pending"
    request.refresh_from_db()
    assert [b["code"] for b in request.waiting_for] == ["release_not_in_rollout"]

    rs.release_move(release_id=release.pk, to="cancelled", reason="Descoped.", actor=rita)
    assert github_sweep()["decided"] == 1  # the periodic sweep decides it
    assert answer_send(request_id=request.pk) == "sent"
    (answer,) = github.callbacks()
    assert answer["body"]["state"] == "rejected"
    assert "The release was cancelled: Descoped." in answer["body"]["comment"]
    request.refresh_from_db()
    assert [b["code"] for b in request.waiting_for] == ["release_ended"]
    event_ = AuditEvent.objects.get(verb="github.rejected")
    assert event_.release_id == release.pk
    assert event_.after["blockers"][0]["code"] == "release_ended"


def test_rejected_when_a_stakeholder_rejects_the_wave(client, github, rita, alice, bob):
    from apps.rollouts import services as ro
    from apps.rollouts.wave_signoffs import wave_signoff_give

    release = release_at(rita, alice, bob, "testing")
    wave = Wave.objects.get(plan__release=release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    request = receive(client, github)
    wave_signoff_give(wave_id=wave.pk, decision="reject", comment="Not this week.", actor=bob)
    assert protection_request_evaluate(request_id=request.pk) == "rejected"
    request.refresh_from_db()
    assert "rejected by bob (Business owner): Not this week." in request.comment


def test_rejected_when_no_release_names_the_commit(client, github, rita):
    request = receive(client, github, sha="a" * 40, ref="feature/x")
    assert request.release is None
    assert protection_request_evaluate(request_id=request.pk) == "rejected"
    request.refresh_from_db()
    assert [b["code"] for b in request.waiting_for] == ["release_unknown"]
    assert answer_send(request_id=request.pk) == "sent"
    assert github.callbacks()[0]["body"]["state"] == "rejected"
    assert AuditEvent.objects.filter(verb="github.rejected", release_id=None).count() == 1


def test_a_release_named_by_its_tag_matches_the_ref(client, github, rita, alice, bob):
    release = release_at(rita, alice, bob, "planning")
    rs.release_update(release_id=release.pk, build_ref="git:v2.0.0", actor=rita)
    request = receive(client, github, sha="b" * 40, ref="refs/tags/v2.0.0")
    assert request.release_id == release.pk


def test_a_failed_answer_is_retried_with_backoff_a_bounded_number_of_times(
    client, github, rita, alice, bob, settings
):
    settings.RELEASEDECK_GITHUB_ATTEMPTS = 3
    request = receive(client, github, sha="c" * 40)
    assert protection_request_evaluate(request_id=request.pk) == "rejected"
    github.callback_failures[:] = [502, 503]
    now = timezone.now()
    assert answer_send(request_id=request.pk, now=now) == "pending"
    assert answer_send(request_id=request.pk, now=now) == "not due"  # backing off
    later = now + timedelta(minutes=1)
    assert github_sweep(now=later)["answers"] == 1  # the sweep re-finds it once due
    assert answer_send(request_id=request.pk, now=later) == "pending"
    assert answer_send(request_id=request.pk, now=later + timedelta(minutes=1)) == "sent"
    request.refresh_from_db()
    assert (request.attempts, request.answer_state) == (3, "sent")
    assert verbs(request).count("github.answer_failed") == 2

    # Past the last attempt the answer counts as failed, and nothing more is sent.
    other = receive(client, github, sha="d" * 40, run=2)
    protection_request_evaluate(request_id=other.pk)
    github.callback_failures[:] = [502, 502, 502]
    start = timezone.now()
    for minutes in range(3):
        answer_send(request_id=other.pk, now=start + timedelta(minutes=minutes * 10))
    other.refresh_from_db()
    assert (other.attempts, other.answer_state, other.response_status) == (3, "failed", 502)
    assert github_sweep(now=start + timedelta(hours=1))["answers"] == 0


def test_no_token_no_answer_and_the_reason_is_kept(client, github, settings):
    request = receive(client, github, sha="e" * 40)
    protection_request_evaluate(request_id=request.pk)
    settings.RELEASEDECK_GITHUB_APP_ID = "9999"  # GitHub does not know this App
    assert answer_send(request_id=request.pk) == "pending"
    request.refresh_from_db()
    assert "Installation token: HTTP 401" in request.last_error
    assert github.callbacks() == []


def test_the_release_page_and_its_evidence_tell_of_the_answer(client, github, rita, alice, bob):
    release = release_at(rita, alice, bob, "rollout")
    wave_transition(wave_id=Wave.objects.get(plan__release=release).pk, to="deploying", actor=None)
    request = receive(client, github)
    protection_request_evaluate(request_id=request.pk)
    answer_send(request_id=request.pk)
    client.force_login(rita)
    assert client.get(f"/releases/{release.pk}/").status_code == 200
    evidence = client.get(f"/api/v1/releases/{release.pk}/evidence/").json()
    assert "github.approved" in str(evidence)  # a decision, kept with its reason


def test_answers_go_through_the_outbound_checks_and_retry_when_nothing_answers(
    client, github, settings
):
    request = receive(client, github, sha="f" * 40)
    protection_request_evaluate(request_id=request.pk)
    settings.RELEASEDECK_EGRESS_ALLOW = []  # loopback is refused as for any deploy call
    now = timezone.now()
    assert answer_send(request_id=request.pk, now=now) == "pending"
    request.refresh_from_db()
    assert request.last_error == "Installation token: the target's address is not allowed"
    assert github.recorder.received() == []  # nothing left this machine

    settings.RELEASEDECK_EGRESS_ALLOW = ["127.0.0.0/8"]
    settings.RELEASEDECK_GITHUB_API_URL = "http://127.0.0.1:9"  # nothing listens there
    assert answer_send(request_id=request.pk, now=now + timedelta(minutes=1)) == "pending"
    request.refresh_from_db()
    assert request.last_error == "Installation token: no answer from the target"
    assert request.next_attempt_at > now + timedelta(minutes=1)  # backing off

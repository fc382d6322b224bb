"""Slack-compatible chat against a fake Slack on loopback: a real HTTP server that receives the
incoming-webhook posts and the response_url updates, and signs its interaction requests as
Slack documents (v0 HMAC-SHA256 over "v0:{timestamp}:{raw body}")."""

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

import pytest

from apps.notifications.models import ChatIdentity, Notification
from apps.notifications.outbox import notifications_send, notify
from apps.releases import services as rs
from apps.releases.models import Release
from apps.signoffs import services as so
from apps.signoffs.models import SignOff
from tests.builders import advance, planned_release
from tests.db_state import db_state
from tests.loopback import loopback_server
from tests.rollouts.test_engine_steps import waves_of

pytestmark = pytest.mark.django_db

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
URL = "/api/v1/chat/slack/interactions/"


@pytest.fixture
def fake_slack(settings):
    with loopback_server(lambda method, path, headers, body: (200, b"ok")) as (base, recorder):
        settings.RELEASEDECK_SLACK_WEBHOOK_URL = f"{base}/services/T0/B0/hook"
        settings.RELEASEDECK_SLACK_SIGNING_SECRET = SECRET
        yield base, recorder


def sign(body: str, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack sends with an interaction request."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp),
        "HTTP_X_SLACK_SIGNATURE": f"v0={digest}",
    }


def chat_refusals() -> list:
    from apps.audit.models import AuditEvent

    return list(AuditEvent.objects.filter(verb="signoff.chat_refused").order_by("id"))


def deliver_chat() -> list[str]:
    ids = list(
        Notification.objects.filter(channel="slack", state="pending").values_list("pk", flat=True)
    )
    return list(notifications_send(notification_ids=ids).values())


def posted(recorder, path_part: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in recorder.received("POST") if path_part in r["path"]]


@pytest.fixture
def testing_release(rita, alice, bob) -> Release:
    return advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")


@pytest.fixture
def alice_on_slack(alice) -> ChatIdentity:
    return ChatIdentity.objects.create(user=alice, provider="slack", external_user_id="U0ALICE")


def press(
    client,
    base: str,
    message: dict[str, Any],
    action: str,
    *,
    user: str = "U0ALICE",
    comment: str | None = None,
    timestamp: int | None = None,
):
    """Press a button of `message` as Slack's user `user`: the signed request Slack sends."""
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == action]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0"},
        "team": {"id": "T0"},
        "actions": [{**button, "block_id": actions["block_id"], "action_ts": "1.2"}],
        "response_url": f"{base}/actions/T0/1/response",
        "message": message,
        "state": {
            "values": {"comment": {"comment": {"type": "plain_text_input", "value": comment}}}
        },
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    headers = sign(body, int(time.time()) if timestamp is None else timestamp)
    return (
        body,
        headers,
        client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers),
    )


@pytest.fixture
def request_message(fake_slack, testing_release) -> dict[str, Any]:
    """The sign-off request as the incoming webhook received it."""
    assert deliver_chat() == ["sent"]
    (message,) = posted(fake_slack[1], "/services/")
    return message


# ---- What is posted ----


def test_a_sign_off_request_posts_an_interactive_message(fake_slack, request_message):
    assert request_message["text"] == "Sign-off requested: CRM 2.0.0 (Business owner and QA)"
    kinds = [block["type"] for block in request_message["blocks"]]
    assert kinds == ["section", "input", "actions"]
    (actions,) = [b for b in request_message["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["approve", "reject", "open"]
    assert actions["elements"][0]["style"] == "primary"
    assert "/sign/" in actions["elements"][2]["url"]
    row = Notification.objects.get(channel="slack")
    assert row.recipient == "SLACK_WEBHOOK"  # the webhook's URL is read from the settings


def test_a_wave_halt_posts_a_message_with_a_link_to_the_console(fake_slack, testing_release):
    Notification.objects.all().delete()
    (wave,) = waves_of(testing_release)
    notify(
        release=testing_release,
        event="wave.halted",
        wave=wave,
        wave_state="halted",
        text="Check health failed 3 times.",
    )
    assert deliver_chat() == ["sent"]
    (message,) = posted(fake_slack[1], "/services/")
    assert message["text"] == "Wave prod-eu 100% (prod-eu) of CRM 2.0.0 halted"
    assert "Check health failed 3 times." in message["blocks"][0]["text"]["text"]
    assert message["blocks"][1]["elements"][0]["url"].endswith("/console/")


def test_without_a_webhook_nothing_is_posted(settings, testing_release):
    assert not Notification.objects.filter(channel="slack").exists()


# ---- Pressing a button ----


def test_approve_in_slack_signs_off_as_the_linked_person_and_updates_the_message(
    client,
    fake_slack,
    request_message,
    testing_release,
    alice,
    alice_on_slack,
    django_capture_on_commit_callbacks,
):
    base, recorder = fake_slack
    with django_capture_on_commit_callbacks() as callbacks:
        _, _, response = press(client, base, request_message, "approve", comment="Looks right.")
    assert response.status_code == 200
    assert response.json()["text"].startswith("alice approved as QA on ")
    signoff = SignOff.objects.get()
    assert (signoff.signer, signoff.decision, signoff.role.slug) == (alice, "approve", "qa")
    assert signoff.fingerprint == testing_release.fingerprint
    assert signoff.comment == "Looks right."
    # The update goes out after the commit, through the outbox.
    assert callbacks and not posted(recorder, "/actions/")
    assert deliver_chat() == ["sent"]
    (update,) = posted(recorder, "/actions/")
    assert update["replace_original"] is True
    # The outcome is written under the message; the buttons stay for the other approvers.
    assert [b["type"] for b in update["blocks"]] == ["section", "input", "actions", "context"]
    assert "alice approved as QA" in update["blocks"][3]["elements"][0]["text"]
    assert update["text"] == request_message["text"]


def test_a_replayed_request_is_refused_and_changes_nothing(
    client, fake_slack, request_message, alice_on_slack
):
    body, headers, first = press(client, fake_slack[0], request_message, "approve")
    assert first.status_code == 200
    before = db_state()
    again = client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    assert again.status_code == 401
    assert "received before" in again.json()["detail"]
    assert db_state() == before  # refused before it is read: no audit event either


def test_a_tampered_request_is_refused_and_changes_nothing(
    client, fake_slack, request_message, alice_on_slack
):
    body, headers, _ = press(client, fake_slack[0], request_message, "approve", user="U0NOBODY")
    before = db_state()
    forged = body.replace("U0NOBODY", "U0ALICE")
    response = client.post(URL, forged, content_type="application/x-www-form-urlencoded", **headers)
    assert response.status_code == 401
    assert "does not match" in response.json()["detail"]
    assert db_state() == before
    assert not SignOff.objects.exists()


def test_a_request_older_than_five_minutes_is_refused(
    client, fake_slack, request_message, alice_on_slack
):
    before = db_state()
    _, _, response = press(
        client, fake_slack[0], request_message, "approve", timestamp=int(time.time()) - 301
    )
    assert response.status_code == 401
    assert "five minutes" in response.json()["detail"]
    assert db_state() == before


def test_a_request_signed_with_another_secret_is_refused(client, fake_slack, request_message):
    body = urllib.parse.urlencode({"payload": "{}"})
    headers = sign(body, int(time.time()), secret="not-ours")
    response = client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    assert response.status_code == 401


def test_a_stale_button_answers_why_and_changes_nothing(
    client, fake_slack, request_message, testing_release, rita, alice_on_slack
):
    rs.release_update(release_id=testing_release.pk, actor=rita, scope="Invoices only.")
    Notification.objects.all().delete()
    _, _, response = press(client, fake_slack[0], request_message, "approve")
    assert response.status_code == 200
    assert "changed after this message was sent" in response.json()["text"]
    assert not SignOff.objects.exists()
    (refused,) = chat_refusals()
    assert refused.after["code"] == "stale" and refused.actor.username == "alice"
    assert deliver_chat() == ["sent"]
    (answer,) = posted(fake_slack[1], "/actions/")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False


def test_an_already_decided_request_answers_so(
    client, fake_slack, request_message, testing_release, alice, alice_on_slack
):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    _, _, response = press(client, fake_slack[0], request_message, "reject", comment="No")
    assert "already decided: you approved as QA" in response.json()["text"]
    assert SignOff.objects.get().decision == "approve"


def test_an_unlinked_slack_user_changes_nothing(client, fake_slack, request_message, alice):
    # Same display name, no explicit link: it is not alice.
    _, _, response = press(client, fake_slack[0], request_message, "approve", user="U0OTHER")
    assert "not linked to a ReleaseDeck person" in response.json()["text"]
    assert not SignOff.objects.exists()
    (refused,) = chat_refusals()
    assert refused.actor is None
    assert refused.after == {"code": "not_linked", "decision": "approve", "slack_user": "U0OTHER"}


def test_the_webs_rules_apply_in_chat(client, fake_slack, request_message, rita):
    ChatIdentity.objects.create(user=rita, provider="slack", external_user_id="U0RITA")
    _, _, response = press(client, fake_slack[0], request_message, "approve", user="U0RITA")
    assert "Not recorded: You own or created this release" in response.json()["text"]
    assert not SignOff.objects.exists()
    assert [e.after["code"] for e in chat_refusals()] == ["refused"]


def test_a_rejection_from_chat_needs_the_comment_box(
    client, fake_slack, request_message, alice, alice_on_slack
):
    _, _, response = press(client, fake_slack[0], request_message, "reject")
    assert "Say why you reject" in response.json()["text"]
    assert not SignOff.objects.exists()
    _, _, response = press(client, fake_slack[0], request_message, "reject", comment="Totals.")
    assert SignOff.objects.get().decision == "reject"


def test_a_link_button_needs_no_answer(client, fake_slack, request_message, alice_on_slack):
    _, _, response = press(client, fake_slack[0], request_message, "open")
    assert response.status_code == 200 and response.json() == {"text": ""}
    assert not Notification.objects.filter(event="chat.answer").exists()


def test_a_signed_request_that_is_not_an_interaction_is_400(client, fake_slack):
    body = "payload=not-json"
    response = client.post(
        URL, body, content_type="application/x-www-form-urlencoded", **sign(body, int(time.time()))
    )
    assert response.status_code == 400


def test_the_endpoint_takes_only_post(client, fake_slack):
    assert client.get(URL).status_code == 405


def test_a_waves_own_sign_off_is_given_from_its_message(client, fake_slack, rita, alice, bob):
    from django.utils import timezone

    from apps.rollouts import services as ro
    from apps.rollouts.models import Wave
    from apps.rollouts.runner import wave_step

    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    (wave,) = waves_of(release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    Wave.objects.filter(pk=wave.pk).update(next_step_at=timezone.now())
    Notification.objects.all().delete()
    assert wave_step(wave_id=wave.pk, now=timezone.now()) == "waiting"
    assert "sent" in deliver_chat()
    (message,) = [m for m in posted(fake_slack[1], "/services/") if "wave" in m["text"]]
    assert message["text"] == "Sign-off requested: wave prod-eu 100% of CRM 2.0.0 (Business owner)"
    ChatIdentity.objects.create(user=bob, provider="slack", external_user_id="U0BOB")
    _, _, response = press(client, fake_slack[0], message, "approve", user="U0BOB")
    assert response.json()["text"].startswith("bob approved as Business owner")
    signoff = SignOff.objects.get(wave=wave)
    assert (signoff.signer, signoff.decision) == (bob, "approve")


def test_only_an_administrator_links_a_chat_account_and_it_is_audited(root, rita, alice):
    from apps.audit.models import AuditEvent
    from apps.core.errors import NotAllowed
    from apps.notifications.services import chat_identity_remove, chat_identity_set

    with pytest.raises(NotAllowed):
        chat_identity_set(user=alice, provider="slack", external_user_id="U0A", actor=rita)
    identity = chat_identity_set(user=alice, provider="slack", external_user_id="U0A", actor=root)
    moved = chat_identity_set(user=alice, provider="slack", external_user_id="U0B", actor=root)
    assert moved.pk == identity.pk and moved.external_user_id == "U0B"
    chat_identity_remove(identity_id=identity.pk, actor=root)
    assert not ChatIdentity.objects.exists()
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="chat_identity.").values_list("verb", flat=True)
    )
    assert verbs == ["chat_identity.set", "chat_identity.set", "chat_identity.removed"]


def test_the_next_approver_uses_the_same_message(
    client, fake_slack, request_message, bob, alice_on_slack
):
    base, recorder = fake_slack
    press(client, base, request_message, "approve")
    deliver_chat()
    (updated,) = posted(recorder, "/actions/")
    ChatIdentity.objects.create(user=bob, provider="slack", external_user_id="U0BOB")
    _, _, response = press(client, base, updated, "approve", user="U0BOB")
    assert response.json()["text"].startswith("bob approved as Business owner")
    assert SignOff.objects.count() == 2


def test_a_chat_account_linked_to_someone_else_is_refused_not_a_server_error(root, alice, bob):
    from apps.core.errors import ServiceError
    from apps.notifications.services import chat_identity_set
    from tests.db_state import db_state

    chat_identity_set(user=alice, provider="slack", external_user_id="U0A", actor=root)
    before = db_state()
    with pytest.raises(ServiceError, match="linked to alice") as refused:
        chat_identity_set(user=bob, provider="slack", external_user_id="U0A", actor=root)
    assert refused.value.field == "external_user_id"
    assert db_state() == before


def test_the_admin_moves_a_chat_link_to_another_person(client, root, alice, bob):
    from django.urls import reverse

    from apps.audit.models import AuditEvent
    from apps.notifications.services import chat_identity_set

    identity = chat_identity_set(user=alice, provider="slack", external_user_id="U0A", actor=root)
    client.force_login(root)
    response = client.post(
        reverse("admin:notifications_chatidentity_change", args=[identity.pk]),
        {"user": bob.pk, "provider": "slack", "external_user_id": "U0A"},
    )
    assert response.status_code == 302
    (moved,) = ChatIdentity.objects.all()
    assert (moved.user, moved.external_user_id) == (bob, "U0A")
    verbs = list(
        AuditEvent.objects.filter(verb__startswith="chat_identity.")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == ["chat_identity.set", "chat_identity.removed", "chat_identity.set"]
    # Another person's account: the form says so and nothing changes.
    other = chat_identity_set(user=alice, provider="slack", external_user_id="U0B", actor=root)
    refused = client.post(
        reverse("admin:notifications_chatidentity_change", args=[other.pk]),
        {"user": bob.pk, "provider": "slack", "external_user_id": "U0B"},
    )
    assert refused.status_code == 200
    assert ChatIdentity.objects.get(pk=other.pk).user == alice

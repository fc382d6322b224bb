"""Notifications: rows written with the change that causes them, delivered after commit by
e-mail (Django's mail backend) and to outbound webhooks (signed JSON on a loopback server)."""

import json
import socket
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connections, transaction
from django.utils import timezone

from apps.core import signing
from apps.notifications.models import Notification, OutboundWebhook
from apps.notifications.outbox import (
    MAX_ATTEMPTS,
    notification_send,
    notifications_send,
    notifications_tick,
    notify,
)
from apps.releases.models import Release
from apps.releases.services import release_move
from apps.rollouts import services as ro
from apps.rollouts.operations import wave_operate
from apps.rollouts.rollbacks import roll_back_release
from tests.builders import advance
from tests.factories import ReleaseFactory
from tests.loopback import loopback_server
from tests.rollouts.test_engine_steps import run_engine, waves_of

pytestmark = pytest.mark.django_db


def rows(event: str, channel: str = "email") -> list[Notification]:
    return list(Notification.objects.filter(event=event, channel=channel).order_by("recipient"))


def deliver_all(now=None) -> list[str]:
    return [
        notification_send(notification_id=pk, now=now)
        for pk in Notification.objects.filter(state="pending").values_list("pk", flat=True)
    ]


def test_phase_move_writes_one_email_per_stakeholder_sent_after_commit(
    release, rita, django_capture_on_commit_callbacks, published
):
    with django_capture_on_commit_callbacks(execute=True):
        release_move(release_id=release.pk, to="preparation", actor=rita)
        assert published == []  # nothing leaves before the move commits
    moved = rows("release.moved")
    assert [n.recipient for n in moved] == [
        "alice@example.test",
        "bob@example.test",
        "vera@example.test",
    ]
    # One task carries the change's e-mails, not one task per person.
    assert published == [("apps.notifications.tasks.send_notifications", ([n.pk for n in moved],))]
    assert moved[0].subject == "[ReleaseDeck] CRM 2.0.0: moved to preparation"

    assert deliver_all() == ["sent"] * 3
    assert sorted(m.to[0] for m in mail.outbox) == [n.recipient for n in moved]
    assert mail.outbox[0].subject == "[ReleaseDeck] CRM 2.0.0: moved to preparation"
    assert f"/releases/{release.pk}/" in mail.outbox[0].body
    assert all(n.state == "sent" and n.sent_at for n in Notification.objects.all())


def test_entering_testing_asks_the_policy_roles_for_their_signoff(release, rita):
    advance(release, rita, to="testing")
    requested = rows("signoff.requested")
    assert [n.recipient for n in requested] == ["alice@example.test", "bob@example.test"]
    assert requested[0].subject == "[ReleaseDeck] CRM 2.0.0: your sign-off is requested"
    deliver_all()
    assert {m.to[0] for m in mail.outbox if "sign-off" in m.subject} == {
        "alice@example.test",
        "bob@example.test",
    }


@pytest.fixture
def rolling(release, rita, alice, bob):
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    Notification.objects.all().delete()
    return release


def test_wave_start_and_rollback_notify_the_stakeholders(rolling, oscar):
    run_engine(rolling, timezone.now())
    (wave,) = waves_of(rolling)
    assert wave.state == "succeeded"
    started = rows("wave.started")
    assert [n.recipient for n in started] == [
        "alice@example.test",
        "bob@example.test",
        "vera@example.test",
    ]
    assert started[0].subject == "[ReleaseDeck] CRM 2.0.0: wave prod-eu 100% started"
    assert started[0].payload["wave"]["name"] == "prod-eu 100%"
    assert started[0].payload["wave"]["state"] == "deploying"

    wave_operate(wave_id=wave.pk, action="rollback", actor=oscar, reason="Wrong totals")
    rolled = rows("wave.rolled_back")
    assert len(rolled) == 3
    assert rolled[0].payload["wave"]["state"] == "rolled_back"
    assert "Rollback asked by oscar: Wrong totals" in rolled[0].body


def test_halted_wave_notifies_with_the_reason(release, rita, alice, bob):
    (wave,) = waves_of(release)
    ro.wave_update(wave_id=wave.pk, actor=rita, deployer="webhook", failure_policy="rollback")
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    Notification.objects.all().delete()
    run_engine(release, timezone.now())  # prod-eu has no deploy URL: the wave halts
    halted = rows("wave.halted")
    assert [n.recipient for n in halted] == [
        "alice@example.test",
        "bob@example.test",
        "vera@example.test",
    ]
    assert halted[0].payload["wave"]["state"] == "halted"
    assert "has no deploy URL" in halted[0].body


def test_release_rolled_back_notifies_with_its_current_phase(release, rita, alice, bob):
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    Notification.objects.all().delete()
    with transaction.atomic():
        locked = Release.objects.select_for_update().get(pk=release.pk)
        roll_back_release(locked, timezone.now(), reason="Checks failed", automatic=True)
    notes = rows("release.rolled_back")
    assert len(notes) == 3
    assert notes[0].payload["release"]["phase"] == "rolled_back"
    assert notes[0].subject == "[ReleaseDeck] CRM 2.0.0: rolled back"
    assert notes[0].body.startswith("Checks failed")


# Outbound webhooks


@pytest.fixture
def receiver():
    state = {"status": 200}
    with loopback_server(lambda *r: (state["status"], {"ok": True})) as (url, received):
        received.state = state
        hook = OutboundWebhook.objects.create(name="chat bot", url=f"{url}/hook", secret="s3cr3t")
        yield hook, received


def test_webhook_gets_signed_json_of_the_event(release, rita, receiver):
    hook, received = receiver
    release_move(release_id=release.pk, to="preparation", actor=rita)
    (row,) = rows("release.moved", "webhook")
    assert (row.recipient, row.webhook) == (hook.url, hook)
    assert notification_send(notification_id=row.pk) == "sent"

    (request,) = received.received("POST")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert signing.verify(
        request["body"],
        "s3cr3t",
        headers[signing.TIMESTAMP_HEADER.lower()],
        headers[signing.SIGNATURE_HEADER.lower()],
    )
    assert not signing.verify(
        request["body"],
        "guess",
        headers[signing.TIMESTAMP_HEADER.lower()],
        headers[signing.SIGNATURE_HEADER.lower()],
    )
    assert headers["idempotency-key"] == str(row.key)
    payload = json.loads(request["body"])
    assert payload["event"] == "release.moved"
    assert payload["release"] == {
        "id": release.pk,
        "name": "CRM 2.0.0",
        "version": "2.0.0",
        "phase": "preparation",
    }


def test_inactive_webhooks_get_nothing(release, rita, receiver):
    hook, _ = receiver
    OutboundWebhook.objects.filter(pk=hook.pk).update(active=False)
    release_move(release_id=release.pk, to="preparation", actor=rita)
    assert rows("release.moved", "webhook") == []


def test_failing_webhook_is_retried_with_backoff_then_given_up(release, rita, receiver):
    hook, received = receiver
    received.state["status"] = 500
    release_move(release_id=release.pk, to="preparation", actor=rita)
    (row,) = rows("release.moved", "webhook")
    now = timezone.now()
    waits = []
    for _ in range(MAX_ATTEMPTS):
        assert notification_send(notification_id=row.pk, now=now) in ("pending", "failed")
        row.refresh_from_db()
        assert notification_send(notification_id=row.pk, now=now) in ("not due", "not pending")
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    row.refresh_from_db()
    assert (row.state, row.attempts, row.last_error) == ("failed", MAX_ATTEMPTS, "HTTP 500")
    assert waits[:4] == [timedelta(seconds=s) for s in (10, 20, 40, 80)]
    attempts = received.received("POST")
    assert len(attempts) == MAX_ATTEMPTS
    # One key for every attempt of the row, so a receiver can drop the repeats.
    assert {r["headers"]["Idempotency-Key"] for r in attempts} == {str(row.key)}


def test_webhook_that_recovers_is_delivered_on_retry(release, rita, receiver):
    hook, received = receiver
    received.state["status"] = 503
    release_move(release_id=release.pk, to="preparation", actor=rita)
    (row,) = rows("release.moved", "webhook")
    now = timezone.now()
    assert notification_send(notification_id=row.pk, now=now) == "pending"
    received.state["status"] = 204
    assert notification_send(notification_id=row.pk, now=now + timedelta(seconds=10)) == "sent"


def test_failing_webhook_blocks_neither_email_nor_the_rollout(rolling, closed_hook):
    run_engine(rolling, timezone.now())
    assert waves_of(rolling)[0].state == "succeeded"
    assert deliver_all().count("sent") == 3  # the three e-mails
    hook_rows = Notification.objects.filter(channel="webhook")
    assert hook_rows.count() == 1
    assert hook_rows.get().state == "pending"
    assert hook_rows.get().last_error == "no answer from the target"
    assert len(mail.outbox) == 3


@pytest.fixture
def closed_hook(db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return OutboundWebhook.objects.create(
        name="dead bot", url=f"http://127.0.0.1:{port}/hook", secret="x"
    )


# The sweep


def test_tick_refinds_due_pending_notifications_only(
    release, rita, receiver, django_capture_on_commit_callbacks, published
):
    release_move(release_id=release.pk, to="preparation", actor=rita)  # its enqueues are lost
    pending = Notification.objects.filter(state="pending")
    assert pending.count() == 4
    first = pending.filter(channel="email").first()
    notification_send(notification_id=first.pk)
    later = pending.filter(channel="webhook").get()
    Notification.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_tick() == 2
    emails = sorted(pending.filter(channel="email").values_list("pk", flat=True))
    assert published == [("apps.notifications.tasks.send_notifications", (emails,))]
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_tick(now=timezone.now() + timedelta(minutes=6)) == 3


def test_nobody_to_tell_writes_nothing(rita):
    assert notify(release=ReleaseFactory(owner=rita), event="release.moved") == []
    assert not Notification.objects.exists()


# Sending in batches


def test_each_webhook_gets_a_send_task_of_its_own_beside_the_emails(
    release, rita, receiver, django_capture_on_commit_callbacks, published
):
    hook, _ = receiver
    other = OutboundWebhook.objects.create(name="dashboard", url=hook.url + "2", secret="x")
    with django_capture_on_commit_callbacks(execute=True):
        release_move(release_id=release.pk, to="preparation", actor=rita)
    moved = Notification.objects.filter(event="release.moved")
    emails = sorted(moved.filter(channel="email").values_list("pk", flat=True))
    assert len(emails) == 3
    assert sorted(args for _, args in published) == sorted(
        [(emails,), ([moved.get(webhook=hook).pk],), ([moved.get(webhook=other).pk],)]
    )


@pytest.mark.django_db(transaction=True)
def test_a_batch_send_skips_rows_another_worker_holds(rita):
    release = ReleaseFactory(owner=rita)
    rows = [
        Notification.objects.create(
            event="release.moved",
            release=release,
            channel="email",
            recipient=f"{name}@example.test",
            subject="s",
            body="b",
            next_attempt_at=timezone.now(),
        )
        for name in ("ann", "ben", "cat")
    ]
    ids = [row.pk for row in rows]
    holding, release_it = threading.Event(), threading.Event()

    def hold_first() -> None:
        try:
            with transaction.atomic():
                Notification.objects.select_for_update().get(pk=ids[0])
                holding.set()
                release_it.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_first)
    holder.start()
    try:
        assert holding.wait(5)
        outcome = notifications_send(notification_ids=ids)
    finally:
        release_it.set()
        holder.join(10)
    assert outcome == {ids[0]: "not pending", ids[1]: "sent", ids[2]: "sent"}
    assert Notification.objects.get(pk=ids[0]).attempts == 0  # left for whoever holds it
    assert sorted(m.to[0] for m in mail.outbox) == ["ben@example.test", "cat@example.test"]
    assert notifications_send(notification_ids=ids)[ids[0]] == "sent"

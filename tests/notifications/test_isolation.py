"""One failing channel fails only its own rows: a mail backend that cannot even be built
leaves every webhook of the same change to go out, and its e-mails retry with backoff."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.notifications.models import Notification, OutboundWebhook
from apps.notifications.outbox import notifications_send, notifications_tick
from apps.notifications.tasks import send_notifications
from apps.releases.services import release_move
from tests.loopback import loopback_server

pytestmark = pytest.mark.django_db

HOOKS = 100


@pytest.fixture
def hundred_hooks():
    with loopback_server(lambda *r: (200, {"ok": True})) as (url, received):
        OutboundWebhook.objects.bulk_create(
            OutboundWebhook(name=f"bot {n}", url=f"{url}/hook/{n}", secret=f"s{n}")
            for n in range(HOOKS)
        )
        yield received


@pytest.fixture
def broken_mail(settings):
    """What production had: the file backend named, and no EMAIL_FILE_PATH."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = None
    return settings


def test_broken_mail_backend_leaves_every_webhook_of_the_change_to_go_out(
    release, rita, hundred_hooks, broken_mail, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        release_move(release_id=release.pk, to="preparation", actor=rita)
    assert Notification.objects.filter(channel="webhook").count() == HOOKS
    started = timezone.now()
    for task, args in published:  # what the worker would run, task by task
        assert task == "apps.notifications.tasks.send_notifications"
        send_notifications(*args)

    hooks = Notification.objects.filter(channel="webhook")
    assert set(hooks.values_list("state", flat=True)) == {"sent"}
    paths = sorted(r["path"] for r in hundred_hooks.received("POST"))
    assert paths == sorted(f"/hook/{n}" for n in range(HOOKS))  # each exactly once

    emails = list(Notification.objects.filter(channel="email"))
    assert len(emails) == 3
    for row in emails:
        assert (row.state, row.attempts) == ("pending", 1)
        assert row.last_error.startswith("TypeError: ")
        assert started + timedelta(seconds=10) <= row.next_attempt_at
        assert row.next_attempt_at <= timezone.now() + timedelta(seconds=10)

    # Once the backend is fixed, the sweep finds the e-mails when their retry is due.
    broken_mail.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    published.clear()
    due = timezone.now() + timedelta(seconds=11)
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_tick(now=due) == 3
    for _, args in published:
        notifications_send(notification_ids=list(args[0]), now=due)
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    assert len(mail.outbox) == 3


def test_one_batch_mixing_channels_sends_what_it_can(release, rita, hundred_hooks, broken_mail):
    release_move(release_id=release.pk, to="preparation", actor=rita)
    ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
    outcome = notifications_send(notification_ids=ids)
    states = {pk: Notification.objects.get(pk=pk).channel for pk in ids}
    assert {pk: s for pk, s in outcome.items() if states[pk] == "email"} == dict.fromkeys(
        [pk for pk in ids if states[pk] == "email"], "pending"
    )
    assert [s for pk, s in outcome.items() if states[pk] == "webhook"] == ["sent"] * HOOKS


def test_a_webhook_switched_off_after_the_change_gets_nothing(release, rita):
    with loopback_server(lambda *r: (200, {})) as (url, received):
        hook = OutboundWebhook.objects.create(name="bot", url=f"{url}/hook", secret="s")
        release_move(release_id=release.pk, to="preparation", actor=rita)
        OutboundWebhook.objects.filter(pk=hook.pk).update(active=False)
        row = Notification.objects.get(channel="webhook")
        assert notifications_send(notification_ids=[row.pk]) == {row.pk: "failed"}
        assert received.received() == []
    row.refresh_from_db()
    assert row.last_error == "Not sent: the webhook is inactive."

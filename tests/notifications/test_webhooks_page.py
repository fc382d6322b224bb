"""The notification webhooks page: release managers and administrators add, switch, re-key and
remove receivers of release events and see how their deliveries went; nobody else gets in."""

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.notifications.models import Notification, OutboundWebhook

pytestmark = pytest.mark.django_db

PAGE = "/notifications/webhooks/"
SECRET = "a-long-shared-secret-0123"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def hook(db):
    return OutboundWebhook.objects.create(
        name="Release chat", url="https://chat.example.test/hook", secret=SECRET
    )


def as_user(client, user):
    client.force_login(user)
    return client


def delivery(hook, state: str, error: str = "") -> Notification:
    return Notification.objects.create(
        event="release.moved",
        channel="webhook",
        recipient=hook.url,
        webhook=hook,
        subject="s",
        body="b",
        state=state,
        last_error=error,
        sent_at=timezone.now() if state == "sent" else None,
    )


def test_the_page_lists_webhooks_with_how_their_deliveries_went(client, rita, hook):
    delivery(hook, "sent")
    delivery(hook, "sent")
    delivery(hook, "pending", "HTTP 503")
    delivery(hook, "failed", "no answer from the target")
    response = as_user(client, rita).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Release chat" in html and "https://chat.example.test/hook" in html
    assert "2 sent · <strong>1 retrying</strong> · " in html
    assert "1 failed" in html
    assert "Last error: no answer from the target" in html or "Last error: HTTP 503" in html
    assert SECRET not in html
    assert f'href="{PAGE}"' in html  # the footer leads here


def test_the_page_costs_the_same_queries_for_many_webhooks(
    client, rita, django_assert_max_num_queries
):
    as_user(client, rita)
    client.get(PAGE)  # session and roles warmed
    for n in range(20):
        hook = OutboundWebhook.objects.create(
            name=f"bot {n}", url=f"https://b{n}.test/", secret=SECRET
        )
        delivery(hook, "sent")
    with django_assert_max_num_queries(6):
        assert client.get(PAGE).status_code == 200


def test_an_administrator_may_use_the_page(client, root, hook):
    assert as_user(client, root).get(PAGE).status_code == 200


@pytest.mark.parametrize("persona", ["alice", "oscar", "vera", "charlie"])
def test_everyone_else_is_refused_and_not_shown_the_way(client, request, persona, hook):
    as_user(client, request.getfixturevalue(persona))
    assert client.get(PAGE).status_code == 403
    for url, data in (
        (PAGE, {"name": "mine", "url": "https://evil.example.test/", "secret": SECRET}),
        (f"{PAGE}{hook.pk}/switch/", {"active": "off"}),
        (f"{PAGE}{hook.pk}/secret/", {"secret": "x" * 20}),
        (f"{PAGE}{hook.pk}/delete/", {}),
    ):
        assert client.post(url, data).status_code == 403, url
    hook.refresh_from_db()
    assert (hook.active, hook.secret, OutboundWebhook.objects.count()) == (True, SECRET, 1)
    assert f'href="{PAGE}"' not in client.get("/releases/").content.decode()


def test_anonymous_is_sent_to_sign_in(client, hook):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_wrong_methods_are_405(client, rita, hook):
    as_user(client, rita)
    assert client.put(PAGE).status_code == 405
    for action in ("switch", "secret", "delete"):
        assert client.get(f"{PAGE}{hook.pk}/{action}/").status_code == 405


def test_adding_a_webhook_with_its_secret(client, rita):
    as_user(client, rita)
    body = {"name": "CAB board", "url": "https://cab.example.test/in", "secret": SECRET}
    response = client.post(PAGE, body, **HTMX)
    assert response.status_code == 201
    html = response.content.decode()
    assert "Webhook “CAB board” added." in html
    assert 'id="webhooks-board"' in html and "<html" not in html  # the board alone
    assert SECRET not in html
    hook = OutboundWebhook.objects.get()
    assert (hook.name, hook.url, hook.secret, hook.active) == (
        "CAB board",
        "https://cab.example.test/in",
        SECRET,
        True,
    )
    assert AuditEvent.objects.filter(verb="webhook.created", actor_label="rita").exists()
    # Without htmx: back to the page.
    other = {"name": "Bot", "url": "https://bot.example.test/", "secret": SECRET}
    response = client.post(PAGE, other)
    assert (response.status_code, response["Location"]) == (302, PAGE)


def test_a_secret_left_empty_is_made_up_and_shown_once(client, rita):
    as_user(client, rita)
    response = client.post(PAGE, {"name": "Bot", "url": "https://bot.example.test/", "secret": ""})
    assert response.status_code == 201
    secret = OutboundWebhook.objects.get().secret
    assert len(secret) >= 32
    assert f'value="{secret}"' in response.content.decode()
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    assert secret not in client.get(PAGE).content.decode()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.example.test/", "url must be an http(s) URL."),
        ("http://10.0.0.7/hook", "loopback, private or link-local address"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason(client, rita, url, message):
    as_user(client, rita)
    response = client.post(PAGE, {"name": "Bot", "url": url, "secret": SECRET}, **HTMX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not OutboundWebhook.objects.exists()


def test_a_short_secret_is_refused(client, rita):
    as_user(client, rita)
    response = client.post(PAGE, {"name": "Bot", "url": "https://b.test/", "secret": "short"})
    assert response.status_code == 400
    assert "secret must be 16 to 128 characters." in response.content.decode()
    assert not OutboundWebhook.objects.exists()


def test_a_secret_with_surrounding_spaces_is_refused(client, rita):
    as_user(client, rita)
    body = {"name": "Bot", "url": "https://b.test/", "secret": f" {SECRET} "}
    response = client.post(PAGE, body)
    assert response.status_code == 400
    assert "secret must be printable text without surrounding spaces." in response.content.decode()
    assert not OutboundWebhook.objects.exists()


def test_switching_a_webhook_off_and_on(client, rita, hook):
    as_user(client, rita)
    response = client.post(f"{PAGE}{hook.pk}/switch/", {"active": "off"}, **HTMX)
    assert response.status_code == 200
    assert "switched off" in response.content.decode()
    hook.refresh_from_db()
    assert hook.active is False
    client.post(f"{PAGE}{hook.pk}/switch/", {"active": "on"}, **HTMX)
    hook.refresh_from_db()
    assert hook.active is True


def test_replacing_the_secret(client, rita, hook):
    as_user(client, rita)
    response = client.post(f"{PAGE}{hook.pk}/secret/", {"secret": "b" * 24}, **HTMX)
    assert response.status_code == 200
    assert "has a new secret" in response.content.decode()
    hook.refresh_from_db()
    assert hook.secret == "b" * 24
    response = client.post(f"{PAGE}{hook.pk}/secret/", {"secret": ""}, **HTMX)
    hook.refresh_from_db()
    assert hook.secret != "b" * 24
    assert f'value="{hook.secret}"' in response.content.decode()
    response = client.post(f"{PAGE}{hook.pk}/secret/", {"secret": "tiny"}, **HTMX)
    assert response.status_code == 400
    assert "16 to 128 characters" in response.content.decode()


def test_removing_a_webhook(client, rita, hook):
    as_user(client, rita)
    response = client.post(f"{PAGE}{hook.pk}/delete/", **HTMX)
    assert response.status_code == 200
    assert "Webhook removed." in response.content.decode()
    assert not OutboundWebhook.objects.exists()
    assert client.post(f"{PAGE}{hook.pk}/delete/", **HTMX).status_code == 404

"""/api/v1/notification-webhooks/: release managers and administrators manage the receivers of
release events; the secret is write-only; everyone else is refused."""

import json

import pytest
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.core import signing
from apps.notifications.models import Notification, OutboundWebhook
from apps.notifications.outbox import notification_send
from apps.releases.services import release_move
from tests.loopback import loopback_server

pytestmark = pytest.mark.django_db

LIST = "/api/v1/notification-webhooks/"
SECRET = "a-long-shared-secret-0123"


def token(user, *, read_only: bool = False) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="t", read_only=read_only)
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def send(client, method: str, url: str, headers: dict, body=None):
    kwargs = dict(headers)
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(url, **kwargs)


def detail(hook_id: int) -> str:
    return f"{LIST}{hook_id}/"


@pytest.fixture
def hook(db):
    return OutboundWebhook.objects.create(
        name="chat bot", url="https://chat.example.test/hook", secret=SECRET
    )


def test_release_manager_creates_reads_updates_and_deletes_a_webhook(client, rita):
    auth = token(rita)
    body = {"name": "dashboard", "url": "https://dash.example.test/in", "secret": SECRET}
    created = send(client, "post", LIST, auth, body)
    assert created.status_code == 201, created.json()
    hook_id = created.json()["id"]
    assert created.json() == {
        "id": hook_id,
        "name": "dashboard",
        "url": "https://dash.example.test/in",
        "active": True,
        "created_at": created.json()["created_at"],
        "updated_at": created.json()["updated_at"],
    }
    assert OutboundWebhook.objects.get(pk=hook_id).secret == SECRET

    listed = send(client, "get", LIST, auth)
    assert listed.status_code == 200
    assert [h["name"] for h in listed.json()["results"]] == ["dashboard"]
    assert send(client, "get", detail(hook_id), auth).json()["url"] == body["url"]

    changed = send(client, "patch", detail(hook_id), auth, {"active": False, "secret": "x" * 20})
    assert changed.status_code == 200
    assert changed.json()["active"] is False
    assert OutboundWebhook.objects.get(pk=hook_id).secret == "x" * 20

    assert send(client, "delete", detail(hook_id), auth).status_code == 204
    assert not OutboundWebhook.objects.filter(pk=hook_id).exists()
    assert send(client, "get", detail(hook_id), auth).status_code == 404

    for response in (created, listed, changed):
        assert b"secret" not in response.content
        assert SECRET.encode() not in response.content
    events = AuditEvent.objects.filter(verb__startswith="webhook.").order_by("pk")
    assert [e.verb for e in events] == ["webhook.created", "webhook.updated", "webhook.deleted"]
    assert events[1].after == {"active": False, "secret": "changed"}
    assert all(e.actor_label == "rita" for e in events)
    assert not any(SECRET in json.dumps([e.before, e.after]) for e in events)


def test_an_administrator_may_manage_webhooks(client, root, hook):
    auth = token(root)
    assert send(client, "get", LIST, auth).status_code == 200
    assert send(client, "patch", detail(hook.pk), auth, {"name": "bot"}).status_code == 200
    assert send(client, "delete", detail(hook.pk), auth).status_code == 204


@pytest.mark.parametrize("persona", ["alice", "oscar", "vera", "charlie"])
def test_everyone_else_is_refused_reading_and_writing(client, request, persona, hook):
    auth = token(request.getfixturevalue(persona))
    body = {"name": "mine", "url": "https://evil.example.test/", "secret": SECRET}
    for method, url, data in (
        ("get", LIST, None),
        ("post", LIST, body),
        ("get", detail(hook.pk), None),
        ("patch", detail(hook.pk), {"url": "https://evil.example.test/"}),
        ("delete", detail(hook.pk), None),
    ):
        response = send(client, method, url, auth, data)
        assert response.status_code == 403, (method, url)
        assert "manage webhooks" in response.json()["detail"]
    assert list(OutboundWebhook.objects.values_list("name", "url")) == [
        ("chat bot", "https://chat.example.test/hook")
    ]


def test_a_read_only_token_reads_but_never_writes(client, rita, hook):
    auth = token(rita, read_only=True)
    assert send(client, "get", LIST, auth).status_code == 200
    assert send(client, "get", detail(hook.pk), auth).status_code == 200
    assert send(client, "patch", detail(hook.pk), auth, {"name": "x"}).status_code == 403
    assert send(client, "delete", detail(hook.pk), auth).status_code == 403


def test_anonymous_gets_401(client, hook):
    assert client.get(LIST).status_code == 401
    assert client.get(detail(hook.pk)).status_code == 401


def test_wrong_methods_are_405(client, rita, hook):
    auth = token(rita)
    assert send(client, "put", detail(hook.pk), auth, {"name": "x"}).status_code == 405
    assert send(client, "delete", LIST, auth).status_code == 405
    assert send(client, "patch", LIST, auth, {"name": "x"}).status_code == 405


def test_unknown_fields_are_refused_naming_them(client, rita, hook):
    auth = token(rita)
    body = {"name": "bot", "url": "https://x.example.test/", "secret": SECRET, "colour": "red"}
    response = send(client, "post", LIST, auth, body)
    assert response.status_code == 400
    assert response.json()["field"] == "colour"
    assert "colour" in response.json()["detail"]

    response = send(client, "patch", detail(hook.pk), auth, {"activ": False, "name": "new"})
    assert response.status_code == 400
    assert response.json()["field"] == "activ"
    assert set(response.json()["errors"]) == {"activ"}
    hook.refresh_from_db()
    assert (hook.name, hook.active) == ("chat bot", True)
    assert OutboundWebhook.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "ftp://files.example.test/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://x.example.test/" + "a" * 200}, "url"),
        ({"url": "http://10.0.0.5/hook"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ({"url": "http://[fd00::1]/hook"}, "url"),
        ({"secret": "short"}, "secret"),
        ({"secret": " padded-secret-value "}, "secret"),
        ({"secret": "x" * 129}, "secret"),
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
        ({"active": "maybe"}, "active"),
        ({"secret": None}, "secret"),
    ],
)
def test_bad_values_are_400_naming_the_field(client, rita, change, field):
    body = {"name": "bot", "url": "https://x.example.test/", "secret": SECRET} | change
    response = send(client, "post", LIST, token(rita), body)
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
    assert not OutboundWebhook.objects.exists()


@pytest.mark.parametrize("missing", ["name", "url", "secret"])
def test_create_needs_name_url_and_secret(client, rita, missing):
    body = {"name": "bot", "url": "https://x.example.test/", "secret": SECRET}
    del body[missing]
    response = send(client, "post", LIST, token(rita), body)
    assert response.status_code == 400
    assert response.json()["field"] == missing


def test_a_body_that_is_not_an_object_is_400(client, rita):
    response = send(client, "post", LIST, token(rita), ["name"])
    assert response.status_code == 400
    assert response.json()["detail"]


def test_unknown_ids_are_404(client, rita):
    auth = token(rita)
    for method, data in (("get", None), ("patch", {"name": "x"}), ("delete", None)):
        assert send(client, method, detail(999999), auth, data).status_code == 404


def test_a_webhook_made_through_the_api_gets_the_next_event_signed_with_its_secret(
    client, rita, release
):
    with loopback_server(lambda *r: (204, b"")) as (url, received):
        auth = token(rita)
        made = send(client, "post", LIST, auth, {"name": "b", "url": f"{url}/in", "secret": SECRET})
        new_secret = "rotated-secret-4567890"
        send(client, "patch", detail(made.json()["id"]), auth, {"secret": new_secret})
        release_move(release_id=release.pk, to="preparation", actor=rita)
        row = Notification.objects.get(channel="webhook")
        assert notification_send(notification_id=row.pk, now=timezone.now()) == "sent"
        (request,) = received.received("POST")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers["x-releasedeck-timestamp"]
    signature = headers["x-releasedeck-signature"]
    assert signing.verify(request["body"], new_secret, timestamp, signature)
    assert not signing.verify(request["body"], SECRET, timestamp, signature)


def test_the_schema_documents_the_endpoints_and_never_the_secret(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert set(paths[LIST]) == {"get", "post"}
    assert set(paths[LIST + "{id}/"]) == {"get", "patch", "delete"}
    components = schema["components"]["schemas"]
    assert "X-ReleaseDeck-Signature: sha256=" in components["NotificationWebhook"]["description"]
    assert "secret" not in components["NotificationWebhook"]["properties"]
    secret = components["NotificationWebhookWriteRequest"]["properties"]["secret"]
    assert secret["writeOnly"] is True

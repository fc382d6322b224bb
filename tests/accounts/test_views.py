"""The API tokens page through the Django test client: a key shown once, and only one's own
tokens listed and revoked."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.authentication import hash_key
from apps.accounts.models import ApiToken
from apps.accounts.services import MAX_TOKENS_PER_USER, api_token_create
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGE = reverse("accounts:tokens")


def revoke_url(token: ApiToken) -> str:
    return reverse("accounts:token_revoke", args=[token.pk])


def shown_key(html: str) -> str:
    match = re.search(r'<input id="new-key"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else ""


def test_page_lists_only_my_tokens(client, rita, oscar):
    mine, _ = api_token_create(actor=rita, name="CI pipeline", read_only=True)
    api_token_create(actor=oscar, name="Oscar's bot")
    ApiToken.objects.filter(pk=mine.pk).update(last_used_at=timezone.now())
    client.force_login(rita)
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "CI pipeline" in html and f"<code>{mine.prefix}…</code>" in html
    assert "Read-only" in html
    assert "0\xa0minutes ago" in html
    assert "Oscar&#x27;s bot" not in html and "Oscar's bot" not in html
    assert shown_key(html) == ""


def test_creating_a_token_shows_its_key_once(client, vera):
    client.force_login(vera)
    response = client.post(PAGE, {"name": "Dashboard", "read_only": "on"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 201
    assert html.lstrip().startswith('<div id="tokens-board"')
    key = shown_key(html)
    token = ApiToken.objects.get(user=vera)
    assert (token.name, token.read_only, token.key_hash) == ("Dashboard", True, hash_key(key))
    assert "no-store" in response["Cache-Control"]
    # The key works against the API, and the page never shows it again.
    api = client.get("/api/v1/releases/", HTTP_AUTHORIZATION=f"Token {key}")
    assert api.status_code == 200
    assert key not in client.get(PAGE).content.decode()


def test_creating_a_token_without_htmx_renders_the_page_with_the_key(client, rita):
    client.force_login(rita)
    response = client.post(PAGE, {"name": "Release bot"})
    assert response.status_code == 201
    assert "<html" in response.content.decode()
    assert hash_key(shown_key(response.content.decode())) == ApiToken.objects.get().key_hash
    assert ApiToken.objects.get().read_only is False


def test_person_without_role_may_hold_tokens_too(client, charlie):
    # Tokens act with their owner's roles; having none, a token can do nothing more.
    client.force_login(charlie)
    assert client.post(PAGE, {"name": "Mine"}).status_code == 201


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": ""}, "This field is required."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "a\x00b"}, "Null characters are not allowed."),
        ({"name": "   "}, "This field is required."),
    ],
    ids=["empty", "long", "nul", "blank"],
)
def test_bad_name_is_a_form_error_and_creates_nothing(client, rita, data, message):
    client.force_login(rita)
    response = client.post(PAGE, data, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in re.search(r'id="id_name_error">(.*?)</div>', html, re.S).group(1)
    assert not ApiToken.objects.exists()


def test_token_limit_is_a_form_error_on_the_name(client, rita):
    ApiToken.objects.bulk_create(
        ApiToken(user=rita, name=f"t{i}", key_hash=f"{i:064d}", prefix="x")
        for i in range(MAX_TOKENS_PER_USER)
    )
    client.force_login(rita)
    response = client.post(PAGE, {"name": "One more"}, **HTMX)
    assert response.status_code == 400
    assert "revoke one first" in response.content.decode()
    assert ApiToken.objects.count() == MAX_TOKENS_PER_USER


def test_revoking_my_token(client, rita):
    token, key = api_token_create(actor=rita, name="Old CI")
    client.force_login(rita)
    response = client.post(revoke_url(token), **HTMX)
    assert response.status_code == 200
    assert "Token revoked." in response.content.decode()
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.filter(verb="api_token.revoked", actor=rita).exists()
    client.logout()
    api = client.get("/api/v1/releases/", HTTP_AUTHORIZATION=f"Token {key}")
    assert api.status_code == 401


def test_revoking_without_htmx_redirects_to_the_page(client, rita):
    token, _ = api_token_create(actor=rita, name="Old CI")
    client.force_login(rita)
    response = client.post(revoke_url(token))
    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert not ApiToken.objects.exists()


def test_forged_revoke_of_someone_elses_token_is_404_and_keeps_it(client, rita, oscar):
    token, _ = api_token_create(actor=oscar, name="Oscar's bot")
    client.force_login(rita)
    response = client.post(revoke_url(token), **HTMX)
    assert response.status_code == 404
    assert "No such token." in response.content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_anonymous_is_sent_to_login_and_nothing_changes(client, rita):
    token, _ = api_token_create(actor=rita, name="CI")
    assert client.get(PAGE)["Location"].startswith(reverse("login"))
    response = client.post(PAGE, {"name": "Sneaky"})
    assert response.status_code == 302
    assert client.post(revoke_url(token)).status_code == 302
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["CI"]


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_page_rejects_other_methods(client, rita, method):
    client.force_login(rita)
    assert getattr(client, method)(PAGE).status_code == 405


def test_revoke_rejects_get(client, rita):
    token, _ = api_token_create(actor=rita, name="CI")
    client.force_login(rita)
    assert client.get(revoke_url(token)).status_code == 405
    assert ApiToken.objects.exists()


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PAGE)
    assert response.status_code == 200
    return len(queries)


def test_page_queries_do_not_grow_with_the_number_of_tokens(client, rita):
    def add(start: int, stop: int) -> None:
        ApiToken.objects.bulk_create(
            ApiToken(user=rita, name=f"t{i}", key_hash=f"{i:064d}", prefix=f"{i:08d}")
            for i in range(start, stop)
        )

    add(0, 10)
    client.force_login(rita)
    few = page_queries(client)
    add(10, 200)
    assert page_queries(client) == few
    assert few <= 8

"""Who gets in: per-user tokens (hashed, revocable, read-only), sessions with CSRF, throttling,
failed sign-ins locked out; and the schema and docs that tell clients all of it."""

import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from apps.accounts.authentication import hash_key
from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from tests.builders import planned_release

from .conftest import token_header

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def auth(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def create_token(client, user, **body: Any) -> dict[str, Any]:
    client.force_login(user)
    response = client.post(
        f"{V1}/tokens/", data={"name": "ci", **body}, content_type="application/json"
    )
    client.logout()
    assert response.status_code == 201, response.content
    return response.json()


def test_created_token_shows_its_key_once_and_stores_only_a_hash(client, vera) -> None:
    created = create_token(client, vera)

    stored = ApiToken.objects.get(pk=created["id"])
    assert stored.key_hash == hash_key(created["key"])
    assert created["key"] not in stored.key_hash and stored.prefix == created["key"][:8]
    listed = client.get(f"{V1}/tokens/", **auth(created["key"])).json()["results"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert AuditEvent.objects.filter(verb="api_token.created", actor=vera).exists()


def test_token_records_when_it_was_last_used(client, vera) -> None:
    created = create_token(client, vera)
    assert created["last_used_at"] is None

    client.get(f"{V1}/me/", **auth(created["key"]))

    assert ApiToken.objects.get(pk=created["id"]).last_used_at is not None


def test_revoked_token_stops_working_at_once(client, vera) -> None:
    created = create_token(client, vera)
    headers = auth(created["key"])

    assert client.delete(f"{V1}/tokens/{created['id']}/", **headers).status_code == 204

    response = client.get(f"{V1}/me/", **headers)
    assert response.status_code == 401
    assert AuditEvent.objects.filter(verb="api_token.revoked").exists()


def test_nobody_sees_or_revokes_anothers_token(client, vera, oscar) -> None:
    veras = create_token(client, vera)
    headers = token_header(oscar)

    assert client.get(f"{V1}/tokens/{veras['id']}/", **headers).status_code == 404
    assert client.delete(f"{V1}/tokens/{veras['id']}/", **headers).status_code == 404
    assert client.get(f"{V1}/tokens/", **headers).json()["count"] == 1  # oscar's own
    assert ApiToken.objects.filter(pk=veras["id"]).exists()


def test_read_only_token_reads_but_never_writes(client, rita, alice, bob) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    created = create_token(client, rita, read_only=True)
    headers = auth(created["key"])

    read = client.get(f"{V1}/releases/{release.pk}/", **headers)
    write = client.patch(
        f"{V1}/releases/{release.pk}/",
        data={"name": "Renamed"},
        content_type="application/json",
        **headers,
    )

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["detail"] == "This API token is read-only."
    release.refresh_from_db()
    assert release.name != "Renamed"


def test_token_of_a_deactivated_user_is_refused(client, vera) -> None:
    created = create_token(client, vera)
    vera.is_active = False
    vera.save(update_fields=["is_active"])

    assert client.get(f"{V1}/me/", **auth(created["key"])).status_code == 401


@pytest.mark.parametrize(
    "header", ["Token", "Token a b", "Bearer abc", "Token \u00e9t\u00e9", "token nothing"]
)
def test_malformed_authorization_headers_get_401_json(client, vera, header: str) -> None:
    response = client.get(f"{V1}/me/", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_session_writes_need_the_csrf_token(rita) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rita)

    refused = browser.post(f"{V1}/tokens/", data={"name": "x"}, content_type="application/json")
    browser.get("/accounts/login/")  # sets the CSRF cookie as a page would
    csrf = browser.cookies["csrftoken"].value
    accepted = browser.post(
        f"{V1}/tokens/", data={"name": "x"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 201


def test_session_reads_need_no_csrf_token(rita) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rita)

    assert browser.get(f"{V1}/me/").json()["user"]["roles"] == ["platform", "release_manager"]


def test_each_token_is_throttled_on_its_own(client, settings, vera) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anon": "100/minute"},
    }
    first, second = token_header(vera), token_header(vera)

    answers = [client.get(f"{V1}/me/", **first).status_code for _ in range(4)]
    other = client.get(f"{V1}/me/", **second)

    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200
    limited = client.get(f"{V1}/me/", **first)
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["detail"]


def test_repeated_failed_sign_ins_lock_the_account_out(client, vera) -> None:
    def sign_in(password: str) -> int:
        return client.post(
            "/accounts/login/", {"username": "vera", "password": password}
        ).status_code

    wrong = [sign_in("guess") for _ in range(5)]
    locked = sign_in("pw")  # even the right password, while locked out

    assert wrong == [200, 200, 200, 200, 429]  # the form again with an error; then locked out
    assert locked == 429
    assert (
        Client().post("/accounts/login/", {"username": "rita", "password": "x"}).status_code == 200
    )


def test_correct_sign_in_still_works_below_the_limit(client, vera) -> None:
    client.post("/accounts/login/", {"username": "vera", "password": "guess"})

    response = client.post("/accounts/login/", {"username": "vera", "password": "pw"})

    assert response.status_code == 302


# Schema and docs


def test_schema_is_openapi_3_and_public(client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/releases/{release_id}/transition/" in schema["paths"]
    transition = schema["paths"]["/api/v1/releases/{release_id}/transition/"]["post"]
    assert {"202", "200", "400", "401", "403", "404", "409"} <= set(transition["responses"])


def test_schema_generates_without_warnings(tmp_path) -> None:
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stdout=StringIO()
    )

    assert out.read_text().startswith("openapi: 3")


def test_docs_page_loads_everything_from_our_own_static_files(client, settings) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""url:\s*["']([^"']+)["']""", html)
    assert urls, "the docs page references no assets"
    for url in urls:
        assert url.startswith("/"), f"{url} is not served by us"
        if url.startswith(f"/{settings.STATIC_URL}"):
            assert finders.find(url.removeprefix(f"/{settings.STATIC_URL}")), url
    assert any("swagger-ui-bundle" in u for u in urls)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/github/webhook/",
        "/api/v1/incidents/hooks/prom/",
        "/api/v1/chat/slack/interactions/",
    ],
)
def test_signed_inbound_hooks_have_their_own_throttle(path) -> None:
    from django.urls import resolve

    from apps.accounts.api_guards import WebhookRateThrottle

    view = resolve(path).func.view_class
    assert view.throttle_classes == [WebhookRateThrottle]
    assert view.throttle_scope == "webhook"

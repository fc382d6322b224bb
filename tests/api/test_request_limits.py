"""Bodies too deep or too large for the API: JSON 4xx, never a server error or an HTML page."""

import json
from typing import Any

import pytest

from .conftest import World

pytestmark = pytest.mark.django_db


def _defects_url(world: World) -> str:
    return f"/api/v1/releases/{world.ids['testing']}/defects/"


def test_deeply_nested_json_is_a_400_not_a_recursion_error(client: Any, world: World) -> None:
    body = "[" * 50_000 + "]" * 50_000  # 100 KB of brackets

    response = client.post(
        _defects_url(world), data=body, content_type="application/json", **world.headers["rm"]
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "nested deeper than" in response.json()["detail"]


def test_nesting_within_the_limit_is_validated_as_usual(client: Any, world: World) -> None:
    body = {"title": [[[["deep"]]]], "severity": "minor"}

    response = client.post(
        _defects_url(world), data=body, content_type="application/json", **world.headers["rm"]
    )

    assert response.status_code == 400
    assert response.json()["field"] == "title"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_body_past_the_limit_is_a_json_413(client: Any, world: World, method: str) -> None:
    body = json.dumps({"title": "x" * 3_000_000, "severity": "minor"})
    urls = {
        "post": _defects_url(world),
        "put": f"/api/v1/releases/{world.ids['testing']}/signoff-policy/",
        "patch": f"/api/v1/environments/{world.ids['environment']}/",
        "delete": f"/api/v1/announcements/{world.ids['announcement']}/",
    }

    response = getattr(client, method)(
        urls[method], data=body, content_type="application/json", **world.headers["rm"]
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "larger than" in response.json()["detail"]


def test_a_large_body_to_an_action_without_a_body_is_still_413(client: Any, world: World) -> None:
    response = client.post(
        f"/api/v1/waves/{world.ids['rolling_wave']}/resume/",
        data="x" * 2_000_000,
        content_type="application/json",
        **world.headers["operator"],
    )

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


def test_the_limit_is_a_setting(client: Any, world: World, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = {"title": "x" * 200, "severity": "minor"}

    response = client.post(
        _defects_url(world), data=body, content_type="application/json", **world.headers["rm"]
    )

    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 100 bytes."


def test_a_bad_request_outside_drf_is_json_under_api(client: Any) -> None:
    response = client.get("/api/v1/releases/", HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"] == "Bad request."


def test_a_bad_request_on_a_page_stays_html(client: Any) -> None:
    response = client.get("/", HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")

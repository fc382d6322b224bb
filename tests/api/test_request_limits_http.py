"""Request limits over real HTTP (pytest-django's live server), outside the test client."""

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import _persona

from .conftest import token_header


@pytest.mark.django_db(transaction=True)
def test_over_real_http_both_are_json_answers(live_server: Any) -> None:
    auth = token_header(_persona("rita", "release_manager"))["HTTP_AUTHORIZATION"]

    def post(body: bytes) -> tuple[int, str, dict]:
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/releases/",
            data=body,
            method="POST",
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers["Content-Type"], json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], json.load(exc)

    status, content_type, body = post(b"[" * 50_000 + b"]" * 50_000)
    assert (status, content_type) == (400, "application/json")
    assert "nested deeper than" in body["detail"]

    status, content_type, body = post(json.dumps({"name": "x" * 3_000_000}).encode())
    assert (status, content_type) == (413, "application/json")

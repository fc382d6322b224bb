"""Naming and removing stakeholders through the API: malformed ids and roles are refused before
the service runs, with the field named and nothing written."""

import json
from typing import Any

import pytest

from apps.accounts.services import api_token_create
from apps.releases.models import Release
from apps.stakeholders.models import Stakeholder
from apps.stakeholders.services import stakeholder_add
from tests.factories import ReleaseFactory

from . import test_services

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


@pytest.fixture
def release(rita) -> Release:
    return ReleaseFactory(owner=rita)


@pytest.fixture
def headers(rita) -> dict[str, str]:
    # Made before any snapshot of the tables: the token is not what a refused call wrote.
    _, key = api_token_create(actor=rita, name="test")
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def db_state() -> dict[str, tuple]:
    """Every table but the tokens', whose use stamps `last_used_at`."""
    state = test_services.db_state()
    del state["accounts_apitoken"]
    return state


def post(client, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def test_naming_the_same_stakeholder_twice_is_one_row(client, release, rita, alice, headers):
    url = f"{V1}/releases/{release.pk}/stakeholders/"
    first = post(client, url, {"user": alice.pk, "role": "qa"}, headers)
    before = db_state()
    again = post(client, url, {"user": str(alice.pk), "role": " qa "}, headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert db_state() == before


BAD_IDS = ["abc", -1, 0, 10**30, None, 1.5, True, ""]
BAD_ROLES = [None, "", "  ", 5, ["qa"], "qa\x00", "caf\ud800", "x" * 33, "nope", "QA"]
ADD_BAD = [
    *[pytest.param({"user": v}, "user", id=f"user={v!r}") for v in [*BAD_IDS, 987654321]],
    *[pytest.param({"role": v}, "role", id=f"role={v!r:.12}") for v in BAD_ROLES],
]


@pytest.mark.parametrize(("changes", "field"), ADD_BAD)
def test_stakeholder_add_refuses_bad_input(client, release, alice, headers, changes, field):
    body = {"user": alice.pk, "role": "qa", **changes}
    before = db_state()
    answer = post(client, f"{V1}/releases/{release.pk}/stakeholders/", body, headers)
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert answer.json()["detail"].endswith(".")
    assert db_state() == before


# In the path, an id is a positive number of at most 18 digits: anything else names no page.
PATH_IDS = [*BAD_IDS, 987654321]


@pytest.mark.parametrize("release_id", PATH_IDS, ids=repr)
def test_stakeholder_add_to_a_bad_release_id_is_404(client, alice, headers, release_id):
    before = db_state()
    url = f"{V1}/releases/{release_id}/stakeholders/"
    answer = post(client, url, {"user": alice.pk, "role": "qa"}, headers)
    assert answer.status_code == 404
    assert answer.json()["detail"].endswith(".")
    assert db_state() == before


@pytest.mark.parametrize("stakeholder_id", PATH_IDS, ids=repr)
def test_stakeholder_remove_refuses_bad_ids(client, release, rita, alice, headers, stakeholder_id):
    stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    before = db_state()
    answer = client.delete(f"{V1}/stakeholders/{stakeholder_id}/", **headers)
    assert answer.status_code == 404
    assert answer.json()["detail"].endswith(".")
    assert db_state() == before
    assert Stakeholder.objects.count() == 1

"""GET /api/v1/releases/{id}/status/: the shape clients rely on, who may read it, and its cost."""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.services import api_token_create
from apps.releases import services as rs
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.stakeholders import services as sh
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory, UserFactory, give

pytestmark = pytest.mark.django_db

STATUS_KEYS = {
    "id",
    "name",
    "version",
    "application",
    "phase",
    "phase_entered_at",
    "blockers",
    "signoffs",
    "waves",
    "progress",
    "updated_at",
}
SIGNOFF_KEYS = {"required", "approved", "rejected", "stale"}
WAVE_KEYS = {
    "id",
    "name",
    "environment",
    "percentage",
    "state",
    "scheduled_at",
    "started_at",
    "finished_at",
}
QUERY_BUDGET = 20


def url(release_id: object) -> str:
    return f"/api/v1/releases/{release_id}/status/"


def token_header(user: object) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


@pytest.fixture
def release(rita, alice, bob):
    return planned_release(rita, qa=alice, business_owner=bob)


@pytest.fixture
def testing_release(release, rita, alice, bob):
    return advance(release, rita, to="testing")


def test_status_has_exactly_the_documented_shape(client, vera, release) -> None:
    client.force_login(vera)

    response = client.get(url(release.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == STATUS_KEYS
    assert set(body["signoffs"]) == SIGNOFF_KEYS
    assert len(body["waves"]) == 1
    assert set(body["waves"][0]) == WAVE_KEYS
    assert all(set(b) == {"code", "message"} for b in body["blockers"])
    wave = Wave.objects.get(plan__release=release)
    assert body["id"] == release.pk
    assert body["name"] == "CRM 2.0.0"
    assert body["version"] == "2.0.0"
    assert body["application"] == "CRM"
    assert body["phase"] == "planning"
    assert datetime.fromisoformat(body["phase_entered_at"]) == release.phase_entered_at
    assert datetime.fromisoformat(body["updated_at"]) == release.updated_at
    assert body["progress"] == 0
    assert body["signoffs"] == {"required": 2, "approved": 0, "rejected": 0, "stale": 0}
    first = body["waves"][0]
    assert (first["name"], first["environment"], first["percentage"], first["state"]) == (
        "prod-eu 100%",
        "prod-eu",
        100,
        "pending",
    )
    assert first["scheduled_at"] is None and first["started_at"] is None
    assert first["finished_at"] is None
    assert first["id"] == wave.pk


def test_blockers_are_those_of_the_next_move(client, vera, testing_release, alice) -> None:
    client.force_login(vera)

    codes = [b["code"] for b in client.get(url(testing_release.pk)).json()["blockers"]]

    assert sorted(codes) == ["signoff_missing", "signoff_missing", "test_case_open"]


def test_open_gate_has_no_blockers(client, vera, release) -> None:
    client.force_login(vera)
    assert client.get(url(release.pk)).json()["blockers"] == []


def test_signoff_counts_follow_approvals_rejections_and_stale_content(
    client, vera, rita, testing_release, alice, bob
) -> None:
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(vera)
    assert client.get(url(testing_release.pk)).json()["signoffs"] == {
        "required": 2,
        "approved": 1,
        "rejected": 0,
        "stale": 0,
    }

    rs.release_update(release_id=testing_release.pk, scope="Invoices only.", actor=rita)
    so.signoff_give(
        release_id=testing_release.pk, decision="reject", comment="Totals wrong.", actor=bob
    )

    body = client.get(url(testing_release.pk)).json()
    assert body["signoffs"] == {"required": 2, "approved": 0, "rejected": 1, "stale": 1}
    assert "signoff_rejected" in {b["code"] for b in body["blockers"]}


def test_rollout_progress_and_wave_times_show(client, vera, release, rita, alice, bob) -> None:
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    for state in ("deploying", "verifying", "succeeded"):
        wave_transition(wave_id=wave.pk, to=state, actor=None)
    wave.refresh_from_db()
    client.force_login(vera)

    body = client.get(url(release.pk)).json()

    assert body["phase"] == "rollout"
    assert body["progress"] == 80
    shown = body["waves"][0]
    assert shown["id"] == wave.pk and shown["state"] == "succeeded"
    assert datetime.fromisoformat(shown["started_at"]) == wave.started_at
    assert datetime.fromisoformat(shown["finished_at"]) == wave.finished_at
    assert body["blockers"] == []


def test_token_authentication_reads_the_status(client, vera, release) -> None:
    response = client.get(url(release.pk), **token_header(vera))

    assert response.status_code == 200
    assert response.json()["id"] == release.pk


def test_session_authentication_reads_the_status(client, rita, release) -> None:
    client.force_login(rita)
    assert client.get(url(release.pk)).status_code == 200


def test_anonymous_gets_401_json(client, release) -> None:
    response = client.get(url(release.pk))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_bad_token_gets_401_json(client, release) -> None:
    response = client.get(url(release.pk), HTTP_AUTHORIZATION="Token not-a-real-token")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_user_without_a_role_gets_403_json(client, charlie, release) -> None:
    for kwargs in ({}, token_header(charlie)):
        client.logout()
        if not kwargs:
            client.force_login(charlie)
        response = client.get(url(release.pk), **kwargs)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/json"
        assert response.json()["detail"]
        assert "phase" not in response.json()


@pytest.mark.parametrize("offset", [1000, 10**20])
def test_unknown_release_gets_404_json(client, vera, release, offset: int) -> None:
    client.force_login(vera)

    response = client.get(url(release.pk + offset))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "-1", "%20"])
def test_malformed_release_id_gets_404_json_not_html(client, vera, bad_id: str) -> None:
    client.force_login(vera)

    response = client.get(url(bad_id))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_to_status_get_405_json(client, rita, release, method: str) -> None:
    for kwargs in ({}, token_header(rita)):
        client.logout()
        if not kwargs:
            client.force_login(rita)
        response = getattr(client, method)(
            url(release.pk), data={}, content_type="application/json", **kwargs
        )
        assert response.status_code == 405
        assert response["Content-Type"] == "application/json"
        assert response.json()["detail"]


def _status_queries(client, release_id: int, django_assert_max_num_queries) -> int:
    with django_assert_max_num_queries(QUERY_BUDGET), CaptureQueriesContext(connection) as ctx:
        assert client.get(url(release_id)).status_code == 200
    return len(ctx.captured_queries)


def test_query_count_does_not_grow_with_waves_and_signoffs(
    client, vera, rita, alice, bob, release, django_assert_max_num_queries
) -> None:
    small = advance(release, rita, to="testing")
    so.signoff_give(release_id=small.pk, decision="approve", actor=alice)

    big = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    for i in range(9):
        env = EnvironmentFactory(name=f"prod-{i}")
        ro.wave_add(release_id=big.pk, name=f"wave {i}", environment_id=env.pk, actor=rita)
    approvers = [alice]
    for i in range(9):
        user = UserFactory(username=f"qa{i}")
        give(user, "approver")
        sh.stakeholder_add(release_id=big.pk, user_id=user.pk, role="qa", actor=rita)
        approvers.append(user)
    big = advance(big, rita, to="testing")
    for approver in approvers:
        so.signoff_give(release_id=big.pk, decision="approve", actor=approver)
    client.force_login(vera)

    few = _status_queries(client, small.pk, django_assert_max_num_queries)
    many = _status_queries(client, big.pk, django_assert_max_num_queries)

    body = client.get(url(big.pk)).json()
    assert len(body["waves"]) == 10
    assert body["signoffs"]["approved"] == 10
    assert many == few

"""Releases through the API: create, edit, phase moves (202 / 409 / 200), status ETags, lists."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.releases.models import MoveState, PhaseMove, Release
from apps.rollouts import services as ro
from apps.signoffs import services as so
from tests.builders import advance, planned_release
from tests.factories import ApplicationFactory, EnvironmentFactory, ReleaseFactory, UserFactory

from .conftest import token_header

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


@pytest.fixture
def release(rita, alice, bob) -> Release:
    return planned_release(rita, qa=alice, business_owner=bob)


def post(client, url: str, body: Any, headers: dict) -> Any:
    return client.post(url, data=body, content_type="application/json", **headers)


def test_release_manager_creates_a_release_through_the_services(client, rita) -> None:
    app = ApplicationFactory(name="ERP", slug="erp")

    response = post(
        client,
        f"{V1}/releases/",
        {"application": app.pk, "name": "ERP 5", "version": "5.0.0", "scope": "Payroll."},
        token_header(rita),
    )

    assert response.status_code == 201
    body = response.json()
    assert body["phase"] == "planning"
    assert body["owner"] == {"id": rita.pk, "username": "rita"}
    assert body["application"] == {"id": app.pk, "name": "ERP", "slug": "erp"}
    assert AuditEvent.objects.filter(release_id=body["id"], verb="release.created").exists()


def test_validation_error_names_the_field(client, rita) -> None:
    app = ApplicationFactory()

    response = post(
        client, f"{V1}/releases/", {"application": app.pk, "name": "X"}, token_header(rita)
    )

    assert response.status_code == 400
    assert response.json()["field"] == "version"
    assert response.json()["detail"].startswith("version:")


def test_service_refusal_names_the_field(client, rita, release) -> None:
    response = post(
        client,
        f"{V1}/releases/",
        {"application": release.application_id, "name": "Again", "version": release.version},
        token_header(rita),
    )

    assert response.status_code == 400
    assert response.json()["field"] == "version"
    assert "already has a release" in response.json()["detail"]


def test_body_that_is_not_json_gets_415_json(client, rita) -> None:
    response = client.post(
        f"{V1}/releases/", data="name=x", content_type="text/plain", **token_header(rita)
    )

    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"


def test_malformed_json_gets_400_json(client, rita) -> None:
    response = client.post(
        f"{V1}/releases/", data="{not json", content_type="application/json", **token_header(rita)
    )

    assert response.status_code == 400
    assert response.json()["detail"]


def test_content_change_through_patch_makes_signoffs_stale(client, rita, alice, bob, release):
    testing = advance(release, rita, to="testing")
    so.signoff_give(release_id=testing.pk, decision="approve", actor=alice)

    response = client.patch(
        f"{V1}/releases/{testing.pk}/",
        data={"scope": "Invoices only."},
        content_type="application/json",
        **token_header(rita),
    )

    assert response.status_code == 200
    assert response.json()["scope"] == "Invoices only."
    status = client.get(f"{V1}/releases/{testing.pk}/status/", **token_header(rita)).json()
    assert status["signoffs"]["stale"] == 1 and status["signoffs"]["approved"] == 0


def test_transition_accepted_answers_202_with_the_pending_move(client, rita, release) -> None:
    response = post(
        client, f"{V1}/releases/{release.pk}/transition/", {"to": "preparation"}, token_header(rita)
    )

    assert response.status_code == 202
    body = response.json()
    move = PhaseMove.objects.get(release=release)
    assert (body["id"], body["state"], body["to"]) == (move.pk, "pending", "preparation")
    assert response["Location"] == f"/api/v1/moves/{move.pk}/"
    release.refresh_from_db()
    assert release.phase == "planning"  # the worker moves it, not the request


def test_transition_refused_answers_409_with_blockers(client, rita, release) -> None:
    testing = advance(release, rita, to="testing")

    response = post(
        client, f"{V1}/releases/{testing.pk}/transition/", {"to": "rollout"}, token_header(rita)
    )

    assert response.status_code == 409
    body = response.json()
    assert body["detail"]
    codes = sorted(b["code"] for b in body["blockers"])
    assert codes == ["signoff_missing", "signoff_missing", "test_case_open"]
    assert all(b["message"] for b in body["blockers"])
    assert not PhaseMove.objects.filter(release=testing).exists()


def test_transition_to_the_current_phase_answers_200_with_a_done_move(
    client, rita, release
) -> None:
    response = post(
        client, f"{V1}/releases/{release.pk}/transition/", {"to": "planning"}, token_header(rita)
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["state"], body["to"], body["release"]) == (
        None,
        "done",
        "planning",
        release.pk,
    )
    assert not PhaseMove.objects.filter(release=release).exists()  # nothing recorded


def test_transition_repeated_after_it_was_carried_out_answers_the_move_that_did_it(
    client, rita, release
) -> None:
    from apps.releases.services import phase_move_carry_out

    first = post(
        client, f"{V1}/releases/{release.pk}/transition/", {"to": "preparation"}, token_header(rita)
    )
    phase_move_carry_out(move_id=first.json()["id"])

    again = post(
        client, f"{V1}/releases/{release.pk}/transition/", {"to": "preparation"}, token_header(rita)
    )

    assert first.status_code == 202
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["state"]) == (first.json()["id"], "done")


def test_transition_to_an_unknown_phase_names_the_field(client, rita, release) -> None:
    response = post(
        client, f"{V1}/releases/{release.pk}/transition/", {"to": "shipped"}, token_header(rita)
    )

    assert response.status_code == 400
    assert response.json()["field"] == "to"


def test_cancel_without_reason_is_refused_with_the_field(client, rita, release) -> None:
    response = post(
        client, f"{V1}/releases/{release.pk}/transition/", {"to": "cancelled"}, token_header(rita)
    )

    assert response.status_code == 400
    assert response.json()["field"] == "reason"


def test_override_needs_an_administrator(client, rita, root, release) -> None:
    testing = advance(release, rita, to="testing")
    body = {"to": "rollout", "override": True, "reason": "Emergency fix."}

    refused = post(client, f"{V1}/releases/{testing.pk}/transition/", body, token_header(rita))
    accepted = post(client, f"{V1}/releases/{testing.pk}/transition/", body, token_header(root))

    assert refused.status_code == 403
    assert accepted.status_code == 202
    assert PhaseMove.objects.get(release=testing).override is True


def test_move_shows_its_outcome(client, vera, rita, release) -> None:
    move = PhaseMove.objects.create(
        release=release,
        from_phase="planning",
        to_phase="preparation",
        requested_by=rita,
        state=MoveState.REFUSED,
        blockers=[{"code": "scope_missing", "message": "Write the scope."}],
    )

    body = client.get(f"{V1}/moves/{move.pk}/", **token_header(vera)).json()
    listed = client.get(f"{V1}/releases/{release.pk}/moves/", **token_header(vera)).json()

    assert body["state"] == "refused"
    assert body["blockers"] == [{"code": "scope_missing", "message": "Write the scope."}]
    assert [m["id"] for m in listed["results"]] == [move.pk]


# Status and its ETag


def test_status_carries_an_etag_and_answers_304_when_unchanged(client, vera, release) -> None:
    headers = token_header(vera)
    first = client.get(f"{V1}/releases/{release.pk}/status/", **headers)
    etag = first["ETag"]

    again = client.get(f"{V1}/releases/{release.pk}/status/", HTTP_IF_NONE_MATCH=etag, **headers)
    weak = client.get(
        f"{V1}/releases/{release.pk}/status/", HTTP_IF_NONE_MATCH=f'"other", W/{etag}', **headers
    )

    assert first.status_code == 200 and etag.startswith('"')
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert weak.status_code == 304


def test_status_etag_changes_when_the_release_changes(client, vera, rita, release) -> None:
    headers = token_header(vera)
    etag = client.get(f"{V1}/releases/{release.pk}/status/", **headers)["ETag"]
    env = EnvironmentFactory(name="prod-us")
    ro.wave_add(release_id=release.pk, name="us", environment_id=env.pk, actor=rita)

    response = client.get(f"{V1}/releases/{release.pk}/status/", HTTP_IF_NONE_MATCH=etag, **headers)

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert len(response.json()["waves"]) == 2


def test_status_etag_is_not_shared_between_releases(client, vera, rita, alice, bob, release):
    other = planned_release(rita, qa=alice, business_owner=bob, version="9.9.9")
    headers = token_header(vera)
    etag = client.get(f"{V1}/releases/{release.pk}/status/", **headers)["ETag"]

    response = client.get(f"{V1}/releases/{other.pk}/status/", HTTP_IF_NONE_MATCH=etag, **headers)

    assert response.status_code == 200


# Lists


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_release_list_filters_by_phase_application_owner_and_environment(
    client, vera, rita, alice, bob, release
) -> None:
    testing = planned_release(rita, qa=alice, business_owner=bob, version="2.1.0")
    testing = advance(testing, rita, to="testing")
    other_app = ReleaseFactory(application=ApplicationFactory(slug="hr", name="HR"), owner=bob)
    headers = token_header(vera)
    env = EnvironmentFactory(name="prod-eu")
    url = f"{V1}/releases/"

    assert set(_ids(client.get(url, {"phase": "testing"}, **headers))) == {testing.pk}
    assert set(_ids(client.get(url, {"phase": ["testing", "planning"]}, **headers))) == {
        testing.pk,
        release.pk,
        other_app.pk,
    }
    assert _ids(client.get(url, {"application_slug": "hr"}, **headers)) == [other_app.pk]
    assert _ids(client.get(url, {"application": other_app.application_id}, **headers)) == [
        other_app.pk
    ]
    assert _ids(client.get(url, {"owner": bob.pk}, **headers)) == [other_app.pk]
    assert set(_ids(client.get(url, {"environment": env.pk}, **headers))) == {
        release.pk,
        testing.pk,
    }


def test_release_list_filters_by_date_ranges_and_orders(client, vera) -> None:
    now = timezone.now()
    soon = ReleaseFactory(
        planned_start=now + timedelta(days=2), planned_end=now + timedelta(days=3)
    )
    later = ReleaseFactory(
        planned_start=now + timedelta(days=20), planned_end=now + timedelta(days=21)
    )
    headers = token_header(vera)
    url = f"{V1}/releases/"

    window = {
        "planned_start_after": (now + timedelta(days=1)).isoformat(),
        "planned_start_before": (now + timedelta(days=5)).isoformat(),
    }
    assert _ids(client.get(url, window, **headers)) == [soon.pk]
    assert _ids(client.get(url, {"ordering": "-planned_start"}, **headers)) == [later.pk, soon.pk]
    bad = client.get(url, {"planned_start_after": "yesterday"}, **headers)
    assert bad.status_code == 400 and bad.json()["field"] == "planned_start"


def test_release_list_is_paginated(client, vera) -> None:
    for _ in range(3):
        ReleaseFactory()

    body = client.get(f"{V1}/releases/", {"page_size": 2}, **token_header(vera)).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"] is None


def _list_queries(client, url: str, headers: dict) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 100}, **headers)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _releases_with_everything(n: int) -> None:
    owners = [UserFactory() for _ in range(3)]
    for i in range(n):
        ReleaseFactory(owner=owners[i % 3], application=ApplicationFactory())


@pytest.mark.parametrize("rows", [5, 50])
def test_release_list_query_count_does_not_grow_with_rows(
    client, vera, rows: int, django_assert_max_num_queries
) -> None:
    headers = token_header(vera)
    _releases_with_everything(5)
    baseline = _list_queries(client, f"{V1}/releases/", headers)
    _releases_with_everything(rows)

    with django_assert_max_num_queries(baseline):
        response = client.get(f"{V1}/releases/", {"page_size": 100}, **headers)
    assert response.json()["count"] == 5 + rows

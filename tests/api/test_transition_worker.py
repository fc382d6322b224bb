"""A transition accepted with 202 is carried out by a real Celery worker; the status shows it."""

import pytest

from tests.builders import planned_release
from tests.celery_worker import CeleryWorker, wait_for

from .conftest import token_header

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CARRY_OUT_TIMEOUT = 20.0


def test_accepted_transition_is_carried_out_and_shows_in_the_status(
    client, celery_worker: CeleryWorker, rita, alice, bob
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    headers = token_header(rita)

    response = client.post(
        f"/api/v1/releases/{release.pk}/transition/",
        data={"to": "preparation"},
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 202

    def status_phase() -> str | None:
        body = client.get(f"/api/v1/releases/{release.pk}/status/", **headers).json()
        return body["phase"] if body["phase"] == "preparation" else None

    assert wait_for(status_phase, timeout=CARRY_OUT_TIMEOUT) == "preparation"
    move = client.get(response["Location"], **headers).json()
    assert move["state"] == "done" and move["processed_at"]

"""Answered when decided, by the engine: a real worker, a real fake GitHub on loopback."""

import pytest

from apps.github.models import DeploymentProtectionRequest
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.wave_signoffs import wave_signoff_give
from tests.builders import advance
from tests.celery_worker import wait_for
from tests.rollouts.test_engine_worker import drive

from .conftest import deliver, event, release_at

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_pending_request_is_answered_once_the_wave_signoff_lands(
    celery_worker, client, github, rita, alice, bob
):
    release = release_at(rita, alice, bob, "testing")
    wave = Wave.objects.get(plan__release=release)
    ro.wave_requirement_set(wave_id=wave.pk, role="business_owner", count=1, actor=rita)
    ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=0)
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")

    response = deliver(client, event(github))
    assert response.status_code == 202  # at once: the verdict is the engine's to give
    request = DeploymentProtectionRequest.objects.get(pk=response.json()["id"])

    # The engine brings the wave up; it waits for the business owner's sign-off.
    assert drive(lambda: Wave.objects.get(pk=wave.pk).state == "waiting", timeout=30)
    looked_at = wait_for(
        lambda: DeploymentProtectionRequest.objects.get(pk=request.pk).waiting_for, timeout=15
    )
    assert looked_at and looked_at[0]["code"] == "wave_not_started"
    assert github.callbacks() == []  # nothing is answered while the gate is undecided

    wave_signoff_give(wave_id=wave.pk, decision="approve", comment="Go.", actor=bob)
    # Only the worker acts now: the wave starts, and the request is decided and answered.
    answered = wait_for(github.callbacks, timeout=30)
    assert answered, list(Wave.objects.filter(pk=wave.pk).values_list("state", "state_reason"))
    (answer,) = answered
    assert answer["body"]["state"] == "approved"
    assert "Wave prod-eu 100% signed off by bob (Business owner)" in answer["body"]["comment"]
    request.refresh_from_db()
    assert (request.verdict, request.answer_state) == ("approved", "sent")
    # Let the engine finish the wave before the tables are emptied under the worker.
    assert wait_for(lambda: Wave.objects.get(pk=wave.pk).state == "succeeded", timeout=15)

"""Fixtures the notification tests share: published Celery messages and a staffed release."""

import pytest
from celery.signals import before_task_publish

from apps.notifications.models import Notification
from apps.rollouts import services as ro
from apps.stakeholders import services as sh
from tests.builders import planned_release
from tests.celery_worker import purge_celery_queue
from tests.rollouts.test_engine_steps import waves_of


@pytest.fixture
def published():
    """Celery messages published during the test, as (task name, args); the test broker is
    emptied afterwards so no worker ever sees them."""
    sent: list[tuple[str, tuple]] = []

    def record(sender=None, body=None, **kwargs):
        sent.append((sender, tuple(body[0])))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)
    purge_celery_queue()


@pytest.fixture
def release(rita, alice, bob, vera):
    """CRM 2.0.0 in planning: alice (qa) and bob (business owner) are the policy's roles;
    vera is IT support, a stakeholder the sign-off policy does not name."""
    release = planned_release(rita, qa=alice, business_owner=bob)
    sh.stakeholder_add(release_id=release.pk, user_id=vera.pk, role="it_support", actor=rita)
    (wave,) = waves_of(release)
    ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=0)
    Notification.objects.all().delete()
    return release

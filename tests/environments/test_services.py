"""Environment, window, freeze and stop-the-line writes: checked, audited, idempotent. What
malformed input gets is in test_api and test_views: the serializers and forms refuse it."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import NotAllowed, NotFound, ServiceError
from apps.environments import services as es
from apps.environments.models import DeploymentWindow, Environment, FreezeWindow, StopTheLine
from apps.environments.stop_line import stop_the_line_set
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db


def test_environment_create_is_audited_and_repeatable(rita) -> None:
    first = es.environment_create(
        name="prod-eu", tier="production", time_zone="Europe/Berlin", region="eu", actor=rita
    )
    again = es.environment_create(
        name="prod-eu", tier="production", time_zone="Europe/Berlin", region="eu", actor=rita
    )

    assert again.pk == first.pk
    assert AuditEvent.objects.filter(verb="environment.created").count() == 1


def test_environment_name_taken_with_other_settings_is_refused(rita) -> None:
    EnvironmentFactory(name="prod-eu", tier="production")

    with pytest.raises(ServiceError) as refused:
        es.environment_create(name="prod-eu", tier="staging", time_zone="UTC", actor=rita)
    assert refused.value.field == "name"


def test_viewer_may_not_manage_environments(vera) -> None:
    with pytest.raises(NotAllowed):
        es.environment_create(name="x", tier="staging", time_zone="UTC", actor=vera)
    assert not Environment.objects.exists()


def test_deployment_window_added_once_and_removed(rita) -> None:
    env = EnvironmentFactory()
    window = es.deployment_window_add(
        environment_id=env.pk,
        weekdays=[4, 0, 0],
        start_time=time(9),
        end_time=time(17),
        actor=rita,
    )
    same = es.deployment_window_add(
        environment_id=env.pk,
        weekdays=[0, 4],
        start_time=time(9),
        end_time=time(17),
        actor=rita,
    )

    assert same.pk == window.pk and window.weekdays == [0, 4]
    es.deployment_window_remove(window_id=window.pk, actor=rita)
    assert not DeploymentWindow.objects.exists()
    with pytest.raises(NotFound):
        es.deployment_window_remove(window_id=window.pk, actor=rita)


def test_freeze_scopes_must_be_consistent(rita) -> None:
    now = timezone.now()
    window = {"start": now, "end": now + timedelta(hours=2), "reason": "Close", "actor": rita}

    with pytest.raises(ServiceError) as no_env:
        es.freeze_create(scope="environment", **window)
    with pytest.raises(ServiceError) as no_region:
        es.freeze_create(scope="region", **window)
    with pytest.raises(ServiceError) as backwards:
        es.freeze_create(scope="global", **{**window, "end": now - timedelta(hours=1)})

    assert (no_env.value.field, no_region.value.field, backwards.value.field) == (
        "environment",
        "region",
        "end",
    )
    assert not FreezeWindow.objects.exists()


def test_freeze_moved_and_lifted_with_an_audit_trail(rita) -> None:
    now = timezone.now()
    freeze = es.freeze_create(
        scope="region",
        region="us",
        start=now,
        end=now + timedelta(hours=2),
        reason="Close",
        actor=rita,
    )

    es.freeze_update(freeze_id=freeze.pk, end=now + timedelta(hours=3), actor=rita)
    es.freeze_remove(freeze_id=freeze.pk, actor=rita, reason="Close finished early.")

    verbs = list(
        AuditEvent.objects.filter(verb__startswith="freeze.").values_list("verb", flat=True)
    )
    assert verbs == ["freeze.created", "freeze.updated", "freeze.removed"]
    assert not FreezeWindow.objects.exists()


def test_stop_the_line_is_idempotent_and_needs_a_reason(oscar, rita) -> None:
    with pytest.raises(ServiceError):
        stop_the_line_set(active=True, actor=oscar)

    stop_the_line_set(active=True, reason="Incident 42.", actor=oscar)
    stop_the_line_set(active=True, reason="Again.", actor=rita)

    switch = StopTheLine.objects.get()
    assert switch.active and switch.reason == "Incident 42." and switch.changed_by == oscar
    assert AuditEvent.objects.filter(verb="stop_the_line.on").count() == 1

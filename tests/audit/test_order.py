"""Events of one transaction join the chain in the order the changes were made."""

from contextlib import suppress

import pytest
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import AuditBatch, audit_record, audit_verify
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.models import Check, Wave
from apps.rollouts.runner import wave_run
from tests.factories import EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_wave(rita) -> Wave:
    """A verifying wave whose check has failed often enough, with an automatic rollback policy
    and its next step due now."""
    env = EnvironmentFactory(name="prod-eu")
    release = ReleaseFactory(owner=rita)
    ro.plan_set(release_id=release.pk, strategy="rolling", actor=rita)
    wave = ro.wave_add(
        release_id=release.pk,
        name="prod-eu 100%",
        environment_id=env.pk,
        failure_policy="rollback",
        deployer="simulated",
        bake_minutes=30,
        actor=rita,
    )
    ro.check_add(
        wave_id=wave.pk,
        name="health",
        kind="http",
        config={"url": "http://127.0.0.1:9/health"},
        failures_to_fail=2,
        actor=rita,
    )
    now = timezone.now()
    Release.objects.filter(pk=release.pk).update(phase="rollout")
    Wave.objects.filter(pk=wave.pk).update(
        state="verifying", started_at=now, bake_started_at=now, next_step_at=now
    )
    Check.objects.filter(wave=wave).update(consecutive_failures=2)
    return wave


def test_a_failed_wave_and_its_rollback_are_chained_in_causal_order(failing_wave):
    first = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    assert wave_run(wave_id=failing_wave.pk) == ["failed"]

    events = list(AuditEvent.objects.filter(id__gt=first).order_by("id"))
    moves = [
        (e.verb, (e.before or {}).get("state") or (e.before or {}).get("phase"))
        for e in events
        if e.verb in ("wave.state_changed", "release.moved", "rollout.auto_rollback")
    ]
    assert moves == [
        ("wave.state_changed", "verifying"),
        ("wave.state_changed", "failed"),
        ("rollout.auto_rollback", None),
        ("release.moved", "rollout"),
    ]
    assert [e.after.get("state") for e in events if e.verb == "wave.state_changed"] == [
        "failed",
        "rolled_back",
    ]
    assert audit_verify()[1] is None


def test_events_of_a_batch_keep_their_order_through_savepoints(rita):
    release = ReleaseFactory(owner=rita)
    with transaction.atomic():
        batch = AuditBatch()
        audit_record(actor=None, verb="test.1", release_id=release.pk, batch=batch)
        with transaction.atomic():
            audit_record(actor=None, verb="test.2", release_id=release.pk, batch=batch)
        audit_record(actor=None, verb="test.3", release_id=release.pk, batch=batch)
        with transaction.atomic():
            audit_record(actor=None, verb="test.4", release_id=release.pk, batch=batch)
            with transaction.atomic():
                audit_record(actor=None, verb="test.5", release_id=release.pk, batch=batch)
        audit_record(actor=None, verb="test.6", release_id=release.pk, batch=batch)
        assert not AuditEvent.objects.filter(verb__startswith="test.").exists()  # held
        batch.flush()
    verbs = AuditEvent.objects.filter(verb__startswith="test.").order_by("id")
    assert list(verbs.values_list("verb", flat=True)) == [f"test.{n}" for n in range(1, 7)]
    assert audit_verify()[1] is None


def test_events_of_a_batch_survive_a_rolled_back_savepoint_in_their_order(rita):
    release = ReleaseFactory(owner=rita)
    with transaction.atomic():
        batch = AuditBatch()
        audit_record(actor=None, verb="test.1", release_id=release.pk, batch=batch)
        with suppress(RuntimeError), transaction.atomic():
            audit_record(actor=None, verb="test.gone", release_id=release.pk)
            raise RuntimeError
        audit_record(actor=None, verb="test.2", release_id=release.pk, batch=batch)
        with transaction.atomic():
            audit_record(actor=None, verb="test.3", release_id=release.pk, batch=batch)
        with suppress(RuntimeError), transaction.atomic():
            audit_record(actor=None, verb="test.gone_too", release_id=release.pk)
            raise RuntimeError
        audit_record(actor=None, verb="test.4", release_id=release.pk, batch=batch)
        batch.flush()
    verbs = AuditEvent.objects.filter(verb__startswith="test.").order_by("id")
    assert list(verbs.values_list("verb", flat=True)) == ["test.1", "test.2", "test.3", "test.4"]
    assert audit_verify()[1] is None

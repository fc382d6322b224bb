"""Carrying on: a task keeps stepping a release while its next step is due at once, within a
bound, committing its audit events in batches, and leases what it leaves to the queue."""

from collections import Counter
from contextlib import suppress
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import AuditBatch, audit_record, audit_verify
from apps.notifications.models import Notification, OutboundWebhook
from apps.notifications.outbox import Sends, notify
from apps.rollouts.models import Wave
from apps.rollouts.runner import rollouts_tick, wave_run
from apps.stakeholders import services as sh
from tests.factories import EnvironmentFactory, ReleaseFactory
from tests.rollouts.test_engine_steps import published, rolling_out, waves_of  # noqa: F401

pytestmark = pytest.mark.django_db

STEPS = ["deploying", "verifying", "succeeded"]


@pytest.fixture
def three_waves(rita, alice, bob):
    envs = [EnvironmentFactory(name=f"prod-{n}") for n in ("eu", "us", "apac")]
    release = rolling_out(rita, envs)
    sh.stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    sh.stakeholder_add(release_id=release.pk, user_id=bob.pk, role="business_owner", actor=rita)
    first = waves_of(release)[0]
    Wave.objects.filter(pk=first.pk).update(next_step_at=timezone.now())  # what the tick arms
    return release


def wave_steps(published) -> list[tuple]:  # noqa: F811
    return [args for name, args in published if name == "apps.rollouts.tasks.wave_step"]


# Committing for real, so each step's transaction commits inside the run, as on a worker.
@pytest.mark.django_db(transaction=True)
def test_a_run_carries_the_release_through_every_step_due_at_once(
    three_waves,
    published,  # noqa: F811
):
    first = waves_of(three_waves)[0]
    published.clear()
    assert wave_run(wave_id=first.pk) == STEPS * 3
    waves = waves_of(three_waves)
    assert [w.state for w in waves] == ["succeeded"] * 3
    assert all(w.next_step_at is None for w in waves)
    assert wave_steps(published) == []  # nothing left for another task
    # Every change has its own audit event, once, on an unbroken chain in id order.
    events = list(AuditEvent.objects.filter(verb="wave.state_changed", release_id=three_waves.pk))
    assert Counter((int(e.object_id), e.after["state"]) for e in events) == Counter(
        {(w.pk, state): 1 for w in waves for state in STEPS}
    )
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert audit_verify()[1] is None
    # The stakeholders hear of each wave's start, sent by one task for the whole run.
    sends = [args for name, args in published if name.endswith("send_notifications")]
    started = Notification.objects.filter(event="wave.started")
    assert started.count() == 3 * 2
    assert sends == [(sorted(started.values_list("pk", flat=True)),)]


def test_a_run_stops_at_its_bound_and_leaves_the_rest_leased_to_a_message(
    three_waves,
    published,  # noqa: F811
):
    first, second, _ = waves_of(three_waves)
    published.clear()
    assert wave_run(wave_id=first.pk, max_steps=4) == [*STEPS, "deploying"]
    second.refresh_from_db()
    assert second.state == "deploying"
    assert wave_steps(published) == [(second.pk,)]  # the rest goes back to the queue
    now = timezone.now()
    assert second.next_step_at <= now and second.kicked_at is not None
    # The tick leaves a leased step alone, and sends it again once the lease has run out.
    assert rollouts_tick(now=now)["waves"] == 0
    later = second.kicked_at + settings.RELEASEDECK_STEP_LEASE + timedelta(seconds=1)
    assert rollouts_tick(now=later)["waves"] == 1


def test_a_run_stops_at_its_time_bound_too(three_waves, published):  # noqa: F811
    first = waves_of(three_waves)[0]
    published.clear()
    assert wave_run(wave_id=first.pk, max_seconds=0) == []
    assert wave_steps(published) == [(first.pk,)]
    assert Wave.objects.get(pk=first.pk).state == "pending"


def test_a_duplicate_run_finds_nothing_due(three_waves, published):  # noqa: F811
    first = waves_of(three_waves)[0]
    assert wave_run(wave_id=first.pk) == STEPS * 3
    assert wave_run(wave_id=first.pk) == ["not due"]
    assert AuditEvent.objects.filter(verb="wave.state_changed").count() == 9


def test_what_a_rolled_back_savepoint_wrote_beside_a_run_batch_is_not_kept(rita):
    release = ReleaseFactory(owner=rita)
    Notification.objects.all().delete()
    sends = Sends()
    with transaction.atomic():
        batch = AuditBatch()
        audit_record(actor=None, verb="test.kept", release_id=release.pk, batch=batch)
        with suppress(RuntimeError), transaction.atomic():
            audit_record(actor=None, verb="test.rolled_back", release_id=release.pk)
            OutboundWebhook.objects.create(name="bot", url="http://127.0.0.1:9/hook", secret="x")
            notify(release=release, event="release.moved", sends=sends)
            raise RuntimeError
        audit_record(actor=None, verb="test.kept_too", release_id=release.pk, batch=batch)
        batch.flush()
    verbs = AuditEvent.objects.filter(verb__startswith="test.").values_list("verb", flat=True)
    assert sorted(verbs) == ["test.kept", "test.kept_too"]
    assert audit_verify()[1] is None
    assert not Notification.objects.exists()
    assert sends.rows == []  # nothing to send of what was rolled back

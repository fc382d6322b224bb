"""A real Celery worker carries out requested moves, only after commit, and the tick re-finds work."""

from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify
from apps.releases import services as rs
from apps.releases.models import MoveState, PhaseMove, Release
from apps.releases.services import moves
from apps.releases.tasks import tick
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from tests.builders import advance, planned_release
from tests.celery_worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Bounds for waiting on the worker; a healthy worker needs well under a second.
CARRY_OUT_TIMEOUT = 20.0
QUIET_PERIOD = 3.0


class _Boom(Exception):
    pass


def _wait_for_move(move_id: int) -> PhaseMove | None:
    return wait_for(
        lambda: PhaseMove.objects.filter(pk=move_id).exclude(state=MoveState.PENDING).first(),
        timeout=CARRY_OUT_TIMEOUT,
    )


@pytest.fixture
def published() -> list[str]:
    """Names of the tasks this process hands to the broker while the test runs."""
    names: list[str] = []

    def record(sender: str | None = None, **kwargs: object) -> None:
        names.append(sender or "")

    before_task_publish.connect(record, weak=False)
    yield names
    before_task_publish.disconnect(record)


def test_requested_move_is_carried_out_by_the_worker(
    celery_worker: CeleryWorker, rita, alice, bob
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)

    move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)

    assert move is not None and move.state == MoveState.PENDING
    done = _wait_for_move(move.pk)
    assert done is not None, "the worker did not carry out the move in time"
    assert done.state == MoveState.DONE
    assert done.processed_at is not None
    release.refresh_from_db()
    assert release.phase == "preparation"
    moved = AuditEvent.objects.filter(release_id=release.pk, verb="release.moved")
    assert moved.count() == 1
    assert moved.get().actor_id == rita.pk
    assert audit_verify()[1] is None


def test_move_requested_in_a_rolled_back_transaction_never_runs(
    celery_worker: CeleryWorker, published: list[str], rita, alice, bob
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    log_start = celery_worker.log_size()

    with pytest.raises(_Boom), transaction.atomic():
        rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
        raise _Boom

    assert published == []
    # Give a stray message time to reach the worker before looking for its traces.
    wait_for(lambda: "carry_out_move" in celery_worker.log(log_start), timeout=QUIET_PERIOD)
    assert "carry_out_move" not in celery_worker.log(log_start)
    release.refresh_from_db()
    assert release.phase == "planning"
    assert not PhaseMove.objects.filter(release=release).exists()
    assert not AuditEvent.objects.filter(
        release_id=release.pk, verb__startswith="release.move"
    ).exists()

    # The worker was alive all along: the same request, committed, is carried out.
    move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    assert published == ["apps.releases.tasks.carry_out_move"]
    done = _wait_for_move(move.pk)
    assert done is not None and done.state == MoveState.DONE
    release.refresh_from_db()
    assert release.phase == "preparation"


def test_tick_moves_a_release_whose_waves_all_succeeded_to_support(
    celery_worker: CeleryWorker, rita, alice, bob
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    for wave in Wave.objects.filter(plan__release=release):
        for state in ("deploying", "verifying", "succeeded"):
            wave_transition(wave_id=wave.pk, to=state, actor=None)

    tick.delay()

    moved = wait_for(
        lambda: Release.objects.filter(pk=release.pk, phase="support").exists(),
        timeout=CARRY_OUT_TIMEOUT,
    )
    assert moved, "the tick did not move the release to support in time"
    move = PhaseMove.objects.get(release=release)
    assert (move.from_phase, move.to_phase, move.state) == ("rollout", "support", MoveState.DONE)
    assert move.requested_by is None
    event = AuditEvent.objects.get(
        release_id=release.pk, verb="release.moved", after__phase="support"
    )
    assert event.actor_id is None and event.actor_label == "system"


def test_tick_leaves_a_release_with_an_unfinished_wave_in_rollout(
    celery_worker: CeleryWorker, rita, alice, bob
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    log_start = celery_worker.log_size()

    tick.delay()

    assert wait_for(
        lambda: (
            "apps.releases.tasks.tick" in celery_worker.log(log_start)
            and "succeeded" in celery_worker.log(log_start)
        ),
        timeout=CARRY_OUT_TIMEOUT,
    ), "the worker did not run the tick"
    release.refresh_from_db()
    assert release.phase == "rollout"
    assert not PhaseMove.objects.filter(release=release).exists()


def test_tick_refinds_a_move_whose_message_was_lost(
    celery_worker: CeleryWorker, monkeypatch: pytest.MonkeyPatch, rita, alice, bob
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    with monkeypatch.context() as m:
        m.setattr(moves, "_enqueue_move", lambda move_id: None)  # the message is lost
        move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    long_ago = timezone.now() - settings.RELEASEDECK_MOVE_RETRY_AFTER - timedelta(seconds=5)
    PhaseMove.objects.filter(pk=move.pk).update(enqueued_at=long_ago)

    tick.delay()

    done = _wait_for_move(move.pk)
    assert done is not None, "the tick did not re-enqueue the lost move in time"
    assert done.state == MoveState.DONE
    assert done.enqueued_at > long_ago
    release.refresh_from_db()
    assert release.phase == "preparation"
    assert AuditEvent.objects.filter(release_id=release.pk, verb="release.moved").count() == 1


def test_tick_does_not_requeue_a_move_that_is_merely_waiting(
    celery_worker: CeleryWorker,
    monkeypatch: pytest.MonkeyPatch,
    published: list[str],
    rita,
    alice,
    bob,
) -> None:
    release = planned_release(rita, qa=alice, business_owner=bob)
    with monkeypatch.context() as m:
        m.setattr(moves, "_enqueue_move", lambda move_id: None)
        move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    log_start = celery_worker.log_size()

    tick.delay()

    assert wait_for(
        lambda: (
            "apps.releases.tasks.tick" in celery_worker.log(log_start)
            and "succeeded" in celery_worker.log(log_start)
        ),
        timeout=CARRY_OUT_TIMEOUT,
    ), "the worker did not run the tick"
    move.refresh_from_db()
    assert move.state == MoveState.PENDING
    assert "carry_out_move" not in celery_worker.log(log_start)

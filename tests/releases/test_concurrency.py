"""Many clients at once against one release, on real PostgreSQL: one move, no duplicates, no 500s."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify
from apps.core.errors import ServiceError
from apps.releases import services as rs
from apps.releases.models import MoveState, PhaseMove, Release
from apps.releases.services import moves
from apps.releases.tasks import carry_out_move
from apps.signoffs import services as so
from apps.signoffs.models import SignOff
from apps.stakeholders import services as sh
from tests.builders import advance, planned_release
from tests.factories import UserFactory, give

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20
JOIN_TIMEOUT = 60.0


def run_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; return each result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def worker(i: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[i] = call()
        except BaseException as exc:  # every outcome is inspected by the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hung (lock wait?)"
    return outcomes


def assert_clean(outcomes: list[Any]) -> None:
    """Each call either succeeded or was refused with a ServiceError (a 4xx), never anything else."""
    unexpected = [
        o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, ServiceError)
    ]
    assert unexpected == [], f"calls failed with non-service errors (would be 500s): {unexpected!r}"


def assert_consistent(release: Release) -> None:
    """No half-written rows: moves agree with the release and the audit trail, and the chain holds."""
    release.refresh_from_db()
    moves = list(PhaseMove.objects.filter(release=release))
    assert sum(1 for m in moves if m.state == MoveState.PENDING) <= 1
    for move in moves:
        assert move.state in MoveState.values
        assert (move.processed_at is None) == (move.state == MoveState.PENDING), move
    requested = set(
        AuditEvent.objects.filter(release_id=release.pk, verb="release.move_requested").values_list(
            "object_id", flat=True
        )
    )
    assert requested == {str(m.pk) for m in moves}
    moved = AuditEvent.objects.filter(
        release_id=release.pk, verb="release.moved", after__phase="rollout"
    ).order_by("id")
    assert [e.after["phase"] for e in moved][-1:] == ([release.phase] if moved.exists() else [])
    duplicates = (
        SignOff.objects.values("release", "signer", "fingerprint")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists()
    checked, broken, why = audit_verify()
    assert broken is None, f"audit chain broken at #{broken.pk}: {why}"
    assert checked == AuditEvent.objects.count()


@pytest.fixture(autouse=True)
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Move ids handed to the broker. Kept in-process so that a worker started by another test
    cannot race these assertions; delivery itself is proven in test_worker.py."""
    ids: list[int] = []
    lock = threading.Lock()

    def record(move_id: int) -> None:
        with lock:
            ids.append(move_id)

    monkeypatch.setattr(moves, "_enqueue_move", record)
    return ids


def _user(username: str, role: str) -> Any:
    user = UserFactory(username=username)
    give(user, role)
    return user


@pytest.fixture
def quinn(roles_seeded):
    return _user("quinn", "approver")


@pytest.fixture
def rick(roles_seeded):
    return _user("rick", "release_manager")


@pytest.fixture
def release_in_testing(rita, alice, bob, quinn) -> Release:
    """In testing with its test cases passed; needs 2 approvals (1 qa, 1 business owner).

    alice and quinn are both qa, bob is the business owner.
    """
    release = planned_release(rita, qa=alice, business_owner=bob)
    sh.stakeholder_add(release_id=release.pk, user_id=quinn.pk, role="qa", actor=rita)
    release = advance(release, rita, to="testing")
    for case in release.test_cases.all():
        rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    return release


def _approve(release: Release, who: Any) -> Callable[[], Any]:
    return lambda: so.signoff_give(release_id=release.pk, decision="approve", actor=who)


def _move(release: Release, who: Any) -> Callable[[], Any]:
    return lambda: rs.release_move(release_id=release.pk, to="rollout", actor=who)


def _request(release: Release, who: Any) -> Callable[[], Any]:
    return lambda: rs.release_request_move(release_id=release.pk, to="rollout", actor=who)


def _finish_pending_moves(release: Release) -> None:
    """Run what a worker would for each pending move (the task function itself)."""
    for move_id in PhaseMove.objects.filter(release=release, state=MoveState.PENDING).values_list(
        "pk", flat=True
    ):
        carry_out_move(move_id)


def test_concurrent_approvals_then_concurrent_moves_move_the_release_once(
    release_in_testing: Release, rita, rick, alice, bob, quinn
) -> None:
    release = release_in_testing
    approvers = [alice, bob, quinn]
    approvals = run_at_once([_approve(release, approvers[i % 3]) for i in range(THREADS)])
    assert_clean(approvals)
    assert all(isinstance(o, SignOff) for o in approvals), approvals
    assert SignOff.objects.filter(release=release).count() == 3
    assert AuditEvent.objects.filter(release_id=release.pk, verb="signoff.approved").count() == 3

    movers = [
        (_move if i % 2 == 0 else _request)(release, rita if i % 4 < 2 else rick)
        for i in range(THREADS)
    ]
    outcomes = run_at_once(movers)

    assert_clean(outcomes)
    _finish_pending_moves(release)
    release.refresh_from_db()
    assert release.phase == "rollout"
    moved = AuditEvent.objects.filter(
        release_id=release.pk, verb="release.moved", after__phase="rollout"
    )
    assert moved.count() == 1
    assert moved.get().before["phase"] == "testing"
    assert not PhaseMove.objects.filter(release=release).exclude(state=MoveState.DONE).exists()
    assert_consistent(release)


def test_moves_racing_approvals_happen_at_most_once_and_only_after_the_quorum(
    release_in_testing: Release, rita, rick, alice, bob, quinn
) -> None:
    release = release_in_testing
    calls: list[Callable[[], Any]] = []
    for i in range(THREADS):
        kind = i % 4
        if kind == 0:
            calls.append(_approve(release, [alice, bob, quinn][i // 4 % 3]))
        elif kind == 1:
            calls.append(_approve(release, bob))
        elif kind == 2:
            calls.append(_move(release, rita if i % 8 < 4 else rick))
        else:
            calls.append(_request(release, rick))

    outcomes = run_at_once(calls)

    assert_clean(outcomes)
    _finish_pending_moves(release)
    release.refresh_from_db()
    moved = list(
        AuditEvent.objects.filter(
            release_id=release.pk, verb="release.moved", after__phase="rollout"
        )
    )
    assert len(moved) == (1 if release.phase == "rollout" else 0)
    if moved:
        # The gate saw both required approvals: they were committed before the move.
        earlier = AuditEvent.objects.filter(
            release_id=release.pk, verb="signoff.approved", id__lt=moved[0].pk
        )
        roles = set(earlier.values_list("after__role", flat=True))
        assert {"qa", "business_owner"} <= roles
        # Sign-offs after the move were refused, not recorded.
        assert not AuditEvent.objects.filter(
            release_id=release.pk, verb="signoff.approved", id__gt=moved[0].pk
        ).exists()
    else:
        assert release.phase == "testing"
    for move in PhaseMove.objects.filter(release=release):
        assert move.state in (MoveState.DONE, MoveState.REFUSED)
    assert_consistent(release)

    # Whatever the interleaving, the release can still be moved exactly once.
    rs.release_move(release_id=release.pk, to="rollout", actor=rita)
    assert (
        AuditEvent.objects.filter(
            release_id=release.pk, verb="release.moved", after__phase="rollout"
        ).count()
        == 1
    )


def test_concurrent_move_requests_leave_exactly_one_pending_move(
    release_in_testing: Release, enqueued: list[int], rita, rick, alice, bob
) -> None:
    release = release_in_testing
    so.signoff_give(release_id=release.pk, decision="approve", actor=alice)
    so.signoff_give(release_id=release.pk, decision="approve", actor=bob)

    outcomes = run_at_once([_request(release, rita if i % 2 else rick) for i in range(THREADS)])

    assert_clean(outcomes)
    pending = PhaseMove.objects.filter(release=release, state=MoveState.PENDING)
    assert pending.count() == 1
    assert PhaseMove.objects.filter(release=release).count() == 1
    move = pending.get()
    # Every caller that got a move back got that same pending move.
    assert {o.pk for o in outcomes if isinstance(o, PhaseMove)} == {move.pk}
    assert (
        AuditEvent.objects.filter(release_id=release.pk, verb="release.move_requested").count() == 1
    )
    assert enqueued == [move.pk]
    assert_consistent(release)

    # Duplicate deliveries of the one message carry the move out once.
    run_at_once([lambda: carry_out_move(move.pk) for _ in range(5)])
    move.refresh_from_db()
    assert move.state == MoveState.DONE
    assert Release.objects.get(pk=release.pk).phase == "rollout"
    assert (
        AuditEvent.objects.filter(
            release_id=release.pk, verb="release.moved", after__phase="rollout"
        ).count()
        == 1
    )
    assert_consistent(release)

"""Lifecycle services on real PostgreSQL: gates, moves, requested moves, the tick, bad input."""

from datetime import UTC, datetime, timedelta

import pytest
from celery.signals import after_task_publish
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed, ServiceError
from apps.releases import services as rs
from apps.releases.models import PhaseMove, Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.stakeholders.models import Stakeholder
from apps.stakeholders.services import stakeholder_add, stakeholder_remove
from tests.builders import advance, planned_release
from tests.db_state import db_state
from tests.factories import (
    ApplicationFactory,
    EnvironmentFactory,
    ReleaseFactory,
    UserFactory,
    give,
    revoke_all,
)

pytestmark = pytest.mark.django_db


def verbs(release: Release) -> list[str]:
    return list(
        AuditEvent.objects.filter(release_id=release.pk)
        .order_by("id")
        .values_list("verb", flat=True)
    )


def refused_with(to: str, release: Release, actor, **kwargs) -> list[str]:
    with pytest.raises(Conflict) as exc:
        rs.release_move(release_id=release.pk, to=to, actor=actor, **kwargs)
    return [b.code for b in exc.value.blockers]


@pytest.fixture
def release(rita, alice, bob) -> Release:
    return planned_release(rita, qa=alice, business_owner=bob)


@pytest.fixture
def in_testing(release, rita, alice, bob) -> Release:
    return advance(release, rita, qa=alice, business_owner=bob, to="testing")


def open_testing_gate(release: Release, rita, alice, bob) -> None:
    for case in release.test_cases.all():
        rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    so.signoff_give(release_id=release.pk, decision="approve", actor=alice)
    so.signoff_give(release_id=release.pk, decision="approve", actor=bob)


def succeed_waves(release: Release) -> None:
    for wave in Wave.objects.filter(plan__release=release):
        for state in ("deploying", "verifying", "succeeded"):
            wave_transition(wave_id=wave.pk, to=state, actor=None)


@pytest.fixture
def in_rollout(release, rita, alice, bob) -> Release:
    return advance(release, rita, qa=alice, business_owner=bob, to="rollout")


@pytest.fixture
def in_support(release, rita, alice, bob) -> Release:
    return advance(release, rita, qa=alice, business_owner=bob, to="support")


def bare_release(rita, **kwargs) -> Release:
    app = ApplicationFactory(name="ERP", slug="erp")
    return rs.release_create(
        application_id=app.pk, name="ERP 1.0", version="1.0.0", actor=rita, **kwargs
    )


# Each gate through the real services


def test_preparation_refused_for_a_bare_release(rita):
    release = bare_release(rita)
    assert refused_with("preparation", release, rita) == [
        "scope_missing",
        "window_missing",
        "rollout_plan_missing",
    ]


def test_preparation_refused_without_scope(release, rita):
    rs.release_update(release_id=release.pk, scope="", actor=rita)
    assert refused_with("preparation", release, rita) == ["scope_missing"]


def test_preparation_refused_without_window(release, rita):
    rs.release_update(release_id=release.pk, planned_start=None, planned_end=None, actor=rita)
    assert refused_with("preparation", release, rita) == ["window_missing"]


def test_preparation_refused_without_stakeholder_for_a_policy_role(release, rita, bob):
    bob_as_owner = Stakeholder.objects.get(release=release, user=bob)
    stakeholder_remove(stakeholder_id=bob_as_owner.pk, actor=rita)
    assert refused_with("preparation", release, rita) == ["stakeholder_missing"]


def test_preparation_refused_with_a_plan_but_no_wave(rita):
    release = bare_release(
        rita,
        scope="Ledger export.",
        planned_start=timezone.now() + timedelta(days=1),
        planned_end=timezone.now() + timedelta(days=2),
    )
    ro.plan_set(release_id=release.pk, strategy="big_bang", actor=rita)
    assert refused_with("preparation", release, rita) == ["rollout_plan_missing"]


def test_preparation_opens_and_records_the_move(release, rita):
    moved = rs.release_move(release_id=release.pk, to="preparation", actor=rita)
    assert moved.phase == "preparation"
    assert Release.objects.get(pk=release.pk).phase == "preparation"
    assert verbs(release)[-1] == "release.moved"


def test_testing_refused_while_checklist_item_open(release, rita):
    release = advance(release, rita, to="preparation")
    assert refused_with("testing", release, rita) == ["checklist_open"]


def test_testing_opens_with_item_waived_with_reason(release, rita):
    release = advance(release, rita, to="preparation")
    item = release.checklist.get()
    rs.checklist_item_set(item_id=item.pk, status="waived", reason="Nightly backup.", actor=rita)
    assert rs.release_move(release_id=release.pk, to="testing", actor=rita).phase == "testing"


def test_testing_gate_ignores_items_of_environments_without_a_wave(release, rita):
    release = advance(release, rita, to="preparation")
    staging = EnvironmentFactory(name="staging", tier="staging")
    rs.checklist_item_add(
        release_id=release.pk, environment_id=staging.pk, area="data", title="Seed", actor=rita
    )
    rs.checklist_item_set(
        item_id=release.checklist.get(title="Backup confirmed").pk, status="done", actor=rita
    )
    assert rs.release_move(release_id=release.pk, to="testing", actor=rita).phase == "testing"


def test_rollout_refused_without_signoffs(in_testing, rita):
    for case in in_testing.test_cases.all():
        rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    assert refused_with("rollout", in_testing, rita) == ["signoff_missing", "signoff_missing"]


def test_rollout_refused_while_signoff_rejected(in_testing, rita, alice, bob):
    carol = UserFactory(username="carol")
    give(carol, "approver")
    stakeholder_add(release_id=in_testing.pk, user_id=carol.pk, role="qa", actor=rita)
    open_testing_gate(in_testing, rita, alice=carol, bob=bob)
    so.signoff_give(
        release_id=in_testing.pk, decision="reject", comment="Totals are wrong.", actor=alice
    )
    assert refused_with("rollout", in_testing, rita) == ["signoff_rejected"]


@pytest.mark.parametrize("severity", ["critical", "blocker"])
def test_rollout_refused_while_critical_defect_open(in_testing, rita, alice, bob, severity):
    open_testing_gate(in_testing, rita, alice, bob)
    defect = rs.defect_open(release_id=in_testing.pk, title="Crash", severity=severity, actor=alice)
    assert refused_with("rollout", in_testing, rita) == ["defect_open"]
    rs.defect_close(defect_id=defect.pk, resolution="Fixed in build 7.", actor=alice)
    assert rs.release_move(release_id=in_testing.pk, to="rollout", actor=rita).phase == "rollout"


def test_open_major_defect_does_not_block_rollout(in_testing, rita, alice, bob):
    open_testing_gate(in_testing, rita, alice, bob)
    rs.defect_open(release_id=in_testing.pk, title="Slow report", severity="major", actor=alice)
    assert rs.release_move(release_id=in_testing.pk, to="rollout", actor=rita).phase == "rollout"


@pytest.mark.parametrize("status", ["not_run", "failed"])
def test_rollout_refused_while_test_case_not_passed(in_testing, rita, alice, bob, status):
    open_testing_gate(in_testing, rita, alice, bob)
    case = rs.test_case_add(release_id=in_testing.pk, title="Refund an invoice", actor=rita)
    if status == "failed":
        rs.test_case_record(case_id=case.pk, status="failed", note="500 on submit", actor=alice)
    assert refused_with("rollout", in_testing, rita) == ["test_case_open"]


def test_support_refused_while_wave_not_succeeded(in_rollout, rita):
    assert refused_with("support", in_rollout, rita) == ["wave_not_succeeded"]


def test_support_refused_while_a_succeeded_wave_waits_for_its_rollback(in_rollout, rita):
    # An operator asked the deploy tool to roll the last wave back; until the tool confirms,
    # the release must not slip on to support because every wave still reads succeeded.
    waves = Wave.objects.filter(plan__release=in_rollout)
    waves.update(state="succeeded")
    waves.filter(pk=waves.order_by("-position")[0].pk).update(rollback_requested_at=timezone.now())
    assert refused_with("support", in_rollout, rita) == ["wave_rollback_pending"]
    waves.update(rollback_requested_at=None)
    assert rs.release_move(release_id=in_rollout.pk, to="support", actor=rita)


def test_support_opens_with_skipped_wave_that_has_a_reason(in_rollout, rita, oscar):
    wave = Wave.objects.get(plan__release=in_rollout)
    wave_transition(wave_id=wave.pk, to="skipped", reason="Region not live yet.", actor=oscar)
    assert rs.release_move(release_id=in_rollout.pk, to="support", actor=rita).phase == "support"


def test_support_entry_starts_hypercare(in_rollout, rita):
    succeed_waves(in_rollout)
    moved = rs.release_move(release_id=in_rollout.pk, to="support", actor=rita)
    stored = Release.objects.get(pk=in_rollout.pk)
    assert stored.hypercare_until == moved.phase_entered_at + timedelta(days=7)


def test_completion_refused_during_hypercare_and_without_review(in_support, rita):
    assert refused_with("completed", in_support, rita) == ["hypercare_running", "review_missing"]


def test_completion_opens_after_hypercare_with_review(release, rita, alice, bob):
    rs.release_update(release_id=release.pk, hypercare_days=0, actor=rita)
    release = advance(release, rita, qa=alice, business_owner=bob, to="support")
    assert refused_with("completed", release, rita) == ["review_missing"]
    rs.review_write(
        release_id=release.pk,
        went_well="Canary",
        went_badly="DNS",
        actions="Automate DNS",
        actor=rita,
    )
    assert rs.release_move(release_id=release.pk, to="completed", actor=rita).phase == "completed"


# Moves: idempotence, overrides, reasons


def test_release_move_twice_is_one_move(release, rita):
    rs.release_move(release_id=release.pk, to="preparation", actor=rita)
    before = db_state()
    again = rs.release_move(release_id=release.pk, to="preparation", actor=rita)
    assert again.phase == "preparation"
    assert db_state() == before
    assert verbs(release).count("release.moved") == 1


def test_move_not_in_the_lifecycle_refused(release, rita):
    assert refused_with("rollout", release, rita) == ["move_not_allowed"]


def test_override_by_administrator_records_reason_and_blockers(rita, root):
    release = bare_release(rita)
    moved = rs.release_move(
        release_id=release.pk,
        to="preparation",
        actor=root,
        override=True,
        reason="Emergency security fix; CAB approved by phone.",
    )
    assert moved.phase == "preparation"
    event = AuditEvent.objects.filter(release_id=release.pk).latest("id")
    assert event.verb == "release.override_moved"
    assert event.reason == "Emergency security fix; CAB approved by phone."
    assert [b["code"] for b in event.after["overridden_blockers"]] == [
        "scope_missing",
        "window_missing",
        "rollout_plan_missing",
    ]
    assert event.actor_id == root.pk


def test_override_needs_a_reason(rita, root):
    release = bare_release(rita)
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        rs.release_move(release_id=release.pk, to="preparation", actor=root, override=True)
    assert exc.value.field == "reason"
    assert db_state() == before


def test_release_manager_cannot_override(rita):
    release = bare_release(rita)
    before = db_state()
    with pytest.raises(NotAllowed):
        rs.release_move(
            release_id=release.pk, to="preparation", actor=rita, override=True, reason="Hurry."
        )
    assert db_state() == before


def test_override_cannot_make_a_move_the_lifecycle_lacks(release, root):
    assert refused_with("support", release, root, override=True, reason="Skip it all.") == [
        "move_not_allowed"
    ]


@pytest.mark.parametrize(
    ("fixture", "to"),
    [("release", "cancelled"), ("in_testing", "cancelled"), ("in_rollout", "rolled_back")],
)
def test_ending_a_release_early_needs_a_reason(request, rita, fixture, to):
    target = request.getfixturevalue(fixture)
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        rs.release_move(release_id=target.pk, to=to, actor=rita, reason="   ")
    assert exc.value.field == "reason"
    assert db_state() == before
    moved = rs.release_move(release_id=target.pk, to=to, actor=rita, reason="Payments broken.")
    assert moved.phase == to
    event = AuditEvent.objects.filter(release_id=target.pk).latest("id")
    assert (event.verb, event.reason) == ("release.moved", "Payments broken.")


# Content and sign-offs


@pytest.mark.parametrize(
    "change",
    [{"version": "2.0.1"}, {"build_ref": "git:2.0.0-hotfix"}, {"scope": "Invoices only."}],
    ids=lambda c: next(iter(c)),
)
def test_content_change_makes_signoffs_stale(in_testing, rita, alice, bob, change):
    open_testing_gate(in_testing, rita, alice, bob)
    rs.release_update(release_id=in_testing.pk, actor=rita, **change)
    assert refused_with("rollout", in_testing, rita) == ["signoff_missing", "signoff_missing"]
    assert "stale" in AuditEvent.objects.filter(release_id=in_testing.pk).latest("id").reason


def test_name_change_keeps_signoffs(in_testing, rita, alice, bob):
    open_testing_gate(in_testing, rita, alice, bob)
    rs.release_update(release_id=in_testing.pk, name="CRM spring release", actor=rita)
    assert rs.release_move(release_id=in_testing.pk, to="rollout", actor=rita).phase == "rollout"


@pytest.mark.parametrize(
    "change", [{"version": "2.0.1"}, {"build_ref": "other"}, {"scope": "More."}], ids=str
)
def test_content_frozen_in_rollout(in_rollout, rita, change):
    before = db_state()
    with pytest.raises(Conflict):
        rs.release_update(release_id=in_rollout.pk, actor=rita, **change)
    assert db_state() == before


def test_terminal_release_cannot_be_edited(release, rita):
    rs.release_move(release_id=release.pk, to="cancelled", reason="Dropped.", actor=rita)
    with pytest.raises(Conflict):
        rs.release_update(release_id=release.pk, name="Renamed", actor=rita)


def test_release_update_without_change_writes_nothing(release, rita):
    before = db_state()
    rs.release_update(release_id=release.pk, name=release.name, scope=release.scope, actor=rita)
    assert db_state() == before


def test_release_create_refuses_a_duplicate_version(release, rita):
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        rs.release_create(
            application_id=release.application_id, name="Again", version="2.0.0", actor=rita
        )
    assert exc.value.field == "version"
    assert db_state() == before


def test_release_update_refuses_a_version_another_release_has(release, rita, alice, bob):
    other = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    with pytest.raises(ServiceError) as exc:
        rs.release_update(release_id=other.pk, version="2.0.0", actor=rita)
    assert exc.value.field == "version"


# Requested moves and the worker side


@pytest.fixture
def broker():
    """Messages handed to the Redis broker, as (task name, args).

    Read from Celery's publish signal rather than the queue, which a running worker may drain.
    """
    sent: list[tuple[str, list]] = []

    def record(sender: str, body: tuple, **_: object) -> None:
        sent.append((sender, list(body[0])))

    after_task_publish.connect(record, weak=False)
    yield lambda: list(sent)
    after_task_publish.disconnect(record)


def test_request_move_creates_one_pending_move_and_enqueues_it_on_commit(
    release, rita, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
        assert broker() == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert broker() == [("apps.releases.tasks.carry_out_move", [move.pk])]
    assert (move.state, move.from_phase, move.to_phase, move.requested_by) == (
        "pending",
        "planning",
        "preparation",
        rita,
    )
    assert PhaseMove.objects.filter(release=release).count() == 1
    assert verbs(release)[-1] == "release.move_requested"
    assert Release.objects.get(pk=release.pk).phase == "planning"


def test_nothing_enqueued_when_the_transaction_rolls_back(
    release, rita, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
            raise RuntimeError("the caller failed after the request")
    assert callbacks == []
    assert not PhaseMove.objects.exists()


def test_same_request_twice_returns_the_pending_move(
    release, rita, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        first = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
        second = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    assert second.pk == first.pk
    assert PhaseMove.objects.count() == 1
    assert len(callbacks) == 1
    assert verbs(release).count("release.move_requested") == 1


def test_request_to_another_phase_while_one_is_pending_conflicts(release, rita):
    rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    before = db_state()
    with pytest.raises(Conflict) as exc:
        rs.release_request_move(release_id=release.pk, to="cancelled", reason="No.", actor=rita)
    assert "preparation" in exc.value.message
    assert db_state() == before


def test_request_refused_now_has_blockers_and_creates_no_move(rita):
    release = bare_release(rita)
    before = db_state()
    with pytest.raises(Conflict) as exc:
        rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    assert "scope_missing" in [b.code for b in exc.value.blockers]
    assert db_state() == before


def test_request_for_the_current_phase_is_none(release, rita):
    assert rs.release_request_move(release_id=release.pk, to="planning", actor=rita) is None
    assert not PhaseMove.objects.exists()


def test_carry_out_moves_once_and_marks_done(release, rita):
    move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    done = rs.phase_move_carry_out(move_id=move.pk)
    assert done.state == "done" and done.processed_at is not None
    assert Release.objects.get(pk=release.pk).phase == "preparation"
    before = db_state()
    assert rs.phase_move_carry_out(move_id=move.pk) is None
    assert db_state() == before
    assert verbs(release).count("release.moved") == 1


def test_carry_out_refuses_a_move_whose_gate_closed_meanwhile(in_testing, rita, alice, bob):
    open_testing_gate(in_testing, rita, alice, bob)
    move = rs.release_request_move(release_id=in_testing.pk, to="rollout", actor=rita)
    rs.defect_open(release_id=in_testing.pk, title="Data loss", severity="critical", actor=alice)
    refused = rs.phase_move_carry_out(move_id=move.pk)
    assert refused.state == "refused"
    assert [b["code"] for b in refused.blockers] == ["defect_open"]
    assert Release.objects.get(pk=in_testing.pk).phase == "testing"
    event = AuditEvent.objects.filter(release_id=in_testing.pk).latest("id")
    assert event.verb == "release.move_refused"
    assert event.after["blockers"] == refused.blockers
    assert rs.phase_move_carry_out(move_id=move.pk) is None


def test_carry_out_refuses_when_requester_lost_the_role(release, rita):
    move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    revoke_all(rita)
    refused = rs.phase_move_carry_out(move_id=move.pk)
    assert refused.state == "refused"
    assert refused.blockers[0]["code"] == "refused"
    assert Release.objects.get(pk=release.pk).phase == "planning"


# The periodic tick


def later(seconds: float) -> datetime:
    return timezone.now() + timedelta(seconds=seconds)


def test_tick_reenqueues_a_pending_move_whose_message_was_lost(
    release, rita, broker, django_capture_on_commit_callbacks
):
    move = rs.release_request_move(release_id=release.pk, to="preparation", actor=rita)
    retry_after = settings.RELEASEDECK_MOVE_RETRY_AFTER.total_seconds()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert rs.releases_tick(now=later(retry_after / 2))["requeued"] == 0
    assert callbacks == []
    now = later(retry_after + 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        counts = rs.releases_tick(now=now)
    assert counts == {"requeued": 1, "to_support": 0, "to_completed": 0}
    assert broker() == [("apps.releases.tasks.carry_out_move", [move.pk])]
    assert PhaseMove.objects.get(pk=move.pk).enqueued_at == now
    with django_capture_on_commit_callbacks() as callbacks:
        assert rs.releases_tick(now=now)["requeued"] == 0
    assert callbacks == []


def test_tick_moves_a_release_to_support_when_every_wave_succeeded(
    in_rollout, django_capture_on_commit_callbacks
):
    assert rs.releases_tick() == {"requeued": 0, "to_support": 0, "to_completed": 0}
    succeed_waves(in_rollout)
    with django_capture_on_commit_callbacks() as callbacks:
        assert rs.releases_tick()["to_support"] == 1
        assert rs.releases_tick()["to_support"] == 0  # the pending move is not doubled
    assert len(callbacks) == 1
    move = PhaseMove.objects.get(release=in_rollout)
    assert (move.to_phase, move.requested_by) == ("support", None)
    assert rs.phase_move_carry_out(move_id=move.pk).state == "done"
    assert Release.objects.get(pk=in_rollout.pk).phase == "support"
    assert AuditEvent.objects.filter(verb="release.moved").latest("id").actor_label == "system"


def test_tick_completes_a_release_after_hypercare_with_review(release, rita, alice, bob):
    rs.release_update(release_id=release.pk, hypercare_days=0, actor=rita)
    release = advance(release, rita, qa=alice, business_owner=bob, to="support")
    assert rs.releases_tick()["to_completed"] == 0
    rs.review_write(release_id=release.pk, went_well="a", went_badly="b", actions="c", actor=rita)
    assert rs.releases_tick()["to_completed"] == 1
    move = PhaseMove.objects.get(release=release, state="pending")
    rs.phase_move_carry_out(move_id=move.pk)
    assert Release.objects.get(pk=release.pk).phase == "completed"


def test_tick_leaves_support_alone_while_hypercare_runs(in_support, rita):
    rs.review_write(
        release_id=in_support.pk, went_well="a", went_badly="b", actions="c", actor=rita
    )
    before = db_state()
    assert rs.releases_tick() == {"requeued": 0, "to_support": 0, "to_completed": 0}
    assert db_state() == before


def test_tick_does_nothing_for_releases_not_due(in_testing, rita):
    bare_release(rita)
    before = db_state()
    assert rs.releases_tick() == {"requeued": 0, "to_support": 0, "to_completed": 0}
    assert db_state() == before


# Refused by the services: what only they can know (no such row, a window that does not end
# after it starts, given or stored). The shape of each value is checked by the serializers and
# forms that feed them: tests/api/test_refused_input.py and the page tests.

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
MISSING_IDS = [2**40, 987654321]


def missing_id(kw: str, field: str) -> list:
    return [pytest.param({kw: v}, field, id=f"{kw}={v!r:.12}") for v in MISSING_IDS]


def reversed_window() -> list:
    values = [
        ({"planned_start": START, "planned_end": START - timedelta(hours=1)}, "planned_end"),
        ({"planned_start": START, "planned_end": START}, "planned_end"),
    ]
    return [pytest.param(c, f, id=f"{f}-{i}") for i, (c, f) in enumerate(values)]


@pytest.fixture
def rows_release(rita) -> Release:
    """A plain release owned by rita, straight from the factory: enough to refuse input against."""
    return ReleaseFactory(owner=rita)


def assert_refused(call, field: str) -> ServiceError:
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        call()
    assert exc.value.status in (400, 404), exc.value
    assert exc.value.field == field
    assert exc.value.message.endswith("."), exc.value.message
    assert db_state() == before
    return exc.value


CREATE_REFUSED = [
    *missing_id("application_id", "application"),
    *missing_id("owner_id", "owner"),
    *reversed_window(),
]


@pytest.mark.parametrize(("changes", "field"), CREATE_REFUSED)
def test_release_create_refuses_what_only_it_can_check(rita, changes, field):
    app = ApplicationFactory(name="HR", slug="hr")
    valid = {
        "application_id": app.pk,
        "name": "HR 5",
        "version": "5.0.0",
        "build_ref": "git:5",
        "scope": "Payroll.",
        "planned_start": START,
        "planned_end": START + timedelta(days=1),
        "signoff_expiry_days": 7,
        "hypercare_days": 7,
    }
    assert_refused(lambda: rs.release_create(**{**valid, **changes}, actor=rita), field)


def test_release_create_refuses_an_inactive_owner(rita):
    app = ApplicationFactory(name="HR", slug="hr")
    gone = UserFactory(username="gone", is_active=False)
    assert_refused(
        lambda: rs.release_create(
            application_id=app.pk, name="HR", version="1", owner_id=gone.pk, actor=rita
        ),
        "owner",
    )


UPDATE_REFUSED = [
    *missing_id("owner_id", "owner"),
    *reversed_window(),
    pytest.param({"planned_end": START - timedelta(days=3650)}, "planned_end", id="end<start"),
]


@pytest.mark.parametrize(("changes", "field"), UPDATE_REFUSED)
def test_release_update_refuses_what_only_it_can_check(rows_release, rita, changes, field):
    assert_refused(
        lambda: rs.release_update(release_id=rows_release.pk, actor=rita, **changes), field
    )


@pytest.mark.parametrize("service", [rs.release_update, rs.release_move, rs.release_request_move])
@pytest.mark.parametrize("release_id", MISSING_IDS)
def test_release_services_refuse_unknown_release_ids(rita, service, release_id):
    extra = {} if service is rs.release_update else {"to": "preparation"}
    assert_refused(lambda: service(release_id=release_id, actor=rita, **extra), "release")

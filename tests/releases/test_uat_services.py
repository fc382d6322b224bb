"""Checklist, test cases, defects and the review: behaviour and refusals on real PostgreSQL."""

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, ServiceError
from apps.releases import services as rs
from apps.releases.models import ChecklistItem, Defect, PostReleaseReview, Release, TestCase
from apps.stakeholders import services as sh
from tests.builders import advance, planned_release
from tests.db_state import db_state
from tests.factories import EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def last_event(release: Release) -> AuditEvent:
    return AuditEvent.objects.filter(release_id=release.pk).latest("id")


@pytest.fixture
def release(rita) -> Release:
    return ReleaseFactory(owner=rita, phase="preparation")


@pytest.fixture
def env():
    return EnvironmentFactory(name="prod-eu")


@pytest.fixture
def item(release, env, rita) -> ChecklistItem:
    return rs.checklist_item_add(
        release_id=release.pk, environment_id=env.pk, area="data", title="Backup", actor=rita
    )


@pytest.fixture
def case(release, rita) -> TestCase:
    return rs.test_case_add(release_id=release.pk, title="Create an invoice", actor=rita)


@pytest.fixture
def defect(release, alice, rita) -> Defect:
    # alice tests this release as its qa stakeholder, so she may close a critical defect.
    sh.stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    return rs.defect_open(release_id=release.pk, title="Crash", severity="critical", actor=alice)


# Checklist


def test_checklist_item_added_open_and_audited(item, release):
    assert (item.status, item.area, item.title) == ("open", "data", "Backup")
    assert last_event(release).verb == "checklist.added"


def test_checklist_item_done_by_operator_records_who_and_when(item, oscar):
    done = rs.checklist_item_set(item_id=item.pk, status="done", actor=oscar)
    assert (done.status, done.completed_by) == ("done", oscar)
    assert done.completed_at is not None


def test_checklist_waiver_keeps_its_reason(item, rita, release):
    # The API and the page trim what they are sent: tests/api/test_refused_input.py.
    waived = rs.checklist_item_set(
        item_id=item.pk, status="waived", reason="Nightly backup covers it.", actor=rita
    )
    assert (waived.status, waived.waive_reason) == ("waived", "Nightly backup covers it.")
    event = last_event(release)
    assert (event.verb, event.reason) == ("checklist.waived", "Nightly backup covers it.")


@pytest.mark.parametrize("reason", ["", "   "])
def test_checklist_waiver_without_reason_refused(item, rita, reason):
    assert_refused(
        lambda: rs.checklist_item_set(item_id=item.pk, status="waived", reason=reason, actor=rita),
        "reason",
    )


def test_checklist_reopen_clears_completion(item, rita):
    rs.checklist_item_set(item_id=item.pk, status="waived", reason="Later.", actor=rita)
    reopened = rs.checklist_item_set(item_id=item.pk, status="open", actor=rita)
    assert (reopened.status, reopened.waive_reason, reopened.completed_by) == ("open", "", None)


def test_checklist_same_status_twice_writes_once(item, rita):
    rs.checklist_item_set(item_id=item.pk, status="done", actor=rita)
    before = db_state()
    rs.checklist_item_set(item_id=item.pk, status="done", actor=rita)
    assert db_state() == before


# Test cases


def test_test_case_recorded_with_result(case, alice, release):
    recorded = rs.test_case_record(
        case_id=case.pk, status="failed", note="500 on save", actor=alice
    )
    assert (recorded.status, recorded.note, recorded.recorded_by) == (
        "failed",
        "500 on save",
        alice,
    )
    assert last_event(release).verb == "test_case.recorded"


def test_test_case_waiver_needs_a_note(case, rita):
    assert_refused(
        lambda: rs.test_case_record(case_id=case.pk, status="waived", actor=rita), "note"
    )
    waived = rs.test_case_record(
        case_id=case.pk, status="waived", note="Printing is out of scope.", actor=rita
    )
    assert last_event(waived.release).reason == "Printing is out of scope."


def test_test_case_same_result_twice_writes_once(case, rita):
    rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    before = db_state()
    rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    assert db_state() == before


# Defects


def test_defect_opened_and_closed_once(defect, alice, release):
    assert (defect.status, defect.opened_by) == ("open", alice)
    closed = rs.defect_close(defect_id=defect.pk, resolution="Fixed in build 7.", actor=alice)
    assert (closed.status, closed.closed_by, closed.resolution) == (
        "closed",
        alice,
        "Fixed in build 7.",
    )
    before = db_state()
    assert rs.defect_close(defect_id=defect.pk, actor=alice).status == "closed"
    assert db_state() == before
    assert AuditEvent.objects.filter(release_id=release.pk, verb="defect.closed").count() == 1


# Review


def test_review_refused_before_support(release, rita):
    with pytest.raises(Conflict):
        rs.review_write(
            release_id=release.pk, went_well="a", went_badly="b", actions="c", actor=rita
        )


def test_review_written_and_rewritten_in_support(rita):
    release = ReleaseFactory(owner=rita, phase="support")
    rs.review_write(release_id=release.pk, went_well="a", went_badly="b", actions="c", actor=rita)
    rs.review_write(release_id=release.pk, went_well="A", went_badly="B", actions="C", actor=rita)
    review = PostReleaseReview.objects.get(release=release)
    assert (review.went_well, review.went_badly, review.actions) == ("A", "B", "C")
    assert review.is_complete


def test_same_review_twice_writes_nothing(rita):
    release = ReleaseFactory(owner=rita, phase="support")
    rs.review_write(release_id=release.pk, went_well="a", went_badly="b", actions="c", actor=rita)
    before = db_state()
    rs.review_write(release_id=release.pk, went_well="a", went_badly="b", actions="c", actor=rita)
    assert db_state() == before


# Closed releases are read-only


@pytest.mark.parametrize("phase", ["completed", "cancelled", "rolled_back"])
def test_nothing_added_to_a_closed_release(rita, alice, env, phase):
    release = ReleaseFactory(owner=rita, phase=phase)
    calls = [
        lambda: rs.checklist_item_add(
            release_id=release.pk, environment_id=env.pk, area="data", title="X", actor=rita
        ),
        lambda: rs.test_case_add(release_id=release.pk, title="X", actor=rita),
        lambda: rs.defect_open(release_id=release.pk, title="X", severity="minor", actor=alice),
    ]
    before = db_state()
    for call in calls:
        with pytest.raises(Conflict):
            call()
    assert db_state() == before


def test_checklist_and_tests_frozen_once_release_completed(rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    rs.release_update(release_id=release.pk, hypercare_days=0, actor=rita)
    release = advance(release, rita, qa=alice, business_owner=bob, to="support")
    rs.review_write(release_id=release.pk, went_well="a", went_badly="b", actions="c", actor=rita)
    rs.release_move(release_id=release.pk, to="completed", actor=rita)
    item, case = release.checklist.get(), release.test_cases.get()
    before = db_state()
    with pytest.raises(Conflict):
        rs.checklist_item_set(item_id=item.pk, status="open", actor=rita)
    with pytest.raises(Conflict):
        rs.test_case_record(case_id=case.pk, status="failed", note="late", actor=rita)
    assert db_state() == before


# Refused by the services: what only they can know (no such row). The shape of each value is
# checked by the serializers and forms that feed them: tests/api/test_refused_input.py and
# tests/releases/test_inline_views.py.

MISSING_IDS = [2**40, 987654321]


def assert_refused(call, field: str) -> ServiceError:
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        call()
    assert exc.value.status in (400, 404), exc.value
    assert exc.value.field == field
    assert exc.value.message.endswith("."), exc.value.message
    assert db_state() == before
    return exc.value


def missing_id(kw: str, field: str) -> list:
    return [pytest.param(kw, v, field, id=f"{kw}={v!r:.12}") for v in MISSING_IDS]


def support_release(rita) -> Release:
    return ReleaseFactory(owner=rita, phase="support")


SERVICES = {
    "checklist_item_add": (
        rs.checklist_item_add,
        lambda c: {
            "release_id": c.release.pk,
            "environment_id": c.env.pk,
            "area": "data",
            "title": "Backup",
        },
        [*missing_id("release_id", "release"), *missing_id("environment_id", "environment")],
    ),
    "checklist_item_set": (
        rs.checklist_item_set,
        lambda c: {"item_id": c.item.pk, "status": "waived", "reason": "Covered."},
        missing_id("item_id", "item"),
    ),
    "test_case_add": (
        rs.test_case_add,
        lambda c: {"release_id": c.release.pk, "title": "Search", "steps": "1. Search."},
        missing_id("release_id", "release"),
    ),
    "test_case_record": (
        rs.test_case_record,
        lambda c: {"case_id": c.case.pk, "status": "failed", "note": "Broken."},
        missing_id("case_id", "test_case"),
    ),
    "defect_open": (
        rs.defect_open,
        lambda c: {"release_id": c.release.pk, "title": "Crash", "severity": "major"},
        missing_id("release_id", "release"),
    ),
    "defect_close": (
        rs.defect_close,
        lambda c: {"defect_id": c.defect.pk, "resolution": "Fixed."},
        missing_id("defect_id", "defect"),
    ),
    "review_write": (
        rs.review_write,
        lambda c: {
            "release_id": c.support.pk,
            "went_well": "a",
            "went_badly": "b",
            "actions": "c",
        },
        missing_id("release_id", "release"),
    ),
}
CASES = [
    pytest.param(name, *p.values, id=f"{name}-{p.id}")
    for name, (_, _, bad) in SERVICES.items()
    for p in bad
]


class Context:
    def __init__(self, request, rita) -> None:
        self.request = request
        self.rita = rita

    def __getattr__(self, name: str):
        if name == "support":
            return support_release(self.rita)
        return self.request.getfixturevalue(name)


@pytest.mark.parametrize(("service", "kw", "value", "field"), CASES)
def test_uat_services_refuse_unknown_ids(request, rita, service, kw, value, field):
    call, valid, _ = SERVICES[service]
    actor = request.getfixturevalue("alice" if service.startswith("defect") else "rita")
    kwargs = {**valid(Context(request, rita)), kw: value}
    assert_refused(lambda: call(**kwargs, actor=actor), field)


def test_valid_input_of_the_refusal_table_is_accepted(request, rita, alice):
    """The baseline each refused case changes one value of must itself be accepted."""
    context = Context(request, rita)
    for name, (call, valid, _) in SERVICES.items():
        actor = alice if name.startswith("defect") else rita
        call(**valid(context), actor=actor)

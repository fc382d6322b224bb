"""Writes for what a release holds while it is prepared and tested: checklist, tests, defects, review."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError
from apps.core.validation import clean_choice, clean_id, clean_text

from .. import rules
from ..models import (
    ChecklistArea,
    ChecklistItem,
    Defect,
    DefectStatus,
    ItemStatus,
    PostReleaseReview,
    Severity,
    TestCase,
    TestStatus,
)
from .lifecycle import get_release, record_change


def _refuse_if_closed(release: Any) -> None:
    if release.phase in rules.TERMINAL:
        raise Conflict(f"A {release.phase} release cannot be changed.")


def _locked(model: Any, obj_id: Any, field: str) -> Any:
    try:
        return (
            model.objects.select_for_update()
            .select_related("release")
            .get(pk=clean_id(obj_id, field=field))
        )
    except model.DoesNotExist:
        raise NotFound(f"No such {model._meta.verbose_name}.", field=field) from None


def checklist_item_add(
    *, release_id: Any, environment_id: Any, area: Any, title: Any, actor: Any
) -> ChecklistItem:
    from apps.environments.models import Environment

    area = clean_choice(area, field="area", choices=ChecklistArea)
    title = clean_text(title, field="title", max_length=300, required=True)
    try:
        environment = Environment.objects.get(pk=clean_id(environment_id, field="environment"))
    except Environment.DoesNotExist:
        raise ServiceError("No such environment.", field="environment") from None
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.UPDATE_CHECKLIST, release)
        _refuse_if_closed(release)
        item = ChecklistItem.objects.create(
            release=release, environment=environment, area=area, title=title
        )
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="checklist.added",
            obj=item,
            after={"environment": environment.name, "area": area, "title": title},
        )
    return item


def checklist_item_set(*, item_id: Any, status: Any, actor: Any, reason: Any = "") -> ChecklistItem:
    """Tick an item done, waive it (a reason is required) or reopen it."""
    status = clean_choice(status, field="status", choices=ItemStatus)
    reason = clean_text(reason, field="reason", max_length=2000)
    if status == ItemStatus.WAIVED and not reason:
        raise ServiceError("A waiver needs a reason.", field="reason")
    with transaction.atomic():
        item = _locked(ChecklistItem, item_id, "item")
        require(actor, Action.UPDATE_CHECKLIST, item.release)
        _refuse_if_closed(item.release)
        new_reason = reason if status == ItemStatus.WAIVED else ""
        if item.status == status and item.waive_reason == new_reason:
            return item
        before = {"status": item.status, "waive_reason": item.waive_reason}
        item.status = status
        item.waive_reason = new_reason
        item.completed_by = actor if status != ItemStatus.OPEN else None
        item.completed_at = timezone.now() if status != ItemStatus.OPEN else None
        item.save(
            update_fields=["status", "waive_reason", "completed_by", "completed_at", "updated_at"]
        )
        record_change(
            release_id=item.release_id,
            actor=actor,
            verb="checklist.waived" if status == ItemStatus.WAIVED else "checklist.updated",
            obj=item,
            before=before,
            after={"status": status, "waive_reason": new_reason},
            reason=reason,
        )
    return item


def test_case_add(*, release_id: Any, title: Any, actor: Any, steps: Any = "") -> TestCase:
    title = clean_text(title, field="title", max_length=300, required=True)
    steps = clean_text(steps, field="steps", max_length=20000)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.RECORD_TEST, release)
        _refuse_if_closed(release)
        case = TestCase.objects.create(release=release, title=title, steps=steps)
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="test_case.added",
            obj=case,
            after={"title": title},
        )
    return case


def test_case_record(*, case_id: Any, status: Any, actor: Any, note: Any = "") -> TestCase:
    """Record a UAT result; a waiver needs a note saying why."""
    status = clean_choice(status, field="status", choices=TestStatus)
    note = clean_text(note, field="note", max_length=5000)
    if status == TestStatus.WAIVED and not note:
        raise ServiceError("A waived test case needs a note saying why.", field="note")
    with transaction.atomic():
        case = _locked(TestCase, case_id, "test_case")
        require(actor, Action.RECORD_TEST, case.release)
        _refuse_if_closed(case.release)
        if case.status == status and case.note == note:
            return case
        before = {"status": case.status, "note": case.note}
        case.status, case.note = status, note
        case.recorded_by, case.recorded_at = actor, timezone.now()
        case.save(update_fields=["status", "note", "recorded_by", "recorded_at", "updated_at"])
        record_change(
            release_id=case.release_id,
            actor=actor,
            verb="test_case.recorded",
            obj=case,
            before=before,
            after={"status": status, "note": note},
            reason=note if status == TestStatus.WAIVED else "",
        )
    return case


test_case_add.__test__ = False  # type: ignore[attr-defined]
test_case_record.__test__ = False  # type: ignore[attr-defined]


def defect_open(*, release_id: Any, title: Any, severity: Any, actor: Any) -> Defect:
    title = clean_text(title, field="title", max_length=300, required=True)
    severity = clean_choice(severity, field="severity", choices=Severity)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.MANAGE_DEFECTS, release)
        _refuse_if_closed(release)
        defect = Defect.objects.create(
            release=release, title=title, severity=severity, opened_by=actor
        )
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="defect.opened",
            obj=defect,
            after={"title": title, "severity": severity},
        )
    return defect


def defect_close(*, defect_id: Any, actor: Any, resolution: Any = "") -> Defect:
    """Close a defect. A blocker or critical one holds the testing → rollout gate, so it is
    closed only by a release manager or the release's qa stakeholder, with a resolution note."""
    resolution = clean_text(resolution, field="resolution", max_length=5000)
    with transaction.atomic():
        defect = _locked(Defect, defect_id, "defect")
        require(actor, Action.MANAGE_DEFECTS, defect.release)
        if defect.status == DefectStatus.CLOSED:
            return defect
        if defect.severity in rules.BLOCKING_SEVERITIES:
            require(actor, Action.CLOSE_BLOCKING_DEFECT, defect.release)
            if not resolution:
                raise ServiceError(
                    f"Say how the {defect.severity} defect was resolved: closing it needs a "
                    "resolution note.",
                    field="resolution",
                )
        defect.status = DefectStatus.CLOSED
        defect.closed_by, defect.closed_at, defect.resolution = actor, timezone.now(), resolution
        defect.save(update_fields=["status", "closed_by", "closed_at", "resolution", "updated_at"])
        record_change(
            release_id=defect.release_id,
            actor=actor,
            verb="defect.closed",
            obj=defect,
            before={"status": DefectStatus.OPEN},
            after={"status": DefectStatus.CLOSED},
            reason=resolution,
        )
    return defect


def review_write(
    *, release_id: Any, went_well: Any, went_badly: Any, actions: Any, actor: Any
) -> PostReleaseReview:
    """Write or rewrite the post-release review; all three parts are needed."""
    went_well = clean_text(went_well, field="went_well", max_length=20000, required=True)
    went_badly = clean_text(went_badly, field="went_badly", max_length=20000, required=True)
    actions = clean_text(actions, field="actions", max_length=20000, required=True)
    with transaction.atomic():
        release = get_release(release_id, lock=True)
        require(actor, Action.WRITE_REVIEW, release)
        if release.phase not in (rules.SUPPORT, rules.COMPLETED, rules.ROLLED_BACK):
            raise Conflict("The review is written once the release is in support.")
        review, created = PostReleaseReview.objects.get_or_create(
            release=release,
            defaults={
                "went_well": went_well,
                "went_badly": went_badly,
                "actions": actions,
                "written_by": actor,
            },
        )
        if not created:
            if (review.went_well, review.went_badly, review.actions) == (
                went_well,
                went_badly,
                actions,
            ):
                return review
            review.went_well, review.went_badly, review.actions = went_well, went_badly, actions
            review.written_by = actor
            review.save(
                update_fields=["went_well", "went_badly", "actions", "written_by", "updated_at"]
            )
        record_change(
            release_id=release.pk,
            actor=actor,
            verb="review.written",
            obj=review,
            after={"went_well": went_well, "went_badly": went_badly, "actions": actions},
        )
    return review

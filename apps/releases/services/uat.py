"""Writes for what a release holds while it is prepared and tested: checklist, tests, defects, review."""

from typing import TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.core.errors import Conflict, NotFound, ServiceError

from .. import rules
from ..models import (
    ChecklistItem,
    Defect,
    DefectStatus,
    ItemStatus,
    PostReleaseReview,
    Release,
    TestCase,
    TestStatus,
)
from .lifecycle import get_release, record_change

# What the services take is shaped and checked by the API's serializers and the release page's
# forms (lengths, choices, required text); the services check permission, existence, the
# release's phase, and the rules a change must keep (a waiver says why).

_Held = TypeVar("_Held", ChecklistItem, TestCase, Defect)


def _refuse_if_closed(release: Release) -> None:
    if release.phase in rules.TERMINAL:
        raise Conflict(f"A {release.phase} release cannot be changed.")


def _locked(model: type[_Held], obj_id: int, field: str) -> _Held:
    try:
        return model.objects.select_for_update().select_related("release").get(pk=obj_id)
    except model.DoesNotExist:
        raise NotFound(f"No such {model._meta.verbose_name}.", field=field) from None


def checklist_item_add(
    *, release_id: int, environment_id: int, area: str, title: str, actor: User
) -> ChecklistItem:
    """Add a preparation step for one environment, open until someone ticks or waives it."""
    from apps.environments.models import Environment

    environment = Environment.objects.filter(pk=environment_id).first()
    if environment is None:
        raise ServiceError("No such environment.", field="environment")
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


def checklist_item_set(
    *, item_id: int, status: str, actor: User, reason: str = ""
) -> ChecklistItem:
    """Tick an item done, waive it (a reason is required) or reopen it."""
    if status == ItemStatus.WAIVED and not reason.strip():
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


def test_case_add(*, release_id: int, title: str, actor: User, steps: str = "") -> TestCase:
    """Add a UAT test case, not run yet."""
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


def test_case_record(*, case_id: int, status: str, actor: User, note: str = "") -> TestCase:
    """Record a UAT result; a waiver needs a note saying why."""
    if status == TestStatus.WAIVED and not note.strip():
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


def defect_open(*, release_id: int, title: str, severity: str, actor: User) -> Defect:
    """Record a defect found in UAT; an open critical or blocker one holds the rollout gate."""
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


def defect_close(*, defect_id: int, actor: User, resolution: str = "") -> Defect:
    """Close a defect. A blocker or critical one holds the testing → rollout gate, so it is
    closed only by a release manager or the release's qa stakeholder, with a resolution note."""
    with transaction.atomic():
        defect = _locked(Defect, defect_id, "defect")
        require(actor, Action.MANAGE_DEFECTS, defect.release)
        if defect.status == DefectStatus.CLOSED:
            return defect
        if defect.severity in rules.BLOCKING_SEVERITIES:
            require(actor, Action.CLOSE_BLOCKING_DEFECT, defect.release)
            if not resolution.strip():
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
    *, release_id: int, went_well: str, went_badly: str, actions: str, actor: User
) -> PostReleaseReview:
    """Write or rewrite the post-release review, once the release is in support."""
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

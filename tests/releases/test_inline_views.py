"""Inline actions on the release page: checklist, test cases, defects, announcements, review."""

import re

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.notifications.models import Announcement
from apps.releases import services as rs
from apps.releases.models import Defect, PostReleaseReview, Release
from tests.builders import advance, planned_release

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def preparing(rita, alice, bob) -> Release:
    return advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="preparation")


@pytest.fixture
def testing(rita, alice, bob) -> Release:
    return advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")


@pytest.fixture
def in_support(rita, alice, bob) -> Release:
    release = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    return advance(release, rita, qa=alice, business_owner=bob, to="support")


def page(client, release: Release) -> str:
    return client.get(reverse("releases:detail", args=[release.pk])).content.decode()


# ---- Checklist ----


def item_url(release: Release):
    item = release.checklist.get()
    return item, reverse("releases:checklist_set", args=[release.pk, item.pk])


def test_operator_ticks_a_checklist_item_done_inline(client, preparing, oscar):
    item, url = item_url(preparing)
    client.force_login(oscar)
    assert f'hx-post="{url}"' in page(client, preparing)
    response = client.post(url, {"status": "done"}, **HTMX)
    assert response.status_code == 200
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    html = response.content.decode()
    assert 'id="checklist-list"' in html and "<html" not in html
    assert "Reopen" in html
    item.refresh_from_db()
    assert item.status == "done" and item.completed_by == oscar


def test_checklist_item_waived_with_reason_then_reopened(client, preparing, rita):
    item, url = item_url(preparing)
    client.force_login(rita)
    response = client.post(url, {"status": "waived", "reason": "Restored last week."}, **HTMX)
    assert response.status_code == 200
    assert "Waived: Restored last week." in response.content.decode()
    assert client.post(url, {"status": "open"}, **HTMX).status_code == 200
    item.refresh_from_db()
    assert item.status == "open" and item.waive_reason == ""


def test_waiving_without_reason_is_400_and_writes_nothing(client, preparing, rita):
    item, url = item_url(preparing)
    client.force_login(rita)
    response = client.post(url, {"status": "waived", "reason": "  "}, **HTMX)
    assert response.status_code == 400
    assert "A waiver needs a reason." in response.content.decode()
    assert "HX-Trigger-After-Settle" not in response
    item.refresh_from_db()
    assert item.status == "open"


@pytest.mark.parametrize("persona", ["vera", "charlie", "alice"])
def test_checklist_forged_post_is_refused_403(client, preparing, persona, request):
    item, url = item_url(preparing)
    client.force_login(request.getfixturevalue(persona))
    assert client.post(url, {"status": "done"}, **HTMX).status_code == 403
    item.refresh_from_db()
    assert item.status == "open"


def test_checklist_item_of_another_release_is_404(client, preparing, rita):
    item, _ = item_url(preparing)
    other = planned_release(rita, qa=rita, business_owner=rita, version="9.9.9")
    client.force_login(rita)
    url = reverse("releases:checklist_set", args=[other.pk, item.pk])
    assert client.post(url, {"status": "done"}, **HTMX).status_code == 404


def test_checklist_set_rejects_get(client, preparing, rita):
    _, url = item_url(preparing)
    client.force_login(rita)
    assert client.get(url).status_code == 405


def test_viewer_sees_the_checklist_without_buttons(client, preparing, vera):
    _, url = item_url(preparing)
    client.force_login(vera)
    html = page(client, preparing)
    assert "Backup confirmed" in html and "prod-eu" in html
    assert url not in html


# ---- Test cases ----


def test_approver_records_a_test_case_passed(client, testing, alice):
    case = testing.test_cases.get()
    url = reverse("releases:test_record", args=[testing.pk, case.pk])
    client.force_login(alice)
    assert f'hx-post="{url}"' in page(client, testing)
    response = client.post(url, {"status": "passed"}, **HTMX)
    assert response.status_code == 200
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    case.refresh_from_db()
    assert case.status == "passed" and case.recorded_by == alice


def test_waiving_a_test_case_needs_a_note(client, testing, rita):
    case = testing.test_cases.get()
    url = reverse("releases:test_record", args=[testing.pk, case.pk])
    client.force_login(rita)
    response = client.post(url, {"status": "waived"}, **HTMX)
    assert response.status_code == 400
    assert "needs a note" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "not_run"
    assert (
        client.post(url, {"status": "waived", "note": "Covered by e2e."}, **HTMX).status_code == 200
    )
    case.refresh_from_db()
    assert case.status == "waived" and case.note == "Covered by e2e."


def test_a_waived_test_case_offers_actions_that_do_not_look_like_its_status(client, testing, rita):
    case = testing.test_cases.get()
    url = reverse("releases:test_record", args=[testing.pk, case.pk])
    client.force_login(rita)
    client.post(url, {"status": "waived", "note": "Covered by e2e."}, **HTMX)
    html = client.get(reverse("releases:detail", args=[testing.pk])).content.decode()
    row = re.search(rf'<li class="row row-wrap" data-case="{case.pk}">(.*?)</li>', html, re.S)
    row = row.group(1)
    assert '<span class="badge test-waived">Waived</span>' in row
    assert "btn-success " not in row  # no solid green button beside the status badge
    assert re.search(r'class="btn btn-success-outline btn-sm"[^>]*>Mark passed<', row)
    assert re.search(r'class="btn btn-danger-outline btn-sm"[^>]*>Mark failed<', row)


def test_test_case_added_inline(client, testing, rita):
    client.force_login(rita)
    url = reverse("releases:test_add", args=[testing.pk])
    response = client.post(url, {"title": "Export to PDF"}, **HTMX)
    assert response.status_code == 200
    assert "Export to PDF" in response.content.decode()
    assert testing.test_cases.filter(title="Export to PDF").exists()


def test_test_case_without_title_is_400(client, testing, rita):
    client.force_login(rita)
    response = client.post(reverse("releases:test_add", args=[testing.pk]), {"title": ""}, **HTMX)
    assert response.status_code == 400
    assert testing.test_cases.count() == 1


@pytest.mark.parametrize("persona", ["vera", "charlie", "oscar"])
def test_test_case_forged_posts_are_refused_403(client, testing, persona, request):
    case = testing.test_cases.get()
    client.force_login(request.getfixturevalue(persona))
    record = reverse("releases:test_record", args=[testing.pk, case.pk])
    add = reverse("releases:test_add", args=[testing.pk])
    assert client.post(record, {"status": "passed"}, **HTMX).status_code == 403
    assert client.post(add, {"title": "Sneaky"}, **HTMX).status_code == 403
    case.refresh_from_db()
    assert case.status == "not_run" and testing.test_cases.count() == 1


def test_test_case_actions_reject_get(client, testing, rita):
    case = testing.test_cases.get()
    client.force_login(rita)
    assert client.get(reverse("releases:test_add", args=[testing.pk])).status_code == 405
    url = reverse("releases:test_record", args=[testing.pk, case.pk])
    assert client.get(url).status_code == 405


# ---- Defects ----


def test_operator_opens_a_critical_defect_and_only_qa_closes_it(client, testing, oscar, alice):
    client.force_login(oscar)
    response = client.post(
        reverse("releases:defect_open", args=[testing.pk]),
        {"title": "Totals wrong", "severity": "critical"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Totals wrong" in response.content.decode()
    defect = Defect.objects.get(release=testing)
    assert defect.severity == "critical" and defect.opened_by == oscar
    # The open critical defect now blocks the gate.
    assert "defect_open" in page(client, testing)

    url = reverse("releases:defect_close", args=[testing.pk, defect.pk])
    refused = client.post(url, {"resolution": "Fixed in build 7."}, **HTMX)
    assert refused.status_code == 403
    assert "qa stakeholder" in refused.content.decode()
    defect.refresh_from_db()
    assert defect.status == "open"

    client.force_login(alice)  # the release's qa stakeholder
    no_note = client.post(url, {"resolution": ""}, **HTMX)
    assert no_note.status_code == 400
    response = client.post(url, {"resolution": "Fixed in build 7."}, **HTMX)
    assert response.status_code == 200
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    defect.refresh_from_db()
    assert defect.status == "closed" and defect.resolution == "Fixed in build 7."


def test_the_close_form_shows_only_where_the_viewer_may_close(client, testing, oscar, alice):
    rs.defect_open(release_id=testing.pk, title="Totals", severity="blocker", actor=oscar)
    rs.defect_open(release_id=testing.pk, title="Typo", severity="minor", actor=oscar)
    blocker, minor = (Defect.objects.get(title=t) for t in ("Totals", "Typo"))

    client.force_login(oscar)
    as_operator = page(client, testing)
    client.force_login(alice)
    as_qa = page(client, testing)

    assert f'id="close-defect-{minor.pk}"' in as_operator
    assert f'id="close-defect-{blocker.pk}"' not in as_operator
    assert f'id="close-defect-{blocker.pk}"' in as_qa
    assert "Resolution (required)" in as_qa


def test_defect_with_unknown_severity_is_400(client, testing, rita):
    client.force_login(rita)
    response = client.post(
        reverse("releases:defect_open", args=[testing.pk]),
        {"title": "Odd", "severity": "apocalyptic"},
        **HTMX,
    )
    assert response.status_code == 400
    assert not Defect.objects.filter(release=testing).exists()


@pytest.mark.parametrize("persona", ["vera", "charlie"])
def test_defect_forged_posts_are_refused_403(client, testing, rita, persona, request):
    from apps.releases import services as rs

    defect = rs.defect_open(release_id=testing.pk, title="Typo", severity="minor", actor=rita)
    client.force_login(request.getfixturevalue(persona))
    opened = client.post(
        reverse("releases:defect_open", args=[testing.pk]),
        {"title": "Forged", "severity": "minor"},
        **HTMX,
    )
    closed = client.post(reverse("releases:defect_close", args=[testing.pk, defect.pk]), **HTMX)
    assert (opened.status_code, closed.status_code) == (403, 403)
    defect.refresh_from_db()
    assert defect.status == "open" and Defect.objects.filter(release=testing).count() == 1


def test_defect_actions_reject_get(client, testing, rita):
    client.force_login(rita)
    assert client.get(reverse("releases:defect_open", args=[testing.pk])).status_code == 405
    assert client.get(reverse("releases:defect_close", args=[testing.pk, 1])).status_code == 405


# ---- Announcements ----


def test_release_manager_adds_an_announcement_in_local_time(client, testing, rita):
    from apps.accounts.models import Profile

    Profile.objects.create(user=rita, time_zone="Europe/Berlin")
    client.force_login(rita)
    response = client.post(
        reverse("releases:announcement_add", args=[testing.pk]),
        {
            "title": "New invoice screen",
            "body": "Invoices look different from Monday.",
            "publish_at": "2030-03-04T09:30",
            "training_url": "https://learn.example.com/invoices",
        },
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    assert "New invoice screen" in html and "https://learn.example.com/invoices" in html
    assert "4 Mar 2030, 09:30 CET" in html
    announcement = Announcement.objects.get(release=testing)
    assert announcement.publish_at.isoformat() == "2030-03-04T08:30:00+00:00"


def test_announcement_with_bad_link_is_400_and_not_saved(client, testing, rita):
    client.force_login(rita)
    response = client.post(
        reverse("releases:announcement_add", args=[testing.pk]),
        {"title": "T", "body": "B", "training_url": "javascript:alert(1)"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "training_url" in response.content.decode()
    assert not Announcement.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": "  "}, "title is required."),
        ({"body": ""}, "body is required."),
        ({"title": "t" * 201}, "title must be at most 200 characters."),
        ({"publish_at": "next Monday"}, "Publish time must be a date and time."),
        ({"publish_at": "1969-12-31T23:00"}, "publish_at is out of range."),
    ],
)
def test_announcement_with_a_bad_value_is_400_with_the_reason(
    client, testing, rita, change, message
):
    client.force_login(rita)
    response = client.post(
        reverse("releases:announcement_add", args=[testing.pk]),
        {"title": "T", "body": "B"} | change,
        **HTMX,
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Announcement.objects.exists()


@pytest.mark.parametrize("persona", ["vera", "charlie", "alice"])
def test_announcement_forged_post_is_refused_403(client, testing, persona, request):
    client.force_login(request.getfixturevalue(persona))
    response = client.post(
        reverse("releases:announcement_add", args=[testing.pk]), {"title": "T", "body": "B"}
    )
    assert response.status_code == 403
    assert not Announcement.objects.exists()


def test_announcement_add_rejects_get(client, testing, rita):
    client.force_login(rita)
    assert client.get(reverse("releases:announcement_add", args=[testing.pk])).status_code == 405


# ---- Post-release review ----

REVIEW = {
    "went_well": "Smooth canary.",
    "went_badly": "Late sign-off.",
    "actions": "Book QA early.",
}


def test_review_card_appears_only_once_in_support(client, testing, in_support, rita):
    client.force_login(rita)
    assert "Post-release review" not in page(client, testing)
    assert 'name="went_well"' in page(client, in_support)


def test_release_manager_writes_the_review_and_others_read_it(client, in_support, rita, vera):
    client.force_login(rita)
    response = client.post(reverse("releases:review", args=[in_support.pk]), REVIEW, **HTMX)
    assert response.status_code == 200
    assert "release-changed" in response["HX-Trigger-After-Settle"]
    assert PostReleaseReview.objects.get(release=in_support).actions == "Book QA early."
    client.force_login(vera)
    html = page(client, in_support)
    assert "Late sign-off." in html and 'name="went_well"' not in html


def test_incomplete_review_is_400_and_not_saved(client, in_support, rita):
    client.force_login(rita)
    response = client.post(
        reverse("releases:review", args=[in_support.pk]), {**REVIEW, "actions": ""}, **HTMX
    )
    assert response.status_code == 400
    assert not PostReleaseReview.objects.exists()


def test_review_before_support_is_409(client, testing, rita):
    client.force_login(rita)
    response = client.post(reverse("releases:review", args=[testing.pk]), REVIEW, **HTMX)
    assert response.status_code == 409
    assert not PostReleaseReview.objects.exists()


@pytest.mark.parametrize("persona", ["vera", "charlie", "alice"])
def test_review_forged_post_is_refused_403(client, in_support, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(reverse("releases:review", args=[in_support.pk]), REVIEW).status_code == 403
    assert not PostReleaseReview.objects.exists()


def test_review_rejects_get(client, in_support, rita):
    client.force_login(rita)
    assert client.get(reverse("releases:review", args=[in_support.pk])).status_code == 405


# ---- What the forms refuse ----


def _urls(release: Release) -> dict[str, str]:
    item, case = release.checklist.get(), release.test_cases.get()
    defect = rs.defect_open(
        release_id=release.pk, title="Typo", severity="minor", actor=release.owner
    )
    return {
        "checklist": reverse("releases:checklist_set", args=[release.pk, item.pk]),
        "test_add": reverse("releases:test_add", args=[release.pk]),
        "test_record": reverse("releases:test_record", args=[release.pk, case.pk]),
        "defect_open": reverse("releases:defect_open", args=[release.pk]),
        "defect_close": reverse("releases:defect_close", args=[release.pk, defect.pk]),
    }


FORM_BAD = [
    ("checklist", {"status": "finished"}, "status must be one of: open, done, waived."),
    ("checklist", {"status": ""}, "status must be one of: open, done, waived."),
    ("checklist", {"status": "waived", "reason": "r" * 2001}, "reason must be at most 2000"),
    ("checklist", {"status": "waived", "reason": "a\x00b"}, "reason must not contain NUL"),
    ("test_add", {"title": "   "}, "title is required."),
    ("test_add", {"title": "t" * 301}, "title must be at most 300 characters."),
    ("test_add", {"title": "a\x00b"}, "title must not contain NUL characters."),
    ("test_add", {"title": "T", "steps": "s" * 20001}, "steps must be at most 20000"),
    ("test_record", {"status": "PASSED"}, "status must be one of: not_run, passed, failed"),
    ("test_record", {"status": "failed", "note": "n" * 5001}, "note must be at most 5000"),
    ("defect_open", {"title": "", "severity": "minor"}, "title is required."),
    ("defect_open", {"title": "x" * 301, "severity": "minor"}, "title must be at most 300"),
    ("defect_open", {"title": "Odd"}, "severity must be one of: blocker, critical, major"),
    ("defect_close", {"resolution": "r" * 5001}, "resolution must be at most 5000 characters."),
]


@pytest.mark.parametrize(("action", "data", "message"), FORM_BAD)
def test_inline_forms_refuse_bad_input_with_the_reason_and_write_nothing(
    client, testing, rita, action, data, message
):
    url = _urls(testing)[action]

    def rows() -> tuple:
        return (
            AuditEvent.objects.count(),
            list(testing.checklist.values_list("status", "waive_reason")),
            list(testing.test_cases.values_list("title", "status", "note")),
            list(Defect.objects.filter(release=testing).values_list("title", "status")),
        )

    before = rows()
    client.force_login(rita)
    response = client.post(url, data, **HTMX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "HX-Trigger-After-Settle" not in response
    assert rows() == before


def test_inline_forms_store_what_they_are_sent_trimmed(client, preparing, rita):
    item, url = item_url(preparing)
    client.force_login(rita)
    response = client.post(url, {"status": "waived", "reason": "  Restored last week. "}, **HTMX)
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.waive_reason == "Restored last week."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"went_well": "  "}, "went_well is required."),
        ({"went_badly": "b" * 20001}, "went_badly must be at most 20000 characters."),
        ({"actions": "a\x00b"}, "actions must not contain NUL characters."),
    ],
)
def test_review_with_a_bad_part_is_400_with_the_reason(client, in_support, rita, change, message):
    client.force_login(rita)
    response = client.post(
        reverse("releases:review", args=[in_support.pk]), REVIEW | change, **HTMX
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not PostReleaseReview.objects.exists()


# ---- Live part ----


def test_live_part_refreshes_each_list_but_not_the_add_forms(client, testing, rita):
    client.force_login(rita)
    html = client.get(reverse("releases:detail", args=[testing.pk]), **HTMX).content.decode()
    for part in ("checklist-list", "tests-list", "defects-list", "announcements-list", "review"):
        assert f'id="{part}" hx-swap-oob="true"' in html
    assert 'id="test-title"' not in html  # the add form is outside the swapped parts


def test_page_queries_do_not_grow_with_announcements_and_defects(client, in_support, rita):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.notifications.services import announcement_create
    from apps.releases import services as rs

    client.force_login(rita)
    url = reverse("releases:detail", args=[in_support.pk])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    before = count()
    for n in range(4):
        announcement_create(release_id=in_support.pk, title=f"News {n}", body="B", actor=rita)
    rs.review_write(release_id=in_support.pk, **REVIEW, actor=rita)
    assert count() == before

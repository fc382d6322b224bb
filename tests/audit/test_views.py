"""The audit log page through the Django test client: filters, pages, downloads, the chain
check, and who may do what."""

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import Profile
from apps.audit.models import AuditEvent
from apps.pages.audit_forms import RELEASES_OFFERED
from apps.releases import services as rs
from apps.releases.models import Release
from tests.builders import planned_release

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGE = reverse("audit:page")
EXPORT = reverse("audit:export")
VERIFY = reverse("audit:verify")
TRIGGER = "audit_event_append_only"


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<div class="field-error" id="id_{field}_error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


def listed(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-event="(\d+)">', html)]


@pytest.fixture
def release(rita, alice, bob) -> Release:
    return planned_release(rita, qa=alice, business_owner=bob)


def stamp(event_ids: list[int], at: datetime) -> None:
    """Move events in time behind the append-only trigger, as a fixture only."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
        cursor.execute("UPDATE audit_auditevent SET at = %s WHERE id = ANY(%s)", [at, event_ids])
        cursor.execute(f"ALTER TABLE audit_auditevent ENABLE TRIGGER {TRIGGER}")


# ---- What the page shows ----


def test_page_lists_events_newest_first_with_who_what_and_why(client, vera, rita, release):
    rs.release_update(release_id=release.pk, scope="Invoices only.", actor=rita)
    client.force_login(vera)
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    ids = listed(html)
    assert ids == sorted(ids, reverse=True)
    assert ids[0] == AuditEvent.objects.latest("id").pk
    assert '<code class="verb">release.updated</code>' in html
    assert "“Content changed: earlier sign-offs are stale.”" in html
    assert f'href="{reverse("releases:detail", args=[release.pk])}">CRM 2.0.0</a>' in html
    assert '<dd class="new"><span class="visually-hidden">after: </span>Invoices only.</dd>' in html


def test_filters_by_release_actor_and_action_prefix(client, vera, rita, alice, bob, release):
    other = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    client.force_login(vera)
    html = client.get(PAGE, {"release": other.pk}).content.decode()
    assert set(listed(html)) == set(
        AuditEvent.objects.filter(release_id=other.pk).values_list("id", flat=True)
    )
    html = client.get(PAGE, {"verb": "stakeholder", "actor": "rita"}).content.decode()
    expected = AuditEvent.objects.filter(verb__startswith="stakeholder", actor_label="rita")
    assert set(listed(html)) == set(expected.values_list("id", flat=True))
    assert expected.count() == 4
    assert "4 events match" in html
    assert client.get(PAGE, {"actor": "nobody"}).content.decode().count("No event matches") == 1


def test_date_range_is_whole_days_in_the_viewer_time_zone(client, vera, release):
    Profile.objects.create(user=vera, time_zone="Pacific/Auckland")
    first, second, *_ = AuditEvent.objects.order_by("id").values_list("id", flat=True)
    stamp([first], datetime(2030, 6, 9, 11, 0, tzinfo=UTC))  # 23:00 on the 9th in Auckland
    stamp([second], datetime(2030, 6, 9, 13, 0, tzinfo=UTC))  # 01:00 on the 10th in Auckland
    client.force_login(vera)
    html = client.get(PAGE, {"date_from": "2030-06-10", "date_to": "2030-06-10"}).content.decode()
    assert listed(html) == [second]
    html = client.get(PAGE, {"date_from": "2030-06-09", "date_to": "2030-06-09"}).content.decode()
    assert listed(html) == [first]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"release": "abc"}, "release"),
        ({"release": "987654"}, "release"),
        ({"date_from": "someday"}, "date_from"),
        ({"date_from": "2030-06-10", "date_to": "2030-06-01"}, "date_to"),
        ({"verb": "x" * 65}, "verb"),
        ({"actor": "ri\x00ta"}, "actor"),
    ],
    ids=["release-text", "release-unknown", "date", "reversed", "long-verb", "nul"],
)
def test_bad_filters_are_form_errors_not_crashes(client, vera, release, params, field):
    client.force_login(vera)
    response = client.get(PAGE, params)
    assert response.status_code == 400
    assert field_error(response.content.decode(), field)


def test_pages_keep_the_filters(client, vera, rita, release):
    for n in range(60):
        rs.release_update(release_id=release.pk, name=f"CRM take {n}", actor=rita)
    client.force_login(vera)
    html = client.get(PAGE, {"verb": "release."}).content.decode()
    first = listed(html)
    assert len(first) == 50
    assert f'href="?verb=release.&amp;before={first[-1]}"' in html
    assert "after=" not in html
    html = client.get(PAGE, {"verb": "release.", "before": first[-1]}).content.decode()
    second = listed(html)
    assert second and 'id="live"' not in html  # only the newest page follows new events
    expected = AuditEvent.objects.filter(verb__startswith="release.").order_by("-id")
    assert first + second == list(expected.values_list("id", flat=True))
    assert f'href="?verb=release.&amp;after={second[0]}"' in html
    assert "before=" not in html.split('id="results"')[1]  # the last page has no older link
    html = client.get(PAGE, {"verb": "release.", "after": second[0]}).content.decode()
    assert listed(html) == first


def test_keyset_pages_hold_steady_while_events_are_added(client, vera, rita, release):
    for n in range(60):
        rs.release_update(release_id=release.pk, name=f"CRM take {n}", actor=rita)
    client.force_login(vera)
    first = listed(client.get(PAGE).content.decode())
    rs.release_update(release_id=release.pk, name="CRM once more", actor=rita)
    second = listed(client.get(PAGE, {"before": first[-1]}).content.decode())
    assert second[0] < first[-1] and not set(first) & set(second)


def test_the_count_stops_at_its_cap(client, vera, release, monkeypatch):
    from apps.pages import audit as views

    monkeypatch.setattr(views, "COUNT_CAP", 3)
    client.force_login(vera)
    assert "More than 3 events" in client.get(PAGE).content.decode()
    assert "More than 3 events match" in client.get(PAGE, {"actor": "rita"}).content.decode()


@pytest.mark.parametrize("cursor", [{"before": "x"}, {"after": "0"}, {"before": "9" * 30}])
def test_bad_page_cursor_is_a_form_error(client, vera, release, cursor):
    client.force_login(vera)
    response = client.get(PAGE, cursor)
    assert response.status_code == 400
    assert field_error(response.content.decode(), next(iter(cursor)))


def test_person_without_role_cannot_read_the_log(client, charlie, release):
    client.force_login(charlie)
    assert client.get(PAGE).status_code == 403
    assert client.get(EXPORT, {"as": "csv"}).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_page_rejects_post(client, vera):
    client.force_login(vera)
    assert client.post(PAGE).status_code == 405
    assert client.post(EXPORT).status_code == 405


# ---- Downloads ----


def test_csv_download_holds_the_filtered_events_like_the_api_export(
    client, vera, rita, alice, bob, release
):
    other = planned_release(rita, qa=alice, business_owner=bob, version="3.0.0")
    client.force_login(vera)
    response = client.get(EXPORT, {"as": "csv", "release": other.pk})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="audit-events.csv"'
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["id"]) for r in rows] == list(
        AuditEvent.objects.filter(release_id=other.pk).order_by("id").values_list("id", flat=True)
    )
    api = client.get("/api/v1/audit-events/export/", {"as": "csv", "release": other.pk})
    assert b"".join(api.streaming_content).decode() == body


def test_json_download_parses_and_carries_the_hashes(client, vera, release):
    client.force_login(vera)
    response = client.get(EXPORT, {"as": "json", "verb": "policy"})
    document = json.loads(b"".join(response.streaming_content))
    events = document["events"]
    assert response["Content-Type"] == "application/json"
    assert document["filters"] == {"verb": "policy"} and document["complete"] is False
    assert [e["verb"] for e in events] == ["policy.set"]
    assert events[0]["hash"] == AuditEvent.objects.get(verb="policy.set").hash


def test_download_links_carry_the_filters(client, vera, release):
    client.force_login(vera)
    html = client.get(PAGE, {"verb": "signoff", "actor": "alice"}).content.decode()
    assert f'href="{EXPORT}?actor=alice&amp;verb=signoff&amp;as=csv"' in html or (
        f'href="{EXPORT}?verb=signoff&amp;actor=alice&amp;as=csv"' in html
    )


@pytest.mark.parametrize("params", [{"as": "xml"}, {"as": "csv", "date_from": "nope"}])
def test_download_with_bad_input_is_400_with_the_page(client, vera, release, params):
    client.force_login(vera)
    response = client.get(EXPORT, params)
    assert response.status_code == 400
    assert "<html" in response.content.decode()


# ---- Chain check ----


def test_administrator_verifies_an_intact_chain(client, root, release):
    client.force_login(root)
    assert "Verify the chain" in client.get(PAGE).content.decode()
    response = client.post(VERIFY, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "The chain is intact." in html
    assert f"All {AuditEvent.objects.count()} events" in html


def test_administrator_sees_where_the_chain_is_broken(client, root, release):
    victim = AuditEvent.objects.order_by("id")[2]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [victim.pk])
        cursor.execute(f"ALTER TABLE audit_auditevent ENABLE TRIGGER {TRIGGER}")
    client.force_login(root)
    html = client.post(VERIFY).content.decode()
    assert f"The chain is broken at event #{victim.pk}" in html
    assert "its content does not match its hash" in html
    assert "The 2 events before it check out." in html


@pytest.mark.parametrize("persona", ["rita", "vera", "oscar", "charlie"])
def test_chain_check_is_for_administrators_only(client, release, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert "Verify the chain" not in client.get(PAGE).content.decode()
    response = client.post(VERIFY, **HTMX)
    assert response.status_code == 403
    assert "The chain is" not in response.content.decode()


def test_chain_check_rejects_get(client, root):
    client.force_login(root)
    assert client.get(VERIFY).status_code == 405


# ---- Live updates ----


def live_url(html: str) -> str:
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match
    return match.group(1).replace("&amp;", "&")


def test_live_unchanged_answers_204_after_one_query(client, vera, release, poll_costs_one_query):
    client.force_login(vera)
    url = live_url(client.get(PAGE, {"verb": "release"}).content.decode())
    assert "verb=release" in url
    assert client.get(url, **HTMX).status_code == 204
    poll_costs_one_query(client, url)


def test_live_shows_a_new_event_within_the_filters(client, vera, rita, release):
    client.force_login(vera)
    url = live_url(client.get(PAGE, {"verb": "release"}).content.decode())
    rs.release_update(release_id=release.pk, name="Renamed", actor=rita)
    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="results"')
    assert listed(html)[0] == AuditEvent.objects.latest("id").pk
    assert all(
        v.startswith("release") for v in re.findall(r'<code class="verb">([^<]+)</code>', html)
    )
    assert client.get(live_url(html), **HTMX).status_code == 204


def test_live_refuses_person_without_role(client, vera, charlie, release):
    client.force_login(vera)
    url = live_url(client.get(PAGE).content.decode())
    client.force_login(charlie)
    assert client.get(url, **HTMX).status_code == 403


# ---- Query budget ----


def page_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PAGE, params)
    assert response.status_code == 200
    return len(queries)


def test_page_queries_do_not_grow_with_the_log_or_the_releases(client, vera, rita, alice, bob):
    planned_release(rita, qa=alice, business_owner=bob)
    client.force_login(vera)
    few = (page_queries(client), page_queries(client, verb="release", page="1"))
    for n in range(30):
        planned_release(rita, qa=alice, business_owner=bob, version=f"9.{n}.0")
    assert AuditEvent.objects.count() > 200
    assert (page_queries(client), page_queries(client, verb="release", page="1")) == few
    assert few[0] <= 12


# ---- The release filter: a bounded list and a search ----

OPTIONS = reverse("audit:release-options")


def release_options(html: str) -> list[tuple[str, bool, str]]:
    select = re.search(r'<select name="release".*?</select>', html, re.S)[0]
    return [
        (value, bool(selected), label.strip())
        for value, selected, label in re.findall(
            r'<option value="(\d*)"( selected)?[^>]*>([^<]*)</option>', select
        )
    ]


@pytest.fixture
def many_releases(rita) -> list[Release]:
    from tests.factories import ApplicationFactory, ReleaseFactory

    erp = ApplicationFactory(name="ERP", slug="erp")
    older = [ReleaseFactory(owner=rita, application=erp, version=f"0.{n}.0") for n in range(3)]
    return older + ReleaseFactory.create_batch(RELEASES_OFFERED + 10, owner=rita)


def test_release_filter_lists_a_bounded_number_of_releases(client, vera, many_releases):
    client.force_login(vera)
    options = release_options(client.get(PAGE).content.decode())
    assert options[0] == ("", True, "Any release")
    assert len(options) == RELEASES_OFFERED + 1
    newest = {str(r.pk) for r in many_releases[-RELEASES_OFFERED:]}
    assert {value for value, _, _ in options[1:]} == newest


def test_filtering_by_a_release_not_listed_keeps_it_chosen(client, vera, rita, many_releases):
    oldest = many_releases[0]
    rs.release_update(release_id=oldest.pk, scope="Old one.", actor=rita)
    client.force_login(vera)
    html = client.get(PAGE, {"release": oldest.pk}).content.decode()
    assert (str(oldest.pk), True, "ERP 0.0.0") in release_options(html)
    assert set(listed(html)) == set(
        AuditEvent.objects.filter(release_id=oldest.pk).values_list("id", flat=True)
    )


def test_release_search_offers_the_matching_releases(client, vera, many_releases):
    client.force_login(vera)
    response = client.get(OPTIONS, {"release_q": "erp"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    found = re.findall(r'<option value="(\d*)"[^>]*>([^<]*)</option>', html)
    assert found == [("", "Any release")] + [
        (str(r.pk), f"ERP {r.version}") for r in reversed(many_releases[:3])
    ]
    nothing = client.get(OPTIONS, {"release_q": "no such thing"}, **HTMX).content.decode()
    assert "No release matches “no such thing”" in nothing


def test_release_search_keeps_the_chosen_release(client, vera, many_releases):
    chosen = many_releases[-1]
    client.force_login(vera)
    html = client.get(OPTIONS, {"release_q": "erp", "release": chosen.pk}, **HTMX).content.decode()
    assert f'<option value="{chosen.pk}" selected>' in html


def test_release_search_refuses_bad_input_and_people_without_a_role(client, vera, charlie):
    client.force_login(vera)
    assert client.get(OPTIONS, {"release_q": "x" * 101}).status_code == 400
    assert client.get(OPTIONS, {"release": "9" * 30}).status_code == 200
    assert client.post(OPTIONS).status_code == 405
    client.force_login(charlie)
    assert client.get(OPTIONS, {"release_q": "erp"}).status_code == 403
    client.logout()
    assert client.get(OPTIONS).status_code == 302


def test_a_huge_release_number_is_a_form_error(client, vera):
    client.force_login(vera)
    response = client.get(PAGE, {"release": "9" * 30})
    assert response.status_code == 400
    assert field_error(response.content.decode(), "release")


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({"release": "1"}, "audit_event_release_idx"),
        ({"actor": "rita"}, "audit_event_actor_idx"),
        ({"verb": "signoff"}, "audit_event_verb_idx"),
    ],
)
def test_each_filter_has_an_index_that_serves_a_page(release, params, index):
    from apps.pages.audit_forms import AuditFilterForm

    form = AuditFilterForm(
        {**params, "release": str(release.pk)} if "release" in params else params
    )
    assert form.is_valid(), form.errors
    page = form.filter(AuditEvent.objects.all()).order_by("-id")[:51]
    with connection.cursor() as cursor:
        # A tiny test table is cheaper to scan; forbid that to see which index the page uses.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = page.explain()
    assert index in plan
    if "verb" not in params:  # equality: read in id order, no sort
        assert "Sort" not in plan

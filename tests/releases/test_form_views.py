"""The releases list's filters and the create and edit forms, through the Django test client."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Profile
from apps.audit.models import AuditEvent
from apps.releases import services as rs
from apps.releases.models import Release
from apps.signoffs import services as so
from tests.builders import advance, planned_release
from tests.factories import ApplicationFactory, ReleaseFactory, UserFactory, give

pytestmark = pytest.mark.django_db

LIST = reverse("releases:list")
NEW = reverse("releases:new")


def edit_url(release: Release) -> str:
    return reverse("releases:edit", args=[release.pk])


def detail_url(release: Release) -> str:
    return reverse("releases:detail", args=[release.pk])


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<div class="field-error" id="id_{field}_error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


# ---- List filters ----


@pytest.fixture
def catalogue(rita):
    """CRM and ERP releases owned by rita or rick, planned in different weeks."""
    rick = UserFactory(username="rick")
    crm = ApplicationFactory(name="CRM", slug="crm")
    erp = ApplicationFactory(name="ERP", slug="erp")
    day = datetime(2030, 6, 10, 8, 0, tzinfo=UTC)
    return {
        "crm1": ReleaseFactory(
            application=crm,
            version="1.0",
            owner=rita,
            planned_start=day,
            planned_end=day + timedelta(hours=4),
        ),
        "crm2": ReleaseFactory(
            application=crm,
            version="2.0",
            owner=rick,
            planned_start=day + timedelta(days=14),
            planned_end=day + timedelta(days=14, hours=4),
            phase="testing",
        ),
        "erp1": ReleaseFactory(
            application=erp,
            version="7.0",
            owner=rita,
            planned_start=day + timedelta(days=7),
            planned_end=day + timedelta(days=9),
        ),
        "unplanned": ReleaseFactory(
            application=erp, version="8.0", owner=rick, planned_start=None, planned_end=None
        ),
        "rick": rick,
        "crm": crm,
    }


def listed(client, **params) -> set[str]:
    response = client.get(LIST, params)
    assert response.status_code == 200, response.content.decode()
    html = response.content.decode()
    return {m for m in re.findall(r'href="/releases/(\d+)/"', html)}


def ids(*releases: Release) -> set[str]:
    return {str(r.pk) for r in releases}


def test_list_filters_by_application(client, vera, catalogue):
    client.force_login(vera)
    c = catalogue
    assert listed(client, application=c["crm"].pk) == ids(c["crm1"], c["crm2"])


def test_list_filters_by_owner(client, vera, catalogue):
    client.force_login(vera)
    c = catalogue
    assert listed(client, owner=c["rick"].pk) == ids(c["crm2"], c["unplanned"])


def test_list_filters_by_planned_window_overlapping_the_days(client, vera, catalogue):
    client.force_login(vera)
    c = catalogue
    # 17 June: inside ERP 7.0's window (17th–19th); CRM 2.0 starts the 24th.
    assert listed(client, planned_from="2030-06-18", planned_to="2030-06-18") == ids(c["erp1"])
    assert listed(client, planned_from="2030-06-10", planned_to="2030-06-17") == ids(
        c["crm1"], c["erp1"]
    )
    assert listed(client, planned_from="2030-06-20") == ids(c["crm2"])


def test_planned_days_are_read_in_the_viewer_time_zone(client, vera, rita):
    Profile.objects.create(user=vera, time_zone="Pacific/Auckland")
    # 23:00 UTC on the 9th is already 11:00 on the 10th in Auckland.
    late = ReleaseFactory(
        owner=rita,
        planned_start=datetime(2030, 6, 9, 23, 0, tzinfo=UTC),
        planned_end=datetime(2030, 6, 9, 23, 30, tzinfo=UTC),
    )
    client.force_login(vera)
    assert listed(client, planned_from="2030-06-10", planned_to="2030-06-10") == ids(late)
    assert listed(client, planned_from="2030-06-09", planned_to="2030-06-09") == set()


def test_filters_combine_with_the_phase_chips(client, vera, catalogue):
    client.force_login(vera)
    c = catalogue
    response = client.get(LIST, {"application": c["crm"].pk})
    html = response.content.decode()
    # The chips count within the other filters and keep them in their links.
    assert re.search(r"Testing <span class=\"count\">1</span>", html)
    assert f'href="?application={c["crm"].pk}&amp;phase=testing"' in html
    assert listed(client, application=c["crm"].pk, phase="testing") == ids(c["crm2"])
    assert "2 releases match these filters." in html


def test_pager_keeps_the_filters(client, vera, rita):
    app = ApplicationFactory(name="Big", slug="big")
    for n in range(55):
        ReleaseFactory(application=app, owner=rita, version=f"0.{n}")
    client.force_login(vera)
    html = client.get(LIST, {"application": app.pk}).content.decode()
    assert f'href="?application={app.pk}&amp;page=2"' in html


@pytest.mark.parametrize(
    "params, field",
    [
        ({"phase": "bogus"}, "phase"),
        ({"application": "abc"}, "application"),
        ({"application": "99999999999999999999999"}, "application"),
        ({"owner": "-1"}, "owner"),
        ({"planned_from": "yesterday"}, "planned_from"),
        ({"planned_to": "2030-13-40"}, "planned_to"),
        ({"planned_from": "2030-06-10", "planned_to": "2030-06-01"}, "planned_to"),
        ({"application": "1\x00"}, "application"),
    ],
    ids=["phase", "app-text", "app-huge", "owner", "from", "to", "reversed", "nul"],
)
def test_bad_filter_values_are_form_errors(client, vera, catalogue, params, field):
    client.force_login(vera)
    response = client.get(LIST, params)
    html = response.content.decode()
    assert response.status_code == 400
    if field == "phase":
        assert "Phase: Select a valid choice." in html
    else:
        assert field_error(html, field)
        assert f'aria-describedby="id_{field}_error"' in html
    # The page still lists releases; only the bad filter is ignored.
    assert "<table" in html


def test_new_release_button_only_for_release_managers(client, rita, vera):
    client.force_login(rita)
    assert f'href="{NEW}"' in client.get(LIST).content.decode()
    client.force_login(vera)
    assert f'href="{NEW}"' not in client.get(LIST).content.decode()


def list_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, params)
    assert response.status_code == 200
    return len(queries)


def test_list_queries_do_not_grow_with_the_number_of_releases(client, rita, vera):
    app = ApplicationFactory(name="CRM", slug="crm")
    for n in range(10):
        ReleaseFactory(application=app, owner=rita, version=f"1.{n}")
    client.force_login(vera)
    few = list_queries(client)
    few_filtered = list_queries(
        client, application=app.pk, owner=rita.pk, planned_from="2020-01-01"
    )
    for n in range(190):
        ReleaseFactory(owner=UserFactory(), version=f"2.{n}")
    assert Release.objects.count() == 200
    assert list_queries(client) == few
    assert list_queries(client, application=app.pk, owner=rita.pk, planned_from="2020-01-01") == (
        few_filtered
    )
    assert few <= 15


def test_list_rejects_post(client, vera):
    client.force_login(vera)
    assert client.post(LIST).status_code == 405


# ---- Create ----


@pytest.fixture
def crm():
    return ApplicationFactory(name="CRM", slug="crm")


def new_release(crm, **changes) -> dict:
    return {
        "application": crm.pk,
        "version": "4.0.0",
        "name": "",
        "build_ref": "git:abc123",
        "scope": "Faster search.",
        "owner": "",
        "planned_start": "2030-03-01T09:30",
        "planned_end": "2030-03-01T12:00",
        "signoff_expiry_days": "",
        "hypercare_days": "7",
        **changes,
    }


def test_release_manager_sees_the_new_release_form(client, rita, crm):
    client.force_login(rita)
    response = client.get(NEW, {"application": crm.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{crm.pk}" selected>CRM</option>' in html
    assert f'<option value="{rita.pk}" selected>rita</option>' in html
    assert 'type="datetime-local" name="planned_start"' in html
    assert '<label for="id_version">Version</label>' in html
    assert "Planned times are in your time zone, <strong>UTC</strong>." in html


def test_create_converts_the_local_window_to_aware_times(client, rita, crm):
    Profile.objects.create(user=rita, time_zone="Europe/Berlin")
    client.force_login(rita)
    response = client.post(NEW, new_release(crm, owner=rita.pk))
    release = Release.objects.get(version="4.0.0")
    assert response.status_code == 302
    assert response["Location"] == detail_url(release)
    assert release.planned_start == datetime(2030, 3, 1, 8, 30, tzinfo=UTC)  # CET is UTC+1
    assert release.planned_end == datetime(2030, 3, 1, 11, 0, tzinfo=UTC)
    assert (release.name, release.owner, release.created_by) == ("CRM 4.0.0", rita, rita)
    assert release.phase == "planning"
    assert AuditEvent.objects.filter(verb="release.created", release_id=release.pk).exists()


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"version": ""}, "version", "This field is required."),
        ({"application": "999999"}, "application", "Select a valid choice."),
        ({"planned_start": "soon"}, "planned_start", "Enter a valid date/time."),
        ({"hypercare_days": "-1"}, "hypercare_days", "greater than or equal to 0"),
        ({"signoff_expiry_days": "0"}, "signoff_expiry_days", "greater than or equal to 1"),
        ({"scope": "x" * 20001}, "scope", "at most 20000 characters"),
        ({"build_ref": "a\x00b"}, "build_ref", "Null characters are not allowed."),
        ({"version": "v" * 65}, "version", "at most 64 characters"),
        ({"name": "n" * 201}, "name", "at most 200 characters"),
        ({"planned_start": "0001-01-02T00:00"}, "planned_start", "planned_start is out of range."),
        ({"planned_end": "9999-12-31T00:00"}, "planned_end", "planned_end is out of range."),
    ],
    ids=[
        "no-version",
        "unknown-app",
        "bad-time",
        "hypercare",
        "expiry",
        "long-scope",
        "nul",
        "long-version",
        "long-name",
        "start-out-of-range",
        "end-out-of-range",
    ],
)
def test_create_with_bad_input_shows_a_field_error_and_writes_nothing(
    client, rita, crm, changes, field, message
):
    client.force_login(rita)
    response = client.post(NEW, new_release(crm, owner=rita.pk, **changes))
    html = response.content.decode()
    assert response.status_code == 400
    assert message in field_error(html, field)
    assert not Release.objects.exists()


def test_create_with_end_before_start_shows_the_service_error_on_the_end(client, rita, crm):
    client.force_login(rita)
    response = client.post(NEW, new_release(crm, owner=rita.pk, planned_end="2030-03-01T08:00"))
    assert response.status_code == 400
    assert field_error(response.content.decode(), "planned_end") == (
        "The planned window must end after it starts."
    )
    assert not Release.objects.exists()


def test_create_with_a_taken_version_shows_the_service_error_on_the_version(client, rita, crm):
    ReleaseFactory(application=crm, version="4.0.0", owner=rita)
    client.force_login(rita)
    response = client.post(NEW, new_release(crm, owner=rita.pk))
    assert response.status_code == 400
    assert field_error(response.content.decode(), "version") == "CRM already has a release 4.0.0."
    assert Release.objects.count() == 1


def test_create_with_a_local_time_that_does_not_exist_is_a_form_error(client, rita, crm):
    Profile.objects.create(user=rita, time_zone="Europe/Berlin")
    client.force_login(rita)
    # Clocks jump from 02:00 to 03:00 on 31 March 2030 in Berlin.
    response = client.post(NEW, new_release(crm, owner=rita.pk, planned_start="2030-03-31T02:30"))
    assert response.status_code == 400
    assert "Europe/Berlin" in field_error(response.content.decode(), "planned_start")
    assert not Release.objects.exists()


def test_owner_must_be_a_release_manager(client, rita, alice, crm):
    client.force_login(rita)
    response = client.post(NEW, new_release(crm, owner=alice.pk))
    assert response.status_code == 400
    assert "Select a valid choice." in field_error(response.content.decode(), "owner")
    assert not Release.objects.exists()


@pytest.mark.parametrize("persona", ["vera", "alice", "oscar", "charlie"])
def test_new_release_is_refused_to_other_roles(client, crm, persona, request):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    assert client.get(NEW).status_code == 403
    response = client.post(NEW, new_release(crm, owner=user.pk))
    assert response.status_code == 403
    assert not Release.objects.exists()


def test_new_release_anonymous_goes_to_login(client, crm):
    response = client.post(NEW, new_release(crm))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Release.objects.exists()


@pytest.mark.parametrize("method", ["put", "delete"])
def test_new_release_rejects_other_methods(client, rita, method):
    client.force_login(rita)
    assert getattr(client, method)(NEW).status_code == 405


# ---- Edit ----


def edit_data(release: Release, **changes) -> dict:
    local = timezone.get_current_timezone()

    def as_input(value):
        return value.astimezone(local).strftime("%Y-%m-%dT%H:%M") if value else ""

    default = release.name == f"{release.application.name} {release.version}"
    return {
        "version": release.version,
        "name": "" if default else release.name,
        "build_ref": release.build_ref,
        "scope": release.scope,
        "owner": release.owner_id,
        "planned_start": as_input(release.planned_start),
        "planned_end": as_input(release.planned_end),
        "signoff_expiry_days": release.signoff_expiry_days or "",
        "hypercare_days": release.hypercare_days,
        **changes,
    }


@pytest.fixture
def testing_release(rita, alice, bob) -> Release:
    return advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")


def test_edit_form_shows_the_window_in_the_viewer_time_zone(client, rita, testing_release):
    Profile.objects.create(user=rita, time_zone="America/New_York")
    client.force_login(rita)
    html = client.get(edit_url(testing_release)).content.decode()
    local = timezone.localtime(testing_release.planned_start).astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York")
    )
    assert f'value="{local:%Y-%m-%dT%H:%M}"' in html
    assert "Invoices: new screen. Search: faster." in html
    assert 'name="application"' not in html


def test_edit_warns_that_content_changes_make_signoffs_stale(client, rita, alice, testing_release):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(rita)
    html = client.get(edit_url(testing_release)).content.decode()
    assert "makes 1 current sign-off stale" in html


def test_edit_saves_the_change_through_the_service(client, rita, alice, testing_release):
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(rita)
    response = client.post(
        edit_url(testing_release), edit_data(testing_release, scope="Invoices only.")
    )
    assert response.status_code == 302
    assert response["Location"] == detail_url(testing_release)
    old = testing_release.fingerprint
    testing_release.refresh_from_db()
    assert testing_release.scope == "Invoices only."
    assert testing_release.fingerprint != old  # the earlier sign-off is stale now
    event = AuditEvent.objects.filter(verb="release.updated").get()
    assert event.after == {"scope": "Invoices only.", "fingerprint": testing_release.fingerprint}


def test_edit_without_changes_writes_nothing(client, rita, testing_release):
    client.force_login(rita)
    before = AuditEvent.objects.count()
    response = client.post(edit_url(testing_release), edit_data(testing_release))
    assert response.status_code == 302
    assert AuditEvent.objects.count() == before


def test_edit_of_the_version_keeps_a_default_name_in_step(client, rita, testing_release):
    client.force_login(rita)
    client.post(edit_url(testing_release), edit_data(testing_release, version="2.0.1"))
    testing_release.refresh_from_db()
    assert (testing_release.version, testing_release.name) == ("2.0.1", "CRM 2.0.1")


def test_edit_with_end_before_start_shows_the_error_and_changes_nothing(
    client, rita, testing_release
):
    client.force_login(rita)
    data = edit_data(testing_release)
    response = client.post(
        edit_url(testing_release), {**data, "planned_end": data["planned_start"]}
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "planned_end") == (
        "The planned window must end after it starts."
    )
    assert Release.objects.get(pk=testing_release.pk).planned_end == testing_release.planned_end


def test_owner_who_signed_cannot_become_owner(client, rita, alice, testing_release):
    give(alice, "release_manager")  # alice also manages releases
    so.signoff_give(release_id=testing_release.pk, decision="approve", actor=alice)
    client.force_login(rita)
    response = client.post(edit_url(testing_release), edit_data(testing_release, owner=alice.pk))
    assert response.status_code == 400
    assert "has signed this release off" in field_error(response.content.decode(), "owner")
    assert Release.objects.get(pk=testing_release.pk).owner == rita


def test_rolling_out_release_has_its_content_frozen(client, rita, alice, bob, testing_release):
    release = advance(testing_release, rita, qa=alice, business_owner=bob, to="rollout")
    client.force_login(rita)
    html = client.get(edit_url(release)).content.decode()
    assert re.search(r'<input type="text" name="version"[^>]*disabled', html)
    assert "its version, build and scope are frozen" in html
    response = client.post(
        edit_url(release), edit_data(release, version="9.9.9", hypercare_days="10")
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.version, release.hypercare_days) == ("2.0.0", 10)


def test_ended_release_cannot_be_edited(client, rita, testing_release):
    rs.release_move(release_id=testing_release.pk, to="cancelled", reason="Budget.", actor=rita)
    client.force_login(rita)
    html = client.get(edit_url(testing_release)).content.decode()
    assert "it cannot be edited any more" in html
    assert '<form method="post" class="form' not in html
    response = client.post(edit_url(testing_release), edit_data(testing_release, scope="New."))
    assert response.status_code == 409
    assert Release.objects.get(pk=testing_release.pk).scope != "New."


@pytest.mark.parametrize("persona", ["vera", "alice", "oscar", "charlie"])
def test_edit_is_refused_to_other_roles(client, testing_release, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(edit_url(testing_release)).status_code == 403
    response = client.post(edit_url(testing_release), edit_data(testing_release, scope="Hacked."))
    assert response.status_code == 403
    assert Release.objects.get(pk=testing_release.pk).scope != "Hacked."


def test_edit_of_unknown_release_is_404(client, rita):
    client.force_login(rita)
    assert client.get(reverse("releases:edit", args=[987654])).status_code == 404


@pytest.mark.parametrize("method", ["put", "delete"])
def test_edit_rejects_other_methods(client, rita, testing_release, method):
    client.force_login(rita)
    assert getattr(client, method)(edit_url(testing_release)).status_code == 405


def test_form_page_queries_do_not_grow_with_the_number_of_releases(client, rita, crm):
    release = ReleaseFactory(application=crm, owner=rita)
    client.force_login(rita)

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = (queries(NEW), queries(edit_url(release)))
    for n in range(200):
        ReleaseFactory(application=crm, owner=rita, version=f"9.{n}")
    assert (queries(NEW), queries(edit_url(release))) == few

"""The personal iCalendar feed: made and reset from the calendar page, read by calendar apps
(parsed here by the icalendar library, and checked line by line against RFC 5545)."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.dashboard.models import CalendarFeed
from apps.dashboard.services import calendar_feed_reset
from apps.environments.models import FreezeWindow
from apps.rollouts.models import RolloutPlan, Wave
from tests.factories import EnvironmentFactory, ReleaseFactory, revoke_all

pytestmark = pytest.mark.django_db

NEW_FEED = "/calendar/feed/"


def feed_path(token: str) -> str:
    return reverse("dashboard:calendar_feed", kwargs={"token": token})


def address_on_page(client) -> str:
    html = client.get("/calendar/").content.decode()
    match = re.search(r'id="feed-url" value="([^"]+)"', html)
    assert match, "the page shows no feed address"
    return match.group(1)


@pytest.fixture
def plans(rita):
    """A release window, a wave and a freeze in the coming days, with text that needs escaping
    and a description long enough to be folded."""
    env = EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")
    now = timezone.now().replace(microsecond=0)
    release = ReleaseFactory(
        owner=rita,
        phase="testing",
        version="4.2.0",
        planned_start=now + timedelta(days=2),
        planned_end=now + timedelta(days=2, hours=6),
    )
    plan = RolloutPlan.objects.create(release=release, strategy="canary")
    Wave.objects.create(
        plan=plan,
        position=1,
        name="Canary, EU; first 10 % — café",
        environment=env,
        percentage=10,
        planned_start=now + timedelta(days=3),
    )
    FreezeWindow.objects.create(
        scope="global",
        start=now + timedelta(days=5),
        end=now + timedelta(days=6),
        reason="Year-end close; ledgers, payroll \\ tax " + "and a long reason " * 6,
    )
    return release


# ---- Making and resetting the address ----


def test_calendar_page_offers_a_feed_address_and_makes_one_on_request(client, vera):
    client.force_login(vera)
    html = client.get("/calendar/").content.decode()
    assert "Get my feed address" in html
    assert 'id="feed-url"' not in html

    response = client.post(NEW_FEED)
    assert response.status_code == 302
    assert response["Location"] == "/calendar/#feed"
    address = address_on_page(client)
    assert re.fullmatch(r"http://testserver/calendar/feed/[A-Za-z0-9_-]{43}\.ics", address)
    assert AuditEvent.objects.filter(verb="calendar_feed.created").count() == 1
    # The page shows the same address again later; the table holds only its hash.
    assert address_on_page(client) == address
    token = address.rsplit("/", 1)[1].removesuffix(".ics")
    feed = CalendarFeed.objects.get(user=vera)
    assert token not in (feed.nonce, feed.token_hash)


def test_reset_gives_a_new_address_and_the_old_one_stops_working(client, vera, plans):
    client.force_login(vera)
    client.post(NEW_FEED)
    old = address_on_page(client)
    assert client.get(old).status_code == 200

    client.post(NEW_FEED)
    new = address_on_page(client)
    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    assert AuditEvent.objects.filter(verb="calendar_feed.reset").count() == 1


def test_person_without_role_cannot_make_a_feed(client, charlie):
    client.force_login(charlie)
    assert client.post(NEW_FEED).status_code == 403
    assert not CalendarFeed.objects.exists()


def test_making_a_feed_rejects_get(client, vera):
    client.force_login(vera)
    assert client.get(NEW_FEED).status_code == 405


def test_anonymous_cannot_make_a_feed(client):
    response = client.post(NEW_FEED)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not CalendarFeed.objects.exists()


# ---- Reading the feed ----


def test_unknown_token_is_404(client, vera):
    calendar_feed_reset(actor=vera)
    assert client.get(feed_path("A" * 43)).status_code == 404
    assert client.get(feed_path("x")).status_code == 404


def test_feed_of_a_person_who_lost_every_role_is_404(client, vera, plans):
    _, token = calendar_feed_reset(actor=vera)
    assert client.get(feed_path(token)).status_code == 200
    revoke_all(vera)
    assert client.get(feed_path(token)).status_code == 404


def test_feed_of_a_deactivated_person_is_404(client, vera):
    _, token = calendar_feed_reset(actor=vera)
    vera.is_active = False
    vera.save()
    assert client.get(feed_path(token)).status_code == 404


def test_feed_needs_no_session_and_is_not_cached_by_others(client, vera, plans):
    _, token = calendar_feed_reset(actor=vera)
    response = client.get(feed_path(token))  # a calendar app has no session
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"].startswith("private")
    assert response["Referrer-Policy"] == "no-referrer"


def test_feed_is_valid_icalendar_with_every_event(client, vera, plans):
    _, token = calendar_feed_reset(actor=vera)
    body = client.get(feed_path(token)).content
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == "-//ReleaseDeck//Release calendar//EN"
    events = calendar.walk("VEVENT")
    summaries = sorted(str(e["SUMMARY"]) for e in events)
    name = plans.application.name
    assert summaries == sorted(
        [
            f"{name} 4.2.0",
            f"{name} 4.2.0 · Canary, EU; first 10 % — café",
            "Freeze: Year-end close; ledgers, payroll \\ tax " + "and a long reason " * 6,
        ]
    )
    assert len({str(e["UID"]) for e in events}) == 3
    for event in events:
        for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION"):
            assert prop in event, prop
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start.utcoffset() == timedelta(0) and end > start
    release = next(e for e in events if str(e["SUMMARY"]) == f"{name} 4.2.0")
    assert release.decoded("DTSTART") == plans.planned_start
    assert release.decoded("DTEND") == plans.planned_end
    wave = next(e for e in events if "Canary" in str(e["SUMMARY"]))
    local = Wave.objects.get(plan__release=plans).planned_start.astimezone(
        ZoneInfo("Europe/Berlin")
    )
    description = str(wave["DESCRIPTION"])
    assert f"\nLocal time: {local:%a %d %b %Y, %H:%M} Europe/Berlin\n" in description
    assert description.endswith(f"http://testserver/releases/{plans.pk}/")
    assert str(wave["URL"]) == f"http://testserver/releases/{plans.pk}/"


def test_feed_lines_are_crlf_folded_at_75_octets_and_escaped(client, vera, plans):
    _, token = calendar_feed_reset(actor=vera)
    body = client.get(feed_path(token)).content
    assert body.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")  # no bare LF
    assert b"\r" not in body.replace(b"\r\n", b"")  # no bare CR
    lines = body.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines), "the long freeze reason is folded"
    for line in lines:
        line.decode("utf-8")  # folding never splits a character
    unfolded = body.replace(b"\r\n ", b"").decode()
    assert "SUMMARY:Freeze: Year-end close\\; ledgers\\, payroll \\\\ tax and a long" in unfolded
    assert "Canary\\, EU\\; first 10 % — café" in unfolded
    assert re.search(r"DESCRIPTION:[^\r]*\\nLocal time: ", unfolded)
    for prop in ("DTSTART", "DTEND", "DTSTAMP"):
        values = re.findall(rf"^{prop}:(.*)$", unfolded, re.M)
        assert values and all(re.fullmatch(r"\d{8}T\d{6}Z\r?", v) for v in values), prop


def test_feed_leaves_out_waves_of_cancelled_releases_and_marks_the_release_cancelled(
    client, rita, vera, plans
):
    from apps.releases import services as rs

    rs.release_move(release_id=plans.pk, to="cancelled", reason="Dropped.", actor=rita)
    _, token = calendar_feed_reset(actor=vera)
    calendar = icalendar.Calendar.from_ical(client.get(feed_path(token)).content)
    events = {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}
    name = plans.application.name
    assert str(events[f"{name} 4.2.0"]["STATUS"]) == "CANCELLED"
    assert not [s for s in events if "Canary" in s]

"""The calendar pages: month and week in the viewer's time zone, navigation, and query
strings that cannot be read."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Profile
from apps.environments.models import FreezeWindow
from apps.releases.models import Release
from apps.rollouts.models import RolloutPlan, Wave
from tests.factories import EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

CALENDAR = "/calendar/"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day_cell(html: str, iso: str) -> str:
    """The text of one day's cell (month) or column (week)."""
    html = html.split('id="feed"')[0]
    assert f'data-date="{iso}"' in html, f"no day {iso} on the page"
    part = html.split(f'data-date="{iso}"', 1)[1]
    part = re.split(r'data-date="|</tbody>|</ol>\s*(?:<p|<section)', part, maxsplit=1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", "<" + part)).strip()


@pytest.fixture
def march(rita):
    """A release window, a wave late in the evening UTC, and a freeze over three days."""
    env = EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")
    release = ReleaseFactory(
        owner=rita,
        phase="testing",
        version="7.0.0",
        planned_start=at(2027, 3, 10, 8),
        planned_end=at(2027, 3, 10, 16),
    )
    plan = RolloutPlan.objects.create(release=release, strategy="canary")
    Wave.objects.create(
        plan=plan,
        position=1,
        name="EU night",
        environment=env,
        planned_start=at(2027, 3, 28, 22, 30),  # 00:30 on the 29th in Berlin (summer time)
    )
    FreezeWindow.objects.create(
        scope="global", start=at(2027, 3, 15, 12), end=at(2027, 3, 17, 9), reason="Audit"
    )
    return release


# ---- Who may open it ----


def test_url_names_resolve():
    assert reverse("dashboard:calendar") == CALENDAR


def test_calendar_sends_anonymous_to_login(client):
    response = client.get(CALENDAR)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_calendar_refuses_person_without_role(client, charlie, march):
    client.force_login(charlie)
    response = client.get(CALENDAR, {"month": "2027-03"})
    assert response.status_code == 403
    assert "7.0.0" not in response.content.decode()


def test_calendar_rejects_post(client, vera):
    client.force_login(vera)
    assert client.post(CALENDAR).status_code == 405


# ---- Month and week ----


def test_month_shows_releases_waves_and_freezes_on_their_days(client, vera, march):
    Profile.objects.create(user=vera, time_zone="Europe/Berlin")
    client.force_login(vera)
    response = client.get(CALENDAR, {"month": "2027-03"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="cal-title">March 2027</h2>' in html
    name = march.application.name
    assert f"09:00 {name} 7.0.0" in day_cell(html, "2027-03-10")
    # Times are the viewer's: the wave at 22:30 UTC on the 28th is 00:30 on the 29th in Berlin.
    assert f"00:30 {name} 7.0.0 · EU night" in day_cell(html, "2027-03-29")
    assert "EU night" not in day_cell(html, "2027-03-28")
    # A freeze over several days shows on each, with where it starts and ends.
    assert "13:00 Freeze: Audit" in day_cell(html, "2027-03-15")
    assert "all day Freeze: Audit" in day_cell(html, "2027-03-16")
    assert "until 10:00 Freeze: Audit" in day_cell(html, "2027-03-17")
    assert "Freeze" not in day_cell(html, "2027-03-18")


def test_month_grid_runs_monday_to_sunday_around_the_month(client, vera):
    client.force_login(vera)
    html = client.get(CALENDAR, {"month": "2027-03"}).content.decode()
    days = re.findall(r'class="cal-day[^"]*"\s+data-date="([\d-]+)"', html)
    assert days[0] == "2027-03-01"  # a Monday
    assert days[-1] == "2027-04-04"  # the Sunday after the 31st
    assert len(days) == 35
    assert re.search(r'class="cal-day is-other[^"]*"\s+data-date="2027-04-01"', html)


def test_viewer_in_another_zone_sees_the_event_on_their_own_day(client, vera, march):
    Profile.objects.create(user=vera, time_zone="Asia/Tokyo")
    client.force_login(vera)
    html = client.get(CALENDAR, {"month": "2027-03"}).content.decode()
    # 22:30 UTC on the 28th is 07:30 on the 29th in Tokyo.
    assert "07:30" in day_cell(html, "2027-03-29")
    assert "Times are in <strong>Asia/Tokyo</strong>" in html


def test_week_view_lists_the_days_with_times_and_local_time_there(client, vera, march):
    Profile.objects.create(user=vera, time_zone="UTC")
    client.force_login(vera)
    response = client.get(CALENDAR, {"view": "week", "week": "2027-W12"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Week 12, 22–28 Mar 2027" in html
    sunday = day_cell(html, "2027-03-28")
    assert "22:30" in sunday and "EU night" in sunday
    assert "00:30 CEST local time" in sunday
    assert "Nothing planned" in day_cell(html, "2027-03-22")
    assert 'aria-current="page">Week</a>' in html


def test_a_full_day_shows_a_few_and_links_to_the_rest(client, rita, vera):
    env = EnvironmentFactory(name="prod-eu")
    release = ReleaseFactory(owner=rita, planned_start=None, planned_end=None)
    plan = RolloutPlan.objects.create(release=release, strategy="canary")
    for n in range(7):
        Wave.objects.create(
            plan=plan,
            position=n + 1,
            name=f"w{n}",
            environment=env,
            planned_start=at(2027, 5, 12, 8 + n),
        )
    client.force_login(vera)
    html = client.get(CALENDAR, {"month": "2027-05"}).content.decode()
    cell = day_cell(html, "2027-05-12")
    assert "+3 more" in cell
    assert html.count(" cal-ev-overflow") == 3
    assert 'href="?view=week&amp;week=2027-W19">+3 more</a>' in html


def test_navigation_links_move_by_month_and_by_week(client, vera):
    client.force_login(vera)
    html = client.get(CALENDAR, {"month": "2027-01"}).content.decode()
    assert 'href="?view=month&amp;month=2026-12" rel="prev"' in html
    assert 'href="?view=month&amp;month=2027-02" rel="next"' in html
    html = client.get(CALENDAR, {"view": "week", "week": "2027-W01"}).content.decode()
    assert 'href="?view=week&amp;week=2026-W53" rel="prev"' in html
    assert 'href="?view=week&amp;week=2027-W02" rel="next"' in html
    assert "Week 1, 4–10 Jan 2027" in html


def test_today_is_marked_and_reachable(client, vera):
    client.force_login(vera)
    today = timezone.localdate()
    html = client.get(CALENDAR).content.decode()
    assert f"{today:%B} {today.year}</h2>" in html
    assert re.search(rf'class="cal-day[^"]*is-today[^"]*"\s+data-date="{today.isoformat()}"', html)


def test_no_link_runs_past_the_last_supported_month(client, vera):
    client.force_login(vera)
    html = client.get(CALENDAR, {"month": "2999-12"}).content.decode()
    assert 'rel="next"' not in html and 'rel="prev"' in html
    html = client.get(CALENDAR, {"month": "1970-01"}).content.decode()
    assert 'rel="prev"' not in html and 'rel="next"' in html


@pytest.mark.parametrize(
    "params",
    [
        {"month": "2026-13"},
        {"month": "2026-00"},
        {"month": "abc"},
        {"month": "99999-01"},
        {"month": "0000-01"},
        {"month": "2026-1-1"},
        {"view": "week", "week": "abc"},
        {"view": "week", "week": "2025-W53"},  # 2025 has 52 ISO weeks
        {"view": "week", "week": "2026-W00"},
        {"view": "week", "week": "99999-W01"},
        {"view": "year"},
        {"view": "x" * 5000},
        {"month": "２０２６-０５"},  # full-width digits
    ],
)
def test_a_query_string_that_cannot_be_read_falls_back_to_today_and_says_so(client, vera, params):
    client.force_login(vera)
    response = client.get(CALENDAR, params)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="period-problem"' in html
    today = timezone.localdate()
    if params.get("view") == "week":
        assert f"Week {today.isocalendar()[1]}," in html
    else:
        assert f"{today:%B} {today.year}</h2>" in html


# ---- Query budget ----


def fill_month(n: int, rm, *, start: int = 0) -> None:
    env = EnvironmentFactory(name="prod-eu")
    for i in range(start, start + n):
        release = ReleaseFactory(
            owner=rm,
            version=f"{i}.0.0",
            planned_start=at(2027, 6, 1 + i % 28, 8),
            planned_end=at(2027, 6, 1 + i % 28, 16),
        )
        plan = RolloutPlan.objects.create(release=release, strategy="canary")
        Wave.objects.create(
            plan=plan, position=1, name="all", environment=env, planned_start=at(2027, 6, 2, 9)
        )


def calendar_queries(client, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CALENDAR, params)
    assert response.status_code == 200
    return len(queries)


def test_calendar_queries_do_not_grow_with_the_number_of_releases(
    client, rita, vera, django_assert_max_num_queries
):
    fill_month(10, rita)
    client.force_login(vera)
    month, week = {"month": "2027-06"}, {"view": "week", "week": "2027-W22"}
    small = []
    for params in (month, week):
        with django_assert_max_num_queries(10):
            small.append(calendar_queries(client, params))
    fill_month(190, rita, start=10)
    assert Release.objects.count() == 200
    large = []
    for params in (month, week):
        with django_assert_max_num_queries(10):
            large.append(calendar_queries(client, params))
    assert large == small
    html = client.get(CALENDAR, week).content.decode()
    assert html.count('data-kind="wave"') == 200


def test_release_without_an_end_shows_as_a_one_hour_window(client, rita, vera):
    ReleaseFactory(owner=rita, version="9.9.9", planned_start=at(2027, 8, 3, 10), planned_end=None)
    Profile.objects.create(user=vera, time_zone="UTC")
    client.force_login(vera)
    html = client.get(CALENDAR, {"view": "week", "week": "2027-W31"}).content.decode()
    assert re.search(r"10:00\s*–\s*11:00 App \d+ 9\.9\.9", day_cell(html, "2027-08-03"))

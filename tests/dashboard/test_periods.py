"""Which days a calendar page shows, from its query string (pure)."""

from datetime import date

import pytest

from apps.dashboard.periods import MAX_YEAR, parse_period

TODAY = date(2026, 11, 26)  # a Thursday


def test_no_query_is_this_month_from_its_first_monday_to_its_last_sunday():
    period = parse_period({}, TODAY)
    assert (period.view, period.title, period.problem) == ("month", "November 2026", "")
    assert period.first == date(2026, 10, 26) and period.first.weekday() == 0
    # The 30th is a Monday, so the grid runs into December.
    assert period.last == date(2026, 12, 6) and period.last.weekday() == 6
    assert len(period.weeks) == 6 and all(len(w) == 7 for w in period.weeks)


def test_month_starting_on_monday_needs_no_days_before_it():
    period = parse_period({"month": "2027-03"}, TODAY)
    assert period.first == date(2027, 3, 1)
    assert period.last == date(2027, 4, 4)


def test_week_view_is_the_iso_week_monday_to_sunday():
    period = parse_period({"view": "week", "week": "2027-W10"}, TODAY)
    assert (period.first, period.last) == (date(2027, 3, 8), date(2027, 3, 14))
    assert period.title == "Week 10, 8–14 Mar 2027"
    assert parse_period({"view": "week"}, TODAY).first == date(2026, 11, 23)


@pytest.mark.parametrize(
    ("week", "title"),
    [
        ("2027-W05", "Week 5, 1–7 Feb 2027"),
        ("2027-W09", "Week 9, 1–7 Mar 2027"),
        ("2027-W13", "Week 13, 29 Mar – 4 Apr 2027"),
        ("2026-W53", "Week 53, 28 Dec 2026 – 3 Jan 2027"),
    ],
)
def test_week_titles_name_months_and_years_once(week, title):
    assert parse_period({"view": "week", "week": week}, TODAY).title == title


def test_previous_and_next_cross_years():
    period = parse_period({"month": "2027-01"}, TODAY)
    assert period.prev_query == "?view=month&month=2026-12"
    assert period.next_query == "?view=month&month=2027-02"
    week = parse_period({"view": "week", "week": "2027-W01"}, TODAY)
    assert week.prev_query == "?view=week&week=2026-W53"
    assert week.next_query == "?view=week&week=2027-W02"


def test_no_link_leads_past_the_supported_years():
    assert parse_period({"month": f"{MAX_YEAR}-12"}, TODAY).next_query is None
    assert parse_period({"month": "1970-01"}, TODAY).prev_query is None
    assert parse_period({"view": "week", "week": "1970-W01"}, TODAY).prev_query is None


def test_switching_view_keeps_the_same_time():
    month = parse_period({}, TODAY)
    assert month.switch_query(TODAY) == "?view=week&week=2026-W48"
    other = parse_period({"month": "2027-03"}, TODAY)
    assert other.switch_query(TODAY) == "?view=week&week=2027-W09"
    # ISO week 1 of 2027 starts on 4 January; a week belongs to its Thursday's month.
    week = parse_period({"view": "week", "week": "2026-W53"}, TODAY)
    assert week.switch_query(TODAY) == "?view=month&month=2026-12"


@pytest.mark.parametrize(
    "query",
    [
        {"month": "2026-13"},
        {"month": "2026-0"},
        {"month": "-2026-01"},
        {"month": "99999-01"},
        {"month": "3000-01"},
        {"month": "1969-12"},
        {"month": "2026-05x"},
        {"month": "٢٠٢٦-٠٥"},  # Arabic-Indic digits
        {"view": "week", "week": "2026-W54"},
        {"view": "week", "week": "2025-W53"},
        {"view": "week", "week": "2026W05"},
        {"view": "day"},
    ],
)
def test_unreadable_values_fall_back_to_today_with_a_reason(query):
    period = parse_period(query, TODAY)
    assert period.problem
    if query.get("view") == "week":
        assert period.first == date(2026, 11, 23)
    else:
        assert period.anchor == date(2026, 11, 1)


def test_the_reason_quotes_at_most_forty_characters():
    period = parse_period({"month": "x" * 10_000}, TODAY)
    assert len(period.problem) < 120

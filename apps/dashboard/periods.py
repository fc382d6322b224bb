"""Which days a calendar page shows, read from its query string. Pure: no ORM, no I/O.

A value that cannot be read (a 13th month, a week that does not exist, a far-off year) falls
back to today's month or week and says why, so a hand-edited or stale link never breaks.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

MONTH, WEEK = "month", "week"
# Far enough for any plan; bounded so prev/next and time zone arithmetic can never overflow.
MIN_YEAR, MAX_YEAR = 1970, 2999
# [0-9], not \d: \d also matches other scripts' digits, which int() would then accept.
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})")
_WEEK_RE = re.compile(r"([0-9]{4})-W([0-9]{1,2})")
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass(frozen=True)
class Period:
    view: str
    first: date  # first day shown
    last: date  # last day shown (inclusive)
    anchor: date  # the month's first day, or the week's Monday
    title: str
    problem: str = ""

    @property
    def weeks(self) -> list[list[date]]:
        days = (self.last - self.first).days + 1
        every = [self.first + timedelta(days=n) for n in range(days)]
        return [every[i : i + 7] for i in range(0, days, 7)]

    def query(self, anchor: date | None = None, view: str | None = None) -> str:
        anchor, view = anchor or self.anchor, view or self.view
        value = month_value(anchor) if view == MONTH else week_value(anchor)
        return "?" + urlencode({"view": view, view: value})

    @property
    def prev_query(self) -> str | None:
        anchor = _shift_month(self.anchor, -1) if self.view == MONTH else self.anchor - _WEEK
        return self.query(anchor) if anchor and _in_range(anchor) else None

    @property
    def next_query(self) -> str | None:
        anchor = _shift_month(self.anchor, 1) if self.view == MONTH else self.anchor + _WEEK
        return self.query(anchor) if anchor and _in_range(anchor) else None

    def switch_query(self, today: date) -> str:
        """The same time in the other view: the week of today (or of the month's first day),
        or the month of the week's Thursday (ISO weeks belong to the month of their Thursday)."""
        if self.view == MONTH:
            day = today if _same_month(today, self.anchor) else self.anchor
            return self.query(_monday(day), WEEK)
        return self.query((self.anchor + timedelta(days=3)).replace(day=1), MONTH)


_WEEK = timedelta(days=7)


def _in_range(day: date) -> bool:
    return MIN_YEAR <= day.year <= MAX_YEAR


def _same_month(a: date, b: date) -> bool:
    return (a.year, a.month) == (b.year, b.month)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _shift_month(first: date, by: int) -> date | None:
    index = first.year * 12 + first.month - 1 + by
    year, month = divmod(index, 12)
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    return date(year, month + 1, 1)


def month_value(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def week_value(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def month_period(first: date, problem: str = "") -> Period:
    next_first = _shift_month(first, 1) or date(MAX_YEAR, 12, 31) + timedelta(days=1)
    last_of_month = next_first - timedelta(days=1)
    return Period(
        view=MONTH,
        first=_monday(first),
        last=_monday(last_of_month) + timedelta(days=6),
        anchor=first,
        title=f"{first:%B} {first.year}",
        problem=problem,
    )


def week_period(monday: date, problem: str = "") -> Period:
    sunday = monday + timedelta(days=6)
    year, week, _ = monday.isocalendar()
    if monday.month == sunday.month:
        span = f"{monday.day}–{sunday.day} {sunday:%b} {sunday.year}"
    elif monday.year == sunday.year:
        span = f"{monday.day} {monday:%b} – {sunday.day} {sunday:%b} {sunday.year}"
    else:
        span = f"{monday.day} {monday:%b} {monday.year} – {sunday.day} {sunday:%b} {sunday.year}"
    return Period(
        view=WEEK,
        first=monday,
        last=sunday,
        anchor=monday,
        title=f"Week {week}, {span}",
        problem=problem,
    )


def _read_month(value: str) -> date | None:
    match = _MONTH_RE.fullmatch(value.strip())
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        return None
    return date(year, month, 1)


def _read_week(value: str) -> date | None:
    match = _WEEK_RE.fullmatch(value.strip())
    if not match:
        return None
    year, week = int(match[1]), int(match[2])
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:  # week 0, or week 53 of a year that has 52
        return None


def parse_period(params: Mapping[str, str], today: date) -> Period:
    """The period a calendar request asks for; today's month (or week) when it asks for
    nothing, and the same with a `problem` sentence when it asks for something unreadable."""
    view = params.get("view", "") or MONTH
    problem = ""
    if view not in (MONTH, WEEK):
        problem = f"“{view[:40]}” is not a calendar view; showing the month."
        view = MONTH
    if view == WEEK:
        raw = params.get(WEEK, "")
        monday = _read_week(raw) if raw else _monday(today)
        if monday is None:
            problem = f"“{raw[:40]}” is not a week (use the form 2026-W05); showing this week."
            monday = _monday(today)
        return week_period(monday, problem)
    raw = params.get(MONTH, "")
    first = _read_month(raw) if raw else today.replace(day=1)
    if first is None:
        problem = f"“{raw[:40]}” is not a month (use the form 2026-05); showing this month."
        first = today.replace(day=1)
    return month_period(first, problem)

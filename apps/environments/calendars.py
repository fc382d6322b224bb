"""An environment's calendar: deployment windows, freezes and time zones, and the earliest
moment they let a deploy start. Pure: no ORM, no I/O (`selectors.calendars_for` reads them).

Windows are local hours of the environment's IANA zone. A window edge that does not exist
(spring-forward gap) is read with the offset before the change, i.e. it moves forward by the
gap (02:30 on the spring day in Berlin is 03:30 CEST); a local time that happens twice
(fall-back) means its first occurrence. A planned start typed in local time is checked
first: one inside a gap is refused (`nonexistent_local`), and one that happens twice means
the first and the dry run says so (`ambiguous_local`).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

# How far ahead a start is searched for before a calendar is declared impossible.
HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class Window:
    weekdays: frozenset[int]  # 0 = Monday
    start: time
    end: time


@dataclass(frozen=True)
class Freeze:
    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True)
class Calendar:
    """One environment's rules: its zone, its windows (none = always open) and its freezes."""

    name: str
    time_zone: str
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()


# What a reason is about, the gravest first: no start at all, a freeze, outside deployment
# hours, the release's planned window, a local time that happens twice, the wave before it.
ReasonKind = Literal["impossible", "freeze", "window", "plan", "clock", "sequence"]


class Reason(str):
    """A sentence saying why a start moved or what a plan should know, tagged with what it is
    about so pages can colour it without reading the words (as `SafeString` tags a string)."""

    kind: ReasonKind

    def __new__(cls, text: str, kind: ReasonKind) -> "Reason":
        reason = super().__new__(cls, text)
        reason.kind = kind
        return reason

    def __getnewargs__(self) -> tuple[str, ReasonKind]:  # type: ignore[override]
        return str(self), self.kind  # so a copied or pickled reason keeps its kind


@dataclass(frozen=True)
class Slot:
    at: datetime | None  # None: no start possible within the horizon
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


def local_to_utc(local: datetime, time_zone: str) -> datetime:
    """A naive local wall-clock time in `time_zone` as an aware UTC datetime."""
    if local.tzinfo is not None:
        raise ValueError("expected a naive local time")
    return local.replace(tzinfo=ZoneInfo(time_zone), fold=0).astimezone(UTC)


def _day(local: datetime) -> str:
    return f"{local.day} {local:%B %Y}"


def nonexistent_local(local: datetime, time_zone: str) -> str | None:
    """Why a naive local time does not exist in `time_zone` (it falls in the spring-forward
    gap), e.g. "02:30 on 29 March 2026 does not exist in Europe/Berlin (clocks go forward from
    02:00 to 03:00)"; None when it exists."""
    zone = ZoneInfo(time_zone)
    before = local.replace(tzinfo=zone, fold=0)
    if before.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local:
        return None
    offset_before = before.utcoffset() or timedelta(0)
    offset_after = local.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    # The change happens between the two readings of `local`; find its minute.
    change = (local - offset_after).replace(tzinfo=UTC)
    while change.astimezone(zone).utcoffset() != offset_after:
        change += timedelta(minutes=1)
    jumps_from = (change + offset_before).replace(tzinfo=None)
    jumps_to = (change + offset_after).replace(tzinfo=None)
    return (
        f"{local:%H:%M} on {_day(local)} does not exist in {time_zone} (clocks go forward "
        f"from {jumps_from:%H:%M} to {jumps_to:%H:%M})"
    )


def ambiguous_local(at: datetime, time_zone: str) -> str | None:
    """For a moment whose local reading in `time_zone` happens twice (the fall-back hour), a
    sentence saying which of the two it is; None when the local time is unique."""
    local = utc_to_local(at, time_zone)
    naive = local.replace(tzinfo=None)
    zone = ZoneInfo(time_zone)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    which = "first" if local.utcoffset() == first.utcoffset() else "second"
    offset = local.strftime("%z")
    return (
        f"{naive:%H:%M} on {_day(naive)} happens twice in {time_zone} (clocks go back); "
        f"this is the {which}, {local:%H:%M} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"
    )


def utc_to_local(at: datetime, time_zone: str) -> datetime:
    return at.astimezone(ZoneInfo(time_zone))


def describe(at: datetime, time_zone: str) -> str:
    """`Tue 09:00 Europe/Paris`: how reasons name a moment, in the environment's own zone."""
    return f"{utc_to_local(at, time_zone):%a %d %b %H:%M} {time_zone}"


def active_freeze(at: datetime, freezes: tuple[Freeze, ...]) -> Freeze | None:
    """The freeze covering `at` that ends last (so one jump clears overlapping freezes)."""
    covering = [f for f in freezes if f.start <= at < f.end]
    return max(covering, key=lambda f: f.end) if covering else None


def _window_spans(day: date, calendar: Calendar) -> list[tuple[datetime, datetime]]:
    spans = []
    for window in calendar.windows:
        if day.weekday() in window.weekdays:
            start = local_to_utc(datetime.combine(day, window.start), calendar.time_zone)
            end = local_to_utc(datetime.combine(day, window.end), calendar.time_zone)
            if end > start:
                spans.append((start, end))
    return spans


def in_window(at: datetime, calendar: Calendar) -> bool:
    if not calendar.windows:
        return True
    day = utc_to_local(at, calendar.time_zone).date()
    return any(start <= at < end for start, end in _window_spans(day, calendar))


def next_window_open(at: datetime, calendar: Calendar) -> datetime | None:
    """The first moment at or after `at` inside a deployment window (within a fortnight)."""
    if not calendar.windows:
        return at
    first_day = utc_to_local(at, calendar.time_zone).date() - timedelta(days=1)
    for offset in range(16):
        day = first_day + timedelta(days=offset)
        candidates = [max(at, start) for start, end in _window_spans(day, calendar) if end > at]
        if candidates:
            return min(candidates)
    return None


def earliest_start(not_before: datetime, calendar: Calendar) -> Slot:
    """The first moment at or after `not_before` outside every freeze and inside a window,
    with a sentence for each thing that pushed it later."""
    at = not_before
    reasons: list[Reason] = []
    limit = not_before + HORIZON
    while at < limit:
        freeze = active_freeze(at, calendar.freezes)
        if freeze is not None:
            reasons.append(
                Reason(
                    f"{calendar.name}: freeze until {describe(freeze.end, calendar.time_zone)} "
                    f"({freeze.reason})",
                    "freeze",
                )
            )
            at = freeze.end
            continue
        if not in_window(at, calendar):
            opens = next_window_open(at, calendar)
            if opens is None:
                break
            reasons.append(
                Reason(
                    f"{calendar.name}: outside deployment hours until "
                    f"{describe(opens, calendar.time_zone)}",
                    "window",
                )
            )
            at = opens
            continue
        return Slot(at=at, reasons=tuple(reasons))
    reasons.append(
        Reason(f"{calendar.name}: no deployment window free of freezes within a year", "impossible")
    )
    return Slot(at=None, reasons=tuple(reasons))

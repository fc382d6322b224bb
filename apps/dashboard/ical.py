"""A small RFC 5545 (iCalendar) writer: enough for a read-only feed of timed events.

Pure: events in, text out. Times are written in UTC ("Z"), text is escaped, long lines are
folded at 75 octets and every line ends with CRLF, as the RFC demands and calendar apps expect.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

CRLF = "\r\n"
MAX_OCTETS = 75
# Control characters other than tab are not allowed in TEXT values (RFC 5545 §3.3.11).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str = ""
    url: str = ""
    status: str = ""  # TENTATIVE | CONFIRMED | CANCELLED
    categories: tuple[str, ...] = field(default_factory=tuple)
    last_modified: datetime | None = None
    sequence: int | None = None


def escape_text(value: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, newlines as \\n."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("iCalendar times must be aware")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Split a content line into pieces of at most 75 octets, never inside a UTF-8 character;
    each continuation starts with one space (which counts towards its 75)."""
    pieces: list[str] = []
    current: list[str] = []
    size, limit = 0, MAX_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size, limit = [], 0, MAX_OCTETS - 1
        current.append(char)
        size += width
    pieces.append("".join(current))
    return (CRLF + " ").join(pieces)


def _uri(value: str) -> str:
    # A URI is written as it is, so it must not carry anything that would end the line.
    return _CONTROL.sub("", value.replace("\r", "").replace("\n", ""))


def _event_lines(event: Event, stamp: datetime) -> list[str]:
    if event.end <= event.start:
        raise ValueError(f"event {event.uid} ends before it starts")
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{utc(stamp)}",
        f"DTSTART:{utc(event.start)}",
        f"DTEND:{utc(event.end)}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    if event.location:
        lines.append(f"LOCATION:{escape_text(event.location)}")
    if event.url:
        lines.append(f"URL:{_uri(event.url)}")
    if event.status:
        lines.append(f"STATUS:{event.status}")
    if event.categories:
        lines.append("CATEGORIES:" + ",".join(escape_text(c) for c in event.categories))
    if event.last_modified is not None:
        lines.append(f"LAST-MODIFIED:{utc(event.last_modified)}")
    if event.sequence is not None:
        lines.append(f"SEQUENCE:{event.sequence}")
    lines.append("TRANSP:TRANSPARENT")  # a release on the calendar does not make anyone busy
    lines.append("END:VEVENT")
    return lines


def calendar(
    events: Iterable[Event],
    *,
    prodid: str,
    name: str,
    now: datetime,
    refresh_minutes: int = 60,
) -> str:
    """The whole VCALENDAR as text with CRLF line endings, ready to serve as text/calendar."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{prodid}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{escape_text(name)}",
        f"X-WR-CALNAME:{escape_text(name)}",
        # How often subscribers should fetch again (RFC 7986, and its older Outlook spelling).
        f"REFRESH-INTERVAL;VALUE=DURATION:PT{refresh_minutes}M",
        f"X-PUBLISHED-TTL:PT{refresh_minutes}M",
    ]
    for event in events:
        lines.extend(_event_lines(event, now))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)

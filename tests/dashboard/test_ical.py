"""The iCalendar writer on its own: escaping, folding, UTC times (RFC 5545 §3.1, §3.3)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.dashboard import ical

NOW = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(**extra) -> ical.Event:
    values = {
        "uid": "release-1@example.test",
        "start": datetime(2027, 3, 1, 9, tzinfo=UTC),
        "end": datetime(2027, 3, 1, 17, tzinfo=UTC),
        "summary": "CRM 2.0.0",
    }
    return ical.Event(**{**values, **extra})


def test_text_escapes_backslash_semicolon_comma_and_newline():
    assert ical.escape_text("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"
    assert ical.escape_text("one\r\ntwo\rthree") == "one\\ntwo\\nthree"
    assert ical.escape_text("bell\x07 and\ttab") == "bell and\ttab"


def test_times_are_written_in_utc_with_z():
    berlin = datetime(2027, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert ical.utc(berlin) == "20270701T073000Z"
    with pytest.raises(ValueError):
        ical.utc(datetime(2027, 7, 1, 9, 30))


def test_short_line_is_left_alone():
    assert ical.fold("SUMMARY:short") == "SUMMARY:short"


def test_long_line_is_folded_at_75_octets_with_a_leading_space():
    line = "DESCRIPTION:" + "x" * 200
    folded = ical.fold(line)
    pieces = folded.split("\r\n")
    assert [len(p.encode()) for p in pieces] == [75, 75, 64]  # 212 = 75 + 74 + 63
    assert all(p.startswith(" ") for p in pieces[1:])
    assert folded.replace("\r\n ", "") == line


def test_folding_never_splits_a_multibyte_character():
    line = "SUMMARY:" + "é€😀" * 40
    pieces = ical.fold(line).split("\r\n")
    for piece in pieces:
        assert len(piece.encode("utf-8")) <= 75
    assert "".join(p[1:] if i else p for i, p in enumerate(pieces)) == line


@given(st.text(min_size=0, max_size=400))
def test_any_text_survives_escaping_and_folding(text):
    line = "DESCRIPTION:" + ical.escape_text(text)
    folded = ical.fold(line)
    assert all(len(p.encode("utf-8")) <= 75 for p in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


def test_event_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError):
        ical.calendar(
            [event(end=datetime(2027, 3, 1, 8, tzinfo=UTC))], prodid="-//T//EN", name="T", now=NOW
        )


def test_calendar_is_crlf_text_that_a_strict_parser_reads_back():
    text = ical.calendar(
        [
            event(
                summary="Freeze; ledgers, payroll",
                description="Line one\nLine two, with a comma; and more " * 5,
                url="https://example.test/releases/1/",
                status="CONFIRMED",
                categories=("Release", "A, B"),
                last_modified=NOW,
                sequence=3,
            )
        ],
        prodid="-//ReleaseDeck//Test//EN",
        name="ReleaseDeck · rita",
        now=NOW,
    )
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ReleaseDeck//Test//EN\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    parsed = icalendar.Calendar.from_ical(text)
    (vevent,) = parsed.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Freeze; ledgers, payroll"
    assert str(vevent["DESCRIPTION"]) == "Line one\nLine two, with a comma; and more " * 5
    assert vevent.decoded("DTSTAMP") == NOW
    assert vevent.decoded("DTSTART") == datetime(2027, 3, 1, 9, tzinfo=UTC)
    assert vevent.decoded("DTEND") - vevent.decoded("DTSTART") == timedelta(hours=8)
    assert str(vevent["URL"]) == "https://example.test/releases/1/"
    assert int(vevent["SEQUENCE"]) == 3
    assert str(parsed["X-WR-CALNAME"]) == "ReleaseDeck · rita"


def test_empty_calendar_is_still_a_calendar():
    text = ical.calendar([], prodid="-//T//EN", name="Nothing", now=NOW)
    parsed = icalendar.Calendar.from_ical(text)
    assert parsed.walk("VEVENT") == []

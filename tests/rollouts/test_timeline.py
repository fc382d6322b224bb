"""The plan timeline SVG: well-formed, and its shapes where windows, freezes and waves are."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta

import pytest

from apps.environments import calendars
from apps.rollouts import timeline

SVG = "{http://www.w3.org/2000/svg}"
WEEKDAYS = frozenset(range(5))
OFFICE_HOURS = calendars.Window(WEEKDAYS, time(9), time(17))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def calendar(
    name: str = "prod-eu",
    zone: str = "Europe/Berlin",
    windows: tuple[calendars.Window, ...] = (OFFICE_HOURS,),
    freezes: tuple[calendars.Freeze, ...] = (),
) -> calendars.Calendar:
    return calendars.Calendar(name, zone, windows, freezes)


def lane(label: str = "prod-eu 10%", **fields) -> timeline.Lane:
    values = {
        "calendar": calendar(),
        "planned_start": utc(2026, 12, 1, 8),
        "earliest_start": utc(2026, 12, 1, 8),
        "bake": timedelta(minutes=30),
    }
    values.update(fields)
    return timeline.Lane(label=label, **values)


def draw(lanes: list[timeline.Lane], start: datetime, end: datetime, **kw) -> ET.Element:
    return ET.fromstring(timeline.render(lanes, start=start, end=end, **kw))


def shapes(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [e for e in root.iter() if css_class in (e.get("class") or "").split()]


def x_of(at: datetime, start: datetime, end: datetime) -> float:
    chart = timeline.WIDTH - timeline.LABEL_W - timeline.RIGHT_PAD
    return timeline.LABEL_W + chart * (at - start).total_seconds() / (end - start).total_seconds()


def test_svg_is_well_formed_xml_with_title_and_description():
    root = draw([lane()], utc(2026, 11, 30, 23), utc(2026, 12, 2, 23))
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text == "Rollout timeline"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "prod-eu 10% (prod-eu) starts Tue 01 Dec 09:00 Europe/Berlin" in desc.text


def test_deployment_windows_are_shaded_at_their_local_hours():
    start, end = utc(2026, 11, 30, 23), utc(2026, 12, 2, 23)  # Tue and Wed in Berlin
    root = draw([lane()], start, end)
    windows = shapes(root, "tl-window")
    assert len(windows) == 2
    # 09:00–17:00 CET is 08:00–16:00 UTC.
    first = windows[0]
    assert float(first.get("x")) == pytest.approx(x_of(utc(2026, 12, 1, 8), start, end), abs=0.1)
    assert float(first.get("width")) == pytest.approx(
        x_of(utc(2026, 12, 1, 16), start, end) - x_of(utc(2026, 12, 1, 8), start, end), abs=0.1
    )
    assert "deployment window Tue 01 Dec 09:00" in first.find(f"{SVG}title").text


def test_windows_follow_the_local_clock_across_daylight_saving():
    start, end = utc(2026, 3, 26, 23), utc(2026, 3, 30, 22)  # Fri to Mon; Sunday springs forward
    daily = calendars.Window(frozenset(range(7)), time(9), time(17))
    root = draw([lane(calendar=calendar(windows=(daily,)))], start, end)
    xs = [float(w.get("x")) for w in shapes(root, "tl-window")]
    assert xs == pytest.approx(
        [
            x_of(utc(2026, 3, 27, 8), start, end),  # Fri, CET
            x_of(utc(2026, 3, 28, 8), start, end),  # Sat, CET
            x_of(utc(2026, 3, 29, 7), start, end),  # Sun, CEST
            x_of(utc(2026, 3, 30, 7), start, end),  # Mon, CEST
        ],
        abs=0.1,
    )


def test_freezes_are_hatched_red_and_clipped_to_the_range():
    start, end = utc(2026, 12, 1), utc(2026, 12, 3)
    freeze = calendars.Freeze(utc(2026, 12, 2, 12), utc(2026, 12, 9), "Year-end freeze")
    root = draw([lane(calendar=calendar(freezes=(freeze,)))], start, end, id_prefix="plan")
    (rect,) = shapes(root, "tl-freeze")
    assert rect.get("fill") == "url(#plan-hatch)"
    assert root.find(f".//{SVG}pattern[@id='plan-hatch']") is not None
    assert float(rect.get("x")) == pytest.approx(x_of(freeze.start, start, end), abs=0.1)
    right = float(rect.get("x")) + float(rect.get("width"))
    assert right == pytest.approx(x_of(end, start, end), abs=0.1)
    assert "Freeze: Year-end freeze" in rect.find(f"{SVG}title").text
    assert "Year-end freeze until" in root.find(f"{SVG}desc").text


def test_freezes_outside_the_range_are_left_out():
    freeze = calendars.Freeze(utc(2027, 1, 5), utc(2027, 1, 6), "Later")
    root = draw([lane(calendar=calendar(freezes=(freeze,)))], utc(2026, 12, 1), utc(2026, 12, 3))
    assert shapes(root, "tl-freeze") == []


def test_wave_bar_starts_at_the_earliest_start_and_is_as_long_as_the_bake():
    start, end = utc(2026, 12, 1), utc(2026, 12, 3)
    root = draw([lane(bake=timedelta(hours=4))], start, end)
    (bar,) = shapes(root, "tl-bake")
    rect = bar.find(f"{SVG}rect")
    assert float(rect.get("x")) == pytest.approx(x_of(utc(2026, 12, 1, 8), start, end), abs=0.1)
    assert float(rect.get("width")) == pytest.approx(
        x_of(utc(2026, 12, 1, 12), start, end) - x_of(utc(2026, 12, 1, 8), start, end), abs=0.1
    )
    assert "is-late" not in bar.get("class")
    assert bar.find(f"{SVG}text").text == "Tue 09:00 CET"


def test_wave_pushed_past_its_planned_start_is_marked_late():
    start, end = utc(2026, 12, 1), utc(2026, 12, 3)
    pushed = lane(planned_start=utc(2026, 12, 1, 6), earliest_start=utc(2026, 12, 1, 8))
    root = draw([pushed], start, end)
    (bar,) = shapes(root, "tl-bake")
    assert "is-late" in bar.get("class")
    (planned,) = shapes(root, "tl-planned")
    assert float(planned.get("x1")) == pytest.approx(x_of(utc(2026, 12, 1, 6), start, end), abs=0.1)


def test_a_short_bake_still_shows_as_a_visible_bar():
    root = draw([lane(bake=timedelta(0))], utc(2026, 12, 1), utc(2026, 12, 15))
    (bar,) = shapes(root, "tl-bake")
    assert float(bar.find(f"{SVG}rect").get("width")) >= timeline.MIN_BAR_W


def test_a_wave_that_cannot_start_says_so():
    stuck = lane(earliest_start=None, warnings=("prod-eu: no deployment window within a year",))
    root = draw([stuck], utc(2026, 12, 1), utc(2026, 12, 3))
    (text,) = shapes(root, "tl-nostart")
    assert "no deployment window within a year" in text.text
    assert shapes(root, "tl-bake") == []


def test_an_environment_without_windows_is_open_all_the_time():
    root = draw([lane(calendar=calendar(windows=()))], utc(2026, 12, 1), utc(2026, 12, 3))
    assert shapes(root, "tl-window") == []
    assert len(shapes(root, "tl-open")) == 1


def test_one_row_per_wave_with_text_labels():
    lanes = [
        lane("eu", calendar=calendar("prod-eu", "Europe/Berlin")),
        lane("us", calendar=calendar("prod-us", "America/New_York")),
        lane("ap", calendar=calendar("prod-ap", "Asia/Tokyo")),
    ]
    root = draw(lanes, utc(2026, 12, 1), utc(2026, 12, 3))
    rows = shapes(root, "tl-lane")
    assert [r.get("data-wave") for r in rows] == ["eu", "us", "ap"]
    texts = ["".join(t.itertext()) for t in rows[1].iter(f"{SVG}text")]
    assert "us" in texts and "prod-us · America/New_York" in texts


def test_text_is_escaped():
    nasty = lane(
        '<script>"&',
        calendar=calendar(
            freezes=(calendars.Freeze(utc(2026, 12, 1, 1), utc(2026, 12, 1, 5), "a < b & 'c'"),)
        ),
    )
    svg = timeline.render([nasty], start=utc(2026, 12, 1), end=utc(2026, 12, 3))
    root = ET.fromstring(svg)
    assert "<script>" not in svg
    assert root.find(f".//{SVG}g[@data-wave]").get("data-wave") == '<script>"&'


def test_now_line_only_inside_the_range():
    inside = draw([lane()], utc(2026, 12, 1), utc(2026, 12, 3), now=utc(2026, 12, 2))
    outside = draw([lane()], utc(2026, 12, 1), utc(2026, 12, 3), now=utc(2026, 12, 5))
    assert len(shapes(inside, "tl-now")) == 1
    assert shapes(outside, "tl-now") == []


def test_no_lanes_still_draws_a_valid_svg():
    root = draw([], utc(2026, 12, 1), utc(2026, 12, 3))
    assert "No waves planned yet." in "".join(root.itertext())


def test_range_must_end_after_it_starts():
    with pytest.raises(ValueError):
        timeline.render([lane()], start=utc(2026, 12, 2), end=utc(2026, 12, 1))


def test_time_range_covers_whole_local_days_from_first_start_to_last_bake():
    lanes = [
        lane(planned_start=utc(2026, 12, 1, 8), earliest_start=utc(2026, 12, 1, 8)),
        lane(
            planned_start=utc(2026, 12, 3, 22),
            earliest_start=utc(2026, 12, 3, 22),
            bake=timedelta(hours=3),
        ),
    ]
    start, end = timeline.time_range(lanes, now=utc(2026, 11, 1), time_zone="Europe/Berlin")
    assert start == utc(2026, 11, 30, 23)  # midnight in Berlin
    assert end == utc(2026, 12, 4, 23)  # the last bake ends on Friday, Berlin time


def test_time_range_is_at_least_two_days_and_at_most_three_weeks():
    now = utc(2026, 12, 1, 10)
    start, end = timeline.time_range([], now=now)
    assert (start, end) == (utc(2026, 12, 1), utc(2026, 12, 3))
    far = [lane(earliest_start=utc(2026, 12, 1, 8)), lane(earliest_start=utc(2027, 3, 1))]
    start, end = timeline.time_range(far, now=now)
    assert end - start == timeline.MAX_RANGE


def test_a_wave_beyond_the_range_gets_an_arrow_at_the_edge():
    root = draw([lane(earliest_start=utc(2027, 3, 1, 8))], utc(2026, 12, 1), utc(2026, 12, 3))
    (bar,) = shapes(root, "tl-bake")
    assert "is-later" in bar.get("class")
    assert "later: Mon 09:00 CET" in "".join(bar.itertext())

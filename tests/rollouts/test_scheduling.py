"""Pure scheduling rules: local time, daylight saving, windows and freezes."""

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.environments.calendars import (
    Calendar,
    Freeze,
    Window,
    _window_spans,
    active_freeze,
    ambiguous_local,
    earliest_start,
    in_window,
    local_to_utc,
    nonexistent_local,
)
from apps.rollouts.scheduling import PlannedWave, PlannedWindow, dry_run

EVERY_DAY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        # Europe/Berlin springs forward on 2026-03-29 at 02:00 → 03:00.
        (datetime(2026, 3, 28, 9, 0), "Europe/Berlin", utc(2026, 3, 28, 8, 0)),
        (datetime(2026, 3, 29, 9, 0), "Europe/Berlin", utc(2026, 3, 29, 7, 0)),
        (datetime(2026, 3, 29, 2, 30), "Europe/Berlin", utc(2026, 3, 29, 1, 30)),  # gap: 03:30 CEST
        # ...and falls back on 2026-10-25 at 03:00 → 02:00; 02:30 happens twice, the first counts.
        (datetime(2026, 10, 24, 9, 0), "Europe/Berlin", utc(2026, 10, 24, 7, 0)),
        (datetime(2026, 10, 25, 9, 0), "Europe/Berlin", utc(2026, 10, 25, 8, 0)),
        (datetime(2026, 10, 25, 2, 30), "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
        # America/New_York springs forward on 2026-03-08 at 02:00 → 03:00.
        (datetime(2026, 3, 7, 9, 0), "America/New_York", utc(2026, 3, 7, 14, 0)),
        (datetime(2026, 3, 8, 9, 0), "America/New_York", utc(2026, 3, 8, 13, 0)),
        (datetime(2026, 3, 8, 2, 30), "America/New_York", utc(2026, 3, 8, 7, 30)),  # gap: 03:30 EDT
        # ...and falls back on 2026-11-01 at 02:00 → 01:00.
        (datetime(2026, 10, 31, 9, 0), "America/New_York", utc(2026, 10, 31, 13, 0)),
        (datetime(2026, 11, 1, 9, 0), "America/New_York", utc(2026, 11, 1, 14, 0)),
        (datetime(2026, 11, 1, 1, 30), "America/New_York", utc(2026, 11, 1, 5, 30)),
    ],
)
def test_local_wave_start_is_stored_in_utc_across_daylight_saving(local, zone, expected):
    assert local_to_utc(local, zone) == expected


def test_local_to_utc_refuses_an_aware_time():
    with pytest.raises(ValueError):
        local_to_utc(utc(2026, 1, 1), "Europe/Berlin")


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        (utc(2026, 3, 28, 15, 30), True),  # 16:30 CET, the day before the change
        (utc(2026, 3, 29, 15, 30), False),  # 17:30 CEST on the spring day: hours closed
        (utc(2026, 3, 29, 7, 0), True),  # 09:00 CEST: just opened
        (utc(2026, 3, 29, 6, 59), False),
        (utc(2026, 10, 25, 15, 30), True),  # 16:30 CET on the autumn day
        (utc(2026, 10, 25, 7, 30), False),  # 08:30 CET
    ],
)
def test_deployment_hours_follow_local_time_through_dst(at, inside):
    calendar = Calendar("prod-eu", "Europe/Berlin", windows=(Window(EVERY_DAY, time(9), time(17)),))
    assert in_window(at, calendar) is inside


def test_start_waits_for_the_window_to_open_and_says_why():
    calendar = Calendar(
        "prod-us", "America/New_York", windows=(Window(WEEKDAYS, time(9), time(17)),)
    )
    slot = earliest_start(utc(2026, 11, 28, 12, 0), calendar)  # Saturday
    assert slot.at == utc(2026, 11, 30, 14, 0)  # Monday 09:00 EST
    assert slot.reasons == (
        "prod-us: outside deployment hours until Mon 30 Nov 09:00 America/New_York",
    )


def test_start_is_pushed_past_a_freeze_and_the_reason_names_it():
    freeze = Freeze(utc(2026, 12, 1, 0), utc(2026, 12, 2, 8), "Quarter close")
    calendar = Calendar(
        "prod-eu",
        "Europe/Paris",
        windows=(Window(EVERY_DAY, time(9), time(17)),),
        freezes=(freeze,),
    )
    slot = earliest_start(utc(2026, 12, 1, 10), calendar)
    assert slot.at == utc(2026, 12, 2, 8)  # 09:00 Paris, the freeze ends exactly then
    assert slot.reasons == ("prod-eu: freeze until Wed 02 Dec 09:00 Europe/Paris (Quarter close)",)


def test_overlapping_freezes_are_cleared_in_one_jump():
    freezes = (
        Freeze(utc(2026, 1, 1), utc(2026, 1, 5), "a"),
        Freeze(utc(2026, 1, 2), utc(2026, 1, 9), "b"),
    )
    assert active_freeze(utc(2026, 1, 3), freezes).reason == "b"
    assert earliest_start(utc(2026, 1, 3), Calendar("x", "UTC", freezes=freezes)).at == utc(
        2026, 1, 9
    )


def test_no_window_at_all_gives_no_start():
    calendar = Calendar(
        "dev",
        "UTC",
        windows=(Window(EVERY_DAY, time(9), time(17)),),
        freezes=(Freeze(utc(2026, 1, 1), utc(2028, 1, 1), "forever"),),
    )
    slot = earliest_start(utc(2026, 1, 1), calendar)
    assert slot.at is None
    assert "no deployment window" in slot.reasons[-1]


def test_dry_run_chains_bake_times_and_reports_freezes():
    eu = Calendar(
        "prod-eu",
        "Europe/Berlin",
        freezes=(Freeze(utc(2026, 12, 1, 10), utc(2026, 12, 3, 8), "Sale"),),
    )
    us = Calendar("prod-us", "America/New_York", windows=(Window(EVERY_DAY, time(9), time(17)),))
    now = utc(2026, 12, 1, 9)
    lines = dry_run(
        [
            PlannedWave("canary", Calendar("staging", "UTC"), None, timedelta(hours=2)),
            PlannedWave("eu", eu, None, timedelta(hours=1)),
            PlannedWave("us", us, None, timedelta(hours=1)),
        ],
        now,
    )
    assert lines[0].earliest == now and lines[0].reasons == ()
    assert lines[1].earliest == utc(2026, 12, 3, 8)
    assert lines[1].reasons == ("prod-eu: freeze until Thu 03 Dec 09:00 Europe/Berlin (Sale)",)
    assert lines[2].earliest == utc(2026, 12, 3, 14)  # 09:00 New York, after eu has baked
    assert "outside deployment hours" in lines[2].reasons[0]


# --- daylight saving: a planned start in the gap, or in the hour that happens twice ----------


@pytest.mark.parametrize(
    ("local", "zone", "message"),
    [
        (
            datetime(2026, 3, 29, 2, 30),
            "Europe/Berlin",
            "02:30 on 29 March 2026 does not exist in Europe/Berlin "
            "(clocks go forward from 02:00 to 03:00)",
        ),
        (
            datetime(2026, 3, 8, 2, 59),
            "America/New_York",
            "02:59 on 8 March 2026 does not exist in America/New_York "
            "(clocks go forward from 02:00 to 03:00)",
        ),
        (  # Lord Howe Island moves its clocks by half an hour
            datetime(2026, 10, 4, 2, 15),
            "Australia/Lord_Howe",
            "02:15 on 4 October 2026 does not exist in Australia/Lord_Howe "
            "(clocks go forward from 02:00 to 02:30)",
        ),
    ],
)
def test_a_local_time_in_the_spring_forward_gap_is_named(local, zone, message):
    assert nonexistent_local(local, zone) == message


@pytest.mark.parametrize(
    "local",
    [datetime(2026, 3, 29, 1, 59), datetime(2026, 3, 29, 3, 0), datetime(2026, 10, 25, 2, 30)],
)
def test_local_times_that_exist_are_not_refused(local):
    assert nonexistent_local(local, "Europe/Berlin") is None


def test_a_time_that_happens_twice_says_which_one_it_is():
    first = local_to_utc(datetime(2026, 10, 25, 2, 30), "Europe/Berlin")  # the documented rule
    assert first == utc(2026, 10, 25, 0, 30)
    assert ambiguous_local(first, "Europe/Berlin") == (
        "02:30 on 25 October 2026 happens twice in Europe/Berlin (clocks go back); "
        "this is the first, 02:30 CEST (UTC+02:00)"
    )
    assert ambiguous_local(utc(2026, 10, 25, 1, 30), "Europe/Berlin").endswith(
        "this is the second, 02:30 CET (UTC+01:00)"
    )
    assert ambiguous_local(utc(2026, 10, 25, 8, 0), "Europe/Berlin") is None


def test_dry_run_warns_of_a_planned_start_that_happens_twice():
    berlin = Calendar("prod-eu", "Europe/Berlin")
    start = local_to_utc(datetime(2026, 10, 25, 2, 30), "Europe/Berlin")
    (line,) = dry_run([PlannedWave("eu", berlin, start, timedelta(0))], utc(2026, 10, 1))
    assert line.reasons == (
        "eu: the planned start 02:30 on 25 October 2026 happens twice in Europe/Berlin "
        "(clocks go back); this is the first, 02:30 CEST (UTC+02:00)",
    )


# --- the release's planned window ------------------------------------------------------------

UTC_ENV = Calendar("staging", "UTC")


def test_before_rollout_unplanned_waves_start_when_the_planned_window_opens():
    now = utc(2026, 12, 1, 9)
    window = PlannedWindow(utc(2027, 1, 1, 8), utc(2027, 1, 3, 18), rolling=False)
    first, second = dry_run(
        [
            PlannedWave("canary", UTC_ENV, None, timedelta(hours=2)),
            PlannedWave("rest", UTC_ENV, None, timedelta(0)),
        ],
        now,
        window,
    )
    assert (first.earliest, first.reasons) == (utc(2027, 1, 1, 8), ())
    assert (second.earliest, second.reasons) == (utc(2027, 1, 1, 10), ())


def test_a_rollout_ahead_of_its_planned_window_is_flagged():
    now = utc(2026, 12, 27, 9)  # five days before the window
    window = PlannedWindow(utc(2027, 1, 1, 8), utc(2027, 1, 3, 18), rolling=True)
    (line,) = dry_run([PlannedWave("canary", UTC_ENV, None, timedelta(0))], now, window)
    assert line.earliest == now
    assert line.reasons == (
        "canary: starts Sun 27 Dec 09:00 UTC, before the release's planned window opens "
        "(Fri 01 Jan 08:00 UTC)",
    )


def test_waves_planned_outside_the_planned_window_are_flagged():
    now = utc(2026, 12, 1, 9)
    window = PlannedWindow(utc(2027, 1, 1, 8), utc(2027, 1, 3, 18), rolling=False)
    early, late = dry_run(
        [
            PlannedWave("early", UTC_ENV, utc(2026, 12, 31, 8), timedelta(0)),
            PlannedWave("late", UTC_ENV, utc(2027, 1, 5, 8), timedelta(0)),
        ],
        now,
        window,
    )
    assert early.earliest == utc(2027, 1, 1, 8)
    assert (
        "early: planned for Thu 31 Dec 08:00 UTC, before the release's planned window opens "
        "(Fri 01 Jan 08:00 UTC)"
    ) in early.reasons
    assert late.reasons == (
        "late: starts Tue 05 Jan 08:00 UTC, after the release's planned window closes "
        "(Sun 03 Jan 18:00 UTC)",
    )


def test_a_freeze_inside_the_planned_window_is_flagged_once():
    now = utc(2026, 12, 1, 9)
    freeze = Freeze(utc(2027, 1, 2, 0), utc(2027, 1, 2, 12), "Inventory")
    eu = Calendar("prod-eu", "Europe/Berlin", freezes=(freeze,))
    us = Calendar("prod-us", "America/New_York", freezes=(freeze,))  # a global freeze
    window = PlannedWindow(utc(2027, 1, 1, 8), utc(2027, 1, 3, 18), rolling=False)
    eu_line, us_line = dry_run(
        [PlannedWave("eu", eu, None, timedelta(0)), PlannedWave("us", us, None, timedelta(0))],
        now,
        window,
    )
    assert eu_line.earliest == utc(2027, 1, 1, 8)  # before the freeze: not pushed
    assert eu_line.reasons == (
        "prod-eu: freeze Sat 02 Jan 01:00 Europe/Berlin – Sat 02 Jan 13:00 Europe/Berlin "
        "(Inventory) overlaps the release's planned window",
    )
    assert us_line.reasons == ()


# --- property: over random calendars no start falls in a freeze or outside a window ----------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Singapore", "Australia/Sydney"]
BASE = utc(2026, 1, 1)

windows_st = st.lists(
    st.builds(
        lambda days, start_minute, length: Window(
            frozenset(days),
            time(start_minute // 60, start_minute % 60),
            time(
                min(23, (start_minute + length) // 60),
                (start_minute + length) % 60 if (start_minute + length) < 24 * 60 else 59,
            ),
        ),
        st.sets(st.integers(0, 6), min_size=1),
        st.integers(0, 22 * 60),
        st.integers(15, 8 * 60),
    ),
    max_size=3,
)
freezes_st = st.lists(
    st.builds(
        lambda start_h, length_h: Freeze(
            BASE + timedelta(hours=start_h), BASE + timedelta(hours=start_h + length_h), "f"
        ),
        st.integers(0, 24 * 400),
        st.integers(1, 24 * 10),
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    windows=windows_st,
    freezes=freezes_st,
    offset_minutes=st.integers(0, 60 * 24 * 400),
)
def test_no_start_ever_falls_inside_a_freeze_or_outside_a_window(
    zone, windows, freezes, offset_minutes
):
    windows = tuple(w for w in windows if w.end > w.start)
    calendar = Calendar("env", zone, windows=windows, freezes=tuple(freezes))
    not_before = BASE + timedelta(minutes=offset_minutes)
    slot = earliest_start(not_before, calendar)
    if slot.at is None:
        return
    assert slot.at >= not_before
    assert active_freeze(slot.at, calendar.freezes) is None
    assert in_window(slot.at, calendar)
    # Earliest: no moment where a start could begin (the asked time, a freeze end, a window
    # opening) lies between the asked time and the answer while being allowed.
    candidates = {not_before} | {f.end for f in freezes}
    day = not_before.date() - timedelta(days=1)
    while day <= slot.at.date() + timedelta(days=1):
        candidates |= {start for start, _ in _window_spans(day, calendar)}
        day += timedelta(days=1)
    for moment in candidates:
        if not_before <= moment < slot.at:
            assert active_freeze(moment, calendar.freezes) is not None or not in_window(
                moment, calendar
            )


def test_each_reason_says_what_it_is_about_whatever_its_wording():
    """Pages colour a warning by its kind, never by reading the sentence."""
    eu = Calendar(
        "prod-eu",
        "Europe/Berlin",
        freezes=(Freeze(utc(2026, 12, 1, 10), utc(2026, 12, 3, 8), "Sale"),),
    )
    us = Calendar("prod-us", "America/New_York", windows=(Window(EVERY_DAY, time(9), time(17)),))
    never = Calendar("lab", "UTC", freezes=(Freeze(utc(2026, 1, 1), utc(2028, 1, 1), "Closed"),))
    now = utc(2026, 12, 1, 9)
    window = PlannedWindow(utc(2026, 12, 1, 8), utc(2026, 12, 3, 9), rolling=True)
    lines = dry_run(
        [
            PlannedWave(
                "canary", Calendar("staging", "UTC"), utc(2026, 12, 1, 8), timedelta(hours=2)
            ),
            PlannedWave("eu", eu, None, timedelta(hours=1)),
            PlannedWave("us", us, None, timedelta(hours=1)),
            PlannedWave("lab", never, None, timedelta(0)),
            PlannedWave("after", UTC_ENV, None, timedelta(0)),
        ],
        now,
        window,
    )
    kinds = [[reason.kind for reason in line.reasons] for line in lines]
    assert kinds == [
        ["sequence"],  # later than planned
        ["freeze"],  # pushed past the sale
        ["window", "plan"],  # outside New York's hours, so after the planned window
        ["freeze", "impossible", "plan"],  # frozen for over a year, inside the planned window
        ["impossible"],  # after a wave that cannot start
    ]
    assert isinstance(lines[0].reasons[0], str)  # still the sentence for the API and the page

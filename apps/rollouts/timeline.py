"""The rollout plan drawn against deployment windows and freezes, as an inline SVG. Pure.

One row per wave: its environment's deployment windows shaded green, freezes hatched red, the
planned start as a dashed tick and the earliest start the dry run found as a bar as long as
the wave's bake time. Text labels and <title>/<desc> carry the same facts for screen readers.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

from apps.environments import calendars

WIDTH = 1000
LABEL_W = 200
RIGHT_PAD = 18
AXIS_H = 38
ROW_H = 48
BOTTOM_PAD = 10
MIN_BAR_W = 6.0
# Longer plans are cut here so a bake of minutes stays visible; later bars get an arrow.
MAX_RANGE = timedelta(days=21)
MIN_RANGE = timedelta(days=2)

COLOURS = {
    "row": "#f8f9fc",
    "row_alt": "#ffffff",
    "grid": "#dde2ea",
    "grid_minor": "#eef1f6",
    "text": "#18202e",
    "muted": "#586275",
    "window": "#cdeedb",
    "window_edge": "#7cc49b",
    "open": "#e9f7ef",
    "freeze": "#b01f33",
    "freeze_soft": "#fde6e9",
    "bar": "#3343d1",
    "bar_late": "#b86e00",
    "bar_none": "#b01f33",
    "now": "#1f6feb",
}


@dataclass(frozen=True)
class Lane:
    """One wave of the plan with its environment's calendar and its dry-run result."""

    label: str
    calendar: calendars.Calendar
    planned_start: datetime | None
    earliest_start: datetime | None
    bake: timedelta
    warnings: tuple[str, ...] = field(default_factory=tuple)


def time_range(
    lanes: list[Lane], now: datetime, time_zone: str = "UTC"
) -> tuple[datetime, datetime]:
    """Whole days in `time_zone` from the first planned or earliest start to the last bake's end."""
    moments = [m for lane in lanes for m in (lane.planned_start, lane.earliest_start) if m]
    ends = [lane.earliest_start + lane.bake for lane in lanes if lane.earliest_start]
    first = min(moments, default=now)
    last = max(ends + moments, default=now)
    zone = ZoneInfo(time_zone)
    start = _midnight(first.astimezone(zone).date(), zone)
    end = _midnight(last.astimezone(zone).date() + timedelta(days=1), zone)
    if end - start < MIN_RANGE:
        end = _midnight(start.astimezone(zone).date() + MIN_RANGE, zone)
    return start, min(end, start + MAX_RANGE)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _attrs(**values: object) -> str:
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"'
        for name, v in values.items()
        if v is not None
    )


def _when(at: datetime, time_zone: str) -> str:
    return calendars.describe(at, time_zone)


def _window_spans(
    calendar: calendars.Calendar, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The deployment windows between start and end, in UTC, from the environment's local hours."""
    zone = ZoneInfo(calendar.time_zone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    spans = []
    day = first
    while day <= last:
        for window in calendar.windows:
            if day.weekday() not in window.weekdays:
                continue
            opens = calendars.local_to_utc(datetime.combine(day, window.start), calendar.time_zone)
            closes = calendars.local_to_utc(datetime.combine(day, window.end), calendar.time_zone)
            if closes > start and opens < end and closes > opens:
                spans.append((max(opens, start), min(closes, end)))
        day += timedelta(days=1)
    return spans


def render(
    lanes: list[Lane],
    *,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    time_zone: str = "UTC",
    title: str = "Rollout timeline",
    id_prefix: str = "timeline",
) -> str:
    """The SVG markup for `lanes` between `start` and `end`; axis labels in `time_zone`."""
    if end <= start:
        raise ValueError("the time range must end after it starts")
    chart_w = WIDTH - LABEL_W - RIGHT_PAD
    height = AXIS_H + ROW_H * max(len(lanes), 1) + BOTTOM_PAD
    span = (end - start).total_seconds()

    def x(at: datetime) -> float:
        seconds = (min(max(at, start), end) - start).total_seconds()
        return LABEL_W + chart_w * seconds / span

    zone = ZoneInfo(time_zone)
    title_id, desc_id, hatch_id = f"{id_prefix}-title", f"{id_prefix}-desc", f"{id_prefix}-hatch"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline-svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(_description(lanes, start, end, time_zone))}</desc>',
        "<defs>",
        f'<pattern id="{hatch_id}" patternUnits="userSpaceOnUse" width="7" height="7" '
        f'patternTransform="rotate(45)">'
        f'<rect width="7" height="7" fill="{COLOURS["freeze_soft"]}"/>'
        f'<line x1="0" y1="0" x2="0" y2="7" stroke="{COLOURS["freeze"]}" stroke-width="2.4" '
        f'stroke-opacity="0.55"/></pattern>',
        "</defs>",
    ]

    # Axis: a line and a label at each local midnight, lighter lines every six hours.
    days = (end - start).days or 1
    step = 1 if days <= 8 else 2 if days <= 16 else 3
    day = start.astimezone(zone).date()
    index = 0
    out.append('<g class="tl-axis">')
    while True:
        midnight = _midnight(day, zone)
        if midnight > end:
            break
        if midnight >= start:
            gx = _num(x(midnight))
            out.append(
                f"<line {_attrs(x1=gx, y1=AXIS_H - 6, x2=gx, y2=height - BOTTOM_PAD)} "
                f'stroke="{COLOURS["grid"]}" stroke-width="1"/>'
            )
            if index % step == 0 and midnight < end:
                out.append(
                    f'<text {_attrs(x=_num(x(midnight) + 4), y=AXIS_H - 14)} font-size="12" '
                    f'font-weight="600" fill="{COLOURS["muted"]}">{escape(f"{day:%a} {day.day} {day:%b}")}</text>'
                )
            index += 1
        if days <= 4:
            for hour in (6, 12, 18):
                tick = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
                if start < tick < end:
                    tx = _num(x(tick))
                    out.append(
                        f"<line {_attrs(x1=tx, y1=AXIS_H, x2=tx, y2=height - BOTTOM_PAD)} "
                        f'stroke="{COLOURS["grid_minor"]}" stroke-width="1"/>'
                    )
                    if days <= 2:
                        out.append(
                            f'<text {_attrs(x=_num(x(tick) + 3), y=AXIS_H - 14)} font-size="10.5" '
                            f'fill="{COLOURS["muted"]}">{hour:02d}:00</text>'
                        )
        day += timedelta(days=1)
    out.append("</g>")

    for row, lane in enumerate(lanes):
        out.append(_lane(row, lane, x, start, end, hatch_id))

    if not lanes:
        out.append(
            f'<text {_attrs(x=LABEL_W + 12, y=AXIS_H + ROW_H / 2 + 4)} font-size="13" '
            f'fill="{COLOURS["muted"]}">No waves planned yet.</text>'
        )

    if now is not None and start <= now <= end:
        nx = _num(x(now))
        out.append(
            f'<g class="tl-now"><line {_attrs(x1=nx, y1=AXIS_H - 8, x2=nx, y2=height - BOTTOM_PAD)} '
            f'stroke="{COLOURS["now"]}" stroke-width="1.5" stroke-dasharray="3 3"/>'
            f'<text {_attrs(x=nx, y=AXIS_H - 1)} font-size="10" font-weight="700" '
            f'text-anchor="middle" fill="{COLOURS["now"]}">now</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _lane(
    row: int,
    lane: Lane,
    x: Callable[[datetime], float],
    start: datetime,
    end: datetime,
    hatch_id: str,
) -> str:
    top = AXIS_H + row * ROW_H
    mid = top + ROW_H / 2
    cal = lane.calendar
    band_top, band_h = top + 7, ROW_H - 14
    parts = [
        f'<g class="tl-lane" data-wave="{escape(lane.label, quote=True)}">',
        f"<rect {_attrs(x=0, y=top, width=WIDTH, height=ROW_H)} "
        f'fill="{COLOURS["row"] if row % 2 == 0 else COLOURS["row_alt"]}"/>',
        f'<text {_attrs(x=12, y=_num(mid - 3))} font-size="13" font-weight="650" '
        f'fill="{COLOURS["text"]}">{escape(_clip(lane.label, 24))}</text>',
        f'<text {_attrs(x=12, y=_num(mid + 13))} font-size="11" fill="{COLOURS["muted"]}">'
        f"{escape(_clip(f'{cal.name} · {cal.time_zone}', 30))}</text>",
    ]
    # Deployment windows; an environment without windows is open all the time.
    if cal.windows:
        for opens, closes in _window_spans(cal, start, end):
            wx, ww = x(opens), max(x(closes) - x(opens), 1.0)
            parts.append(
                f'<rect class="tl-window" {_attrs(x=_num(wx), y=band_top, width=_num(ww), height=band_h, rx=3)} '
                f'fill="{COLOURS["window"]}" stroke="{COLOURS["window_edge"]}" stroke-width="0.6">'
                f"<title>{escape(cal.name)}: deployment window {escape(_when(opens, cal.time_zone))} to "
                f"{escape(_when(closes, cal.time_zone))}</title></rect>"
            )
    else:
        parts.append(
            f'<rect class="tl-open" {_attrs(x=LABEL_W, y=band_top, width=_num(x(end) - LABEL_W), height=band_h, rx=3)} '
            f'fill="{COLOURS["open"]}"><title>{escape(cal.name)}: no deployment window limits</title></rect>'
        )
    for freeze in cal.freezes:
        if freeze.end <= start or freeze.start >= end:
            continue
        fx, fw = x(freeze.start), max(x(freeze.end) - x(freeze.start), 2.0)
        label = f"Freeze: {freeze.reason}"
        parts.append(
            f'<rect class="tl-freeze" {_attrs(x=_num(fx), y=top + 3, width=_num(fw), height=ROW_H - 6, rx=2)} '
            f'fill="url(#{hatch_id})" stroke="{COLOURS["freeze"]}" stroke-width="1.2">'
            f"<title>{escape(label)}, {escape(_when(freeze.start, cal.time_zone))} to "
            f"{escape(_when(freeze.end, cal.time_zone))}</title></rect>"
        )
        if fw > 70:
            parts.append(
                f'<text class="tl-freeze-label" {_attrs(x=_num(fx + 5), y=top + 16)} font-size="10.5" '
                f'font-weight="700" fill="{COLOURS["freeze"]}">{escape(_clip(label, int(fw / 6.2)))}</text>'
            )
    if lane.planned_start and start <= lane.planned_start <= end:
        px = _num(x(lane.planned_start))
        parts.append(
            f'<line class="tl-planned" {_attrs(x1=px, y1=top + 4, x2=px, y2=top + ROW_H - 4)} '
            f'stroke="{COLOURS["text"]}" stroke-width="1.5" stroke-dasharray="3 2">'
            f"<title>{escape(lane.label)}: planned for "
            f"{escape(_when(lane.planned_start, cal.time_zone))}</title></line>"
        )
    parts.append(_bar(lane, x, start, end, mid))
    parts.append("</g>")
    return "".join(parts)


def _bar(
    lane: Lane, x: Callable[[datetime], float], start: datetime, end: datetime, mid: float
) -> str:
    cal = lane.calendar
    if lane.earliest_start is None:
        return (
            f'<text class="tl-nostart" {_attrs(x=LABEL_W + 8, y=_num(mid + 4))} font-size="12" '
            f'font-weight="650" fill="{COLOURS["bar_none"]}">Cannot start: '
            f"{escape(_clip(lane.warnings[-1] if lane.warnings else 'no free window', 70))}</text>"
        )
    begins, finishes = lane.earliest_start, lane.earliest_start + lane.bake
    late = bool(lane.planned_start and begins > lane.planned_start)
    colour = COLOURS["bar_late"] if late else COLOURS["bar"]
    local = calendars.utc_to_local(begins, cal.time_zone)
    caption = f"{local:%a %H:%M} {local.tzname()}"
    what = (
        f"{lane.label}: earliest start {_when(begins, cal.time_zone)}, "
        f"bakes {int(lane.bake.total_seconds() // 60)} min"
    )
    if begins >= end:
        ax = WIDTH - RIGHT_PAD
        return (
            f'<g class="tl-bake is-later"><path d="M{ax - 10} {_num(mid - 6)} L{ax} {_num(mid)} '
            f'L{ax - 10} {_num(mid + 6)} Z" fill="{colour}"><title>{escape(what)}</title></path>'
            f'<text {_attrs(x=ax - 14, y=_num(mid + 4))} font-size="11" text-anchor="end" '
            f'fill="{colour}" font-weight="650">later: {escape(caption)}</text></g>'
        )
    bx = x(begins)
    bw = max(x(min(finishes, end)) - bx, MIN_BAR_W)
    text_x, anchor = bx + bw + 6, "start"
    if text_x > WIDTH - RIGHT_PAD - 80:
        text_x, anchor = bx - 6, "end"
    return (
        f'<g class="tl-bake{" is-late" if late else ""}">'
        f"<rect {_attrs(x=_num(bx), y=_num(mid - 7), width=_num(bw), height=14, rx=4)} "
        f'fill="{colour}"><title>{escape(what)}</title></rect>'
        f'<circle {_attrs(cx=_num(bx), cy=_num(mid), r=5)} fill="#ffffff" stroke="{colour}" '
        f'stroke-width="2.5"/>'
        f'<text {_attrs(x=_num(text_x), y=_num(mid + 4))} font-size="11.5" font-weight="650" '
        f'text-anchor="{anchor}" fill="{colour}" paint-order="stroke" stroke="#ffffff" '
        f'stroke-width="3">{escape(caption)}</text></g>'
    )


def _clip(text: str, limit: int) -> str:
    limit = max(limit, 4)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _description(lanes: list[Lane], start: datetime, end: datetime, time_zone: str) -> str:
    if not lanes:
        return "No waves planned yet."
    lines = [
        f"{len(lanes)} wave{'s' if len(lanes) != 1 else ''} from "
        f"{_when(start, time_zone)} to {_when(end, time_zone)}."
    ]
    for lane in lanes:
        cal = lane.calendar
        if lane.earliest_start is None:
            line = f"{lane.label} ({cal.name}) cannot start."
        else:
            line = (
                f"{lane.label} ({cal.name}) starts {_when(lane.earliest_start, cal.time_zone)} "
                f"and bakes {int(lane.bake.total_seconds() // 60)} min."
            )
        freezes = [f for f in cal.freezes if f.end > start and f.start < end]
        if freezes:
            line += " Freezes: " + "; ".join(
                f"{f.reason} until {_when(f.end, cal.time_zone)}" for f in freezes
            )
            line += "."
        if not cal.windows:
            line += " No deployment window limits."
        lines.append(line)
    return " ".join(lines)

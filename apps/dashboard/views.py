"""The dashboard (live), the calendar (month and week) and the personal iCalendar feed."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST, require_safe

from apps.accounts.permissions import Action, can, holds, is_administrator, page_require
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.core.htmx import is_htmx, login_required, render_fragment
from apps.core.live import LivePass, live_poll
from apps.environments.forms import StopTheLineForm
from apps.environments.stop_line import stop_the_line_set
from apps.releases.selectors import applications_visible_to

from . import ical, periods, selectors
from .calendar_events import CalendarEvent, calendar_events
from .feeds import feed_owner, feed_token
from .models import CalendarFeed
from .services import calendar_feed_reset

TEMPLATE = "dashboard/home.html"
CALENDAR_TEMPLATE = "dashboard/calendar.html"
CHANGED_EVENT = "dashboard-changed"
# Lets an unchanged poll skip the role lookup (see apps.core.live).
live_pass = LivePass(salt="dashboard.live")
MONTH_CELL_LIMIT = 4
FEED_PAST = timedelta(days=90)
FEED_AHEAD = timedelta(days=365)


# ---- Dashboard ----


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.VIEW)
    context = _dashboard_context(request)
    if is_htmx(request):
        return render(request, f"{TEMPLATE}#live", context)
    return render(request, TEMPLATE, context)


def _unchanged(request: HttpRequest) -> bool:
    return request.GET.get("m", "") == selectors.change_marker()


@require_GET
@live_poll(live_pass, _unchanged)
@login_required
def live(request: HttpRequest) -> HttpResponse:
    """Polled every second by an open dashboard: 204 while nothing changed, else the live
    parts, re-rendered."""
    marker = selectors.change_marker()
    if not can(request.user, Action.VIEW):
        # Swapped in place of the poller, which stops it.
        return render(request, f"{TEMPLATE}#live_denied", {}, status=403)
    context = _dashboard_context(request, marker=marker)
    # The stop-the-line part holds a form someone may be typing in: it is sent again only when
    # the switch itself changed since the page last showed it.
    context["send_line"] = request.GET.get("line") != context["line_state"]
    return render(request, f"{TEMPLATE}#live", context)


@require_POST
@login_required
def stop_line(request: HttpRequest) -> HttpResponse:
    """Pull (with a reason) or lift the global stop-the-line switch."""
    page_require(request.user, Action.STOP_THE_LINE)
    form = StopTheLineForm(request.POST)
    error = ""
    status = 200
    if not form.is_valid():
        error, status = form.first_error(), 400
    else:
        try:
            stop_the_line_set(
                active=form.cleaned_data["active"] == "on",
                reason=form.cleaned_data["reason"],
                actor=cast(User, request.user),
            )
        except ServiceError as exc:
            error, status = exc.message, exc.status
    if not is_htmx(request):
        if status < 300:
            return redirect("dashboard:home")
        context = _dashboard_context(request)
        context.update(line_error=error, line_reason=request.POST.get("reason", ""))
        return render(request, TEMPLATE, context, status=status)
    line = selectors.stop_the_line()
    context = {
        "line": line,
        "line_state": "on" if line and line.active else "off",
        "can_stop_line": True,
        "line_error": error,
        "line_reason": request.POST.get("reason", "") if error else "",
        "line_open": bool(error),
        "now": timezone.now(),
    }
    return render_fragment(
        request,
        f"{TEMPLATE}#line",
        context,
        status=status,
        event=CHANGED_EVENT if status < 300 else None,
    )


def _dashboard_context(request: HttpRequest, *, marker: str | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, in a fixed number of queries."""
    user = request.user
    now = timezone.now()
    marker = marker or selectors.change_marker(now)
    applications = list(applications_visible_to(user).order_by("name"))
    environments = selectors.environments_in_order()
    rollouts = selectors.active_rollouts(user)
    freezes = selectors.upcoming_freezes(now)
    waves, more_waves = selectors.upcoming_waves(now, freezes, user)
    line = selectors.stop_the_line()
    waiting = selectors.signoffs_waiting(user, now)
    return {
        "now": now,
        "marker": marker,
        "live_pass": live_pass.issue(user),
        "line": line,
        "line_state": "on" if line and line.active else "off",
        "send_line": True,
        "can_stop_line": can(user, Action.STOP_THE_LINE),
        "applications": applications,
        "environments": environments,
        "matrix": selectors.matrix(applications, environments, rollouts),
        "rollouts": rollouts,
        "waiting": waiting,
        "is_approver": holds(user, {Role.APPROVER.value}) or is_administrator(user),
        "upcoming": waves,
        "more_upcoming": more_waves,
        "freezes": freezes[: selectors.FREEZE_LIMIT],
        "more_freezes": len(freezes) > selectors.FREEZE_LIMIT,
        "horizon_days": selectors.UPCOMING_DAYS,
    }


# ---- Calendar ----


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    # Midnight to midnight in the viewer's zone: 23 or 25 hours on the days clocks change.
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def _place(
    events: list[CalendarEvent], days: list[date], tz: ZoneInfo
) -> dict[date, list[dict[str, Any]]]:
    """Each day's events, with how each one meets that day (starts, continues, ends)."""
    placed: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for day in days:
        day_start, day_end = _day_bounds(day, tz)
        items = placed[day]
        for event in events:
            if event.point:
                if not day_start <= event.start < day_end:
                    continue
            elif not (event.start < day_end and event.end > day_start):
                continue
            starts_here = event.start >= day_start
            ends_here = event.end <= day_end
            items.append(
                {
                    "event": event,
                    "starts_here": starts_here,
                    "ends_here": ends_here,
                    "all_day": not starts_here and not ends_here,
                    "local_start": (
                        event.start.astimezone(ZoneInfo(event.local_tz)) if event.local_tz else None
                    ),
                }
            )
        # All-day spans first, then by the time they start on this day.
        items.sort(
            key=lambda p: (not p["all_day"], p["event"].start if p["starts_here"] else day_start)
        )
        for index, item in enumerate(items):
            item["overflow"] = index >= MONTH_CELL_LIMIT
    return placed


@require_GET
@login_required
def calendar(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.VIEW)
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    period = periods.parse_period(request.GET, today)
    start, _ = _day_bounds(period.first, tz)
    _, end = _day_bounds(period.last, tz)
    events = calendar_events(request.user, start, end)
    days = [day for week in period.weeks for day in week]
    placed = _place(events, days, tz)
    weeks = [
        [
            {
                "date": day,
                "items": placed.get(day, []),
                # A month cell shows a few; narrow screens list the day as an agenda, in full.
                "hidden": max(0, len(placed.get(day, [])) - MONTH_CELL_LIMIT),
                "in_month": period.view == periods.WEEK or day.month == period.anchor.month,
                "is_today": day == today,
                "week_query": period.query(day - timedelta(days=day.weekday()), periods.WEEK),
            }
            for day in week
        ]
        for week in period.weeks
    ]
    return render(
        request,
        CALENDAR_TEMPLATE,
        {
            **_feed_context(request),
            "period": period,
            "weeks": weeks,
            "weekdays": periods.WEEKDAYS,
            "today_query": periods.parse_period({"view": period.view}, today).query(),
            "switch_query": period.switch_query(today),
            "event_count": len(events),
            "tz_name": str(tz),
        },
    )


def _feed_context(request: HttpRequest) -> dict[str, Any]:
    if not request.user.is_authenticated:  # signed-in pages only; narrows the type
        return {"feed_url": ""}
    feed = CalendarFeed.objects.filter(user=request.user).first()
    if feed is None:
        return {"feed_url": ""}
    url = request.build_absolute_uri(
        reverse("dashboard:calendar_feed", kwargs={"token": feed_token(feed)})
    )
    return {
        "feed_url": url,
        "feed_webcal": "webcal://" + url.split("://", 1)[1],
        "feed_created": feed.created_at,
    }


@require_POST
@login_required
def calendar_feed_new(request: HttpRequest) -> HttpResponse:
    """Make the person's feed address, or replace it: the old one stops working at once."""
    page_require(request.user, Action.VIEW)
    calendar_feed_reset(actor=cast(User, request.user))
    return redirect(reverse("dashboard:calendar") + "#feed")


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The person's releases, waves and freezes as iCalendar; 404 for an unknown, reset or
    revoked address and for a person who may no longer see releases."""
    user = feed_owner(token)
    if user is None or not can(user, Action.VIEW):
        raise Http404("No such calendar feed.")
    now = timezone.now()
    events = calendar_events(user, now - FEED_PAST, now + FEED_AHEAD)
    host = request.get_host().split(":")[0] or "releasedeck"
    body = ical.calendar(
        (_ical_event(request, event, host) for event in events),
        prodid="-//ReleaseDeck//Release calendar//EN",
        name=f"ReleaseDeck · {user.get_username()}",
        now=now,
    )
    response = HttpResponse(body.encode("utf-8"), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="releasedeck.ics"'
    response["Cache-Control"] = "private, max-age=300"
    # The address is the secret: never send it on to another site.
    response["Referrer-Policy"] = "no-referrer"
    return response


def _ical_event(request: HttpRequest, event: CalendarEvent, host: str) -> ical.Event:
    url = (
        request.build_absolute_uri(reverse("releases:detail", args=[event.release_id]))
        if event.release_id
        else ""
    )
    description = event.detail
    if event.local_tz:
        local = event.start.astimezone(ZoneInfo(event.local_tz))
        description += f"\nLocal time: {local:%a %d %b %Y, %H:%M} {event.local_tz}"
    if url:
        description += f"\n{url}"
    return ical.Event(
        uid=f"{event.key}@{host}",
        start=event.start,
        end=event.end,
        summary=event.title,
        description=description,
        url=url,
        status="CANCELLED" if event.cancelled else "CONFIRMED",
        categories=(event.kind.capitalize(),),
        last_modified=event.updated_at,
        sequence=event.sequence,
    )

"""The audit log page: filtered, paginated events, CSV/JSON downloads (the same exports as the
API's /api/v1/audit-events/export/), and the hash chain check for administrators."""

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import Action, page_require
from apps.audit.exports import csv_rows, export_checkpoint, json_chunks
from apps.audit.models import AuditEvent
from apps.audit.selectors import events_visible_to, latest_event_id, visibility_filter
from apps.audit.services import audit_verify, latest_checkpoint
from apps.core.htmx import is_htmx, login_required
from apps.core.live import LivePass, live_poll, seen_number
from apps.releases.models import Release
from apps.releases.selectors import releases_visible_to

from . import activity
from .audit_forms import CURSORS, AuditFilterForm, offered_releases

TEMPLATE = "audit/page.html"
PAGE_SIZE = 50
# Counting every event of a long history is what made the page slow; past this it says "more".
COUNT_CAP = 1_000
FORMATS = ("csv", "json")
live_pass = LivePass("audit.live")


@dataclass(frozen=True)
class EventRow:
    """One event as the page lists it."""

    event: AuditEvent
    release: Release | None  # None when it names no release, or one no longer there
    changes: list[dict[str, str]]
    text: str


@require_GET
@login_required
def audit_page(request: HttpRequest) -> HttpResponse:
    page_require(request.user, Action.VIEW)
    form = AuditFilterForm(request.GET, visible=releases_visible_to(request.user))
    valid = form.is_valid()
    return render(request, TEMPLATE, _context(request, form), status=200 if valid else 400)


def _unchanged(request: HttpRequest) -> bool:
    seen = seen_number(request, "since")
    return seen is not None and latest_event_id() == seen


@require_GET
@live_poll(live_pass, _unchanged)
@login_required
def audit_live(request: HttpRequest) -> HttpResponse:
    """Polled by the first page of results: 204 until a new event is recorded anywhere."""
    page_require(request.user, Action.VIEW)
    form = AuditFilterForm(request.GET, visible=releases_visible_to(request.user))
    form.is_valid()
    return render(request, f"{TEMPLATE}#results", _context(request, form))


@require_GET
@login_required
def audit_release_options(request: HttpRequest) -> HttpResponse:
    """The release filter's options for what was typed in its search box."""
    page_require(request.user, Action.VIEW)
    search = request.GET.get("release_q", "").strip()
    if len(search) > 100 or "\x00" in search:
        return HttpResponse("Search for at most 100 characters.", status=400)
    releases = offered_releases(
        chosen=request.GET.get("release", ""),
        search=search,
        visible=releases_visible_to(request.user),
    )
    return render(
        request,
        f"{TEMPLATE}#release-options",
        {"releases": releases, "chosen": request.GET.get("release", ""), "search": search},
    )


@require_GET
@login_required
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    page_require(request.user, Action.VIEW)
    form = AuditFilterForm(request.GET, visible=releases_visible_to(request.user))
    fmt = request.GET.get("as", "csv")
    if not form.is_valid() or fmt not in FORMATS:
        context = _context(request, form)
        if fmt not in FORMATS:
            context["export_error"] = "Downloads come as csv or json."
        return render(request, TEMPLATE, context, status=400)
    events = form.filter(events_visible_to(request.user, AuditEvent.objects.order_by("id")))
    if fmt == "csv":
        response = StreamingHttpResponse(csv_rows(events), content_type="text/csv")
    else:
        checkpoint, refused = export_checkpoint()
        filters = {
            k: str(getattr(v, "pk", v))
            for k, v in form.cleaned_data.items()
            if v is not None and v != "" and k not in CURSORS
        } | visibility_filter(request.user)
        response = StreamingHttpResponse(
            json_chunks(events, filters=filters, checkpoint=checkpoint, refused=refused),
            content_type="application/json",
        )
    response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
    return response


@require_POST
@login_required
def audit_verify_chain(request: HttpRequest) -> HttpResponse:
    """Walk the whole hash chain (administrators: it reads every event)."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only administrators check the audit chain.")
    check = audit_verify()
    result = {
        "checked": check.checked,
        "broken": check.broken,
        "why": check.why,
        "checkpoint": latest_checkpoint(),
    }
    if is_htmx(request):
        return render(request, f"{TEMPLATE}#verify", {"verify": result, "is_admin": True})
    form = AuditFilterForm(request.GET, visible=releases_visible_to(request.user))
    form.is_valid()
    return render(request, TEMPLATE, {**_context(request, form), "verify": result})


def _context(request: HttpRequest, form: AuditFilterForm) -> dict[str, Any]:
    """A page of events in a fixed number of queries, whatever the size of the log: keyset
    pages (`before`/`after` an event id, newest first) and a count that stops at COUNT_CAP."""
    events = form.filter(events_visible_to(request.user, AuditEvent.objects.all()))
    data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    before, after = data.get("before"), data.get("after")
    if after is not None:
        rows = list(events.filter(id__gt=after).order_by("id")[: PAGE_SIZE + 1])
        has_newer, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE][::-1]
        has_older = bool(rows) and events.filter(id__lt=rows[-1].pk).exists()
    else:
        if before is not None:
            events_older = events.filter(id__lt=before)
        else:
            events_older = events
        rows = list(events_older.order_by("-id")[: PAGE_SIZE + 1])
        has_older, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        has_newer = before is not None and events.filter(id__gte=before).exists()
    count = events.order_by()[: COUNT_CAP + 1].count()
    releases = {
        r.pk: r
        for r in Release.objects.filter(
            pk__in={e.release_id for e in rows if e.release_id}
        ).select_related("application")
    }
    words = activity.words_for(rows)
    listed = [
        EventRow(
            event=event,
            release=releases.get(event.release_id) if event.release_id else None,
            changes=_changes(event.before, event.after),
            text=activity.sentence(event, words),
        )
        for event in rows
    ]
    query = request.GET.copy()
    for key in ("page", "since", "pass", "as", "release_q", *CURSORS):
        query.pop(key, None)
    filters = query.urlencode()
    return {
        "form": form,
        "events": listed,
        "count": min(count, COUNT_CAP),
        "count_capped": count > COUNT_CAP,
        "newest": before is None and after is None,
        "newer": rows[0].pk if has_newer and rows else None,
        "older": rows[-1].pk if has_older and rows else None,
        "filters": filters,
        "since": latest_event_id(),
        "live_pass": live_pass.issue(request.user),
        "is_admin": request.user.is_superuser,
        "verify": None,
    }


def _changes(before: Any, after: Any) -> list[dict[str, str]]:
    """before/after as rows of (field, old, new) for dict payloads; others stay whole."""
    if not isinstance(before, dict | None) or not isinstance(after, dict | None):
        return [{"field": "", "old": _show(before), "new": _show(after)}]
    before, after = before or {}, after or {}
    return [
        {"field": key, "old": _show(before.get(key)), "new": _show(after.get(key))}
        for key in sorted(set(before) | set(after))
    ]


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

"""What the release, sign-off and console pages share when they poll: the change counter,
and the answer to a poll that saw a change."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.permissions import Action, can
from apps.core.live import seen_number

from . import rules
from .models import Release
from .selectors import releases_visible_to


def release_unchanged(request: HttpRequest, release_id: int) -> bool:
    """True when the release's revision is still the one the page last showed (one query)."""
    seen = seen_number(request, "rev")
    if seen is None:
        return False
    current = Release.objects.filter(pk=release_id).values_list("revision", flat=True).first()
    return current == seen


def release_live_parts(
    request: HttpRequest,
    release_id: int,
    template: str,
    context_of: Callable[[HttpRequest, Release], dict[str, Any]],
) -> HttpResponse:
    """The page's `live` partial, rendered again with every check.

    Someone who may no longer look gets `live_denied` in place of the poller, which stops it;
    once the release has ended, the final state comes with htmx's stop-polling status.
    """
    if not can(request.user, Action.VIEW):
        return render(request, f"{template}#live_denied", {}, status=403)
    release = get_object_or_404(
        releases_visible_to(request.user).select_related("created_by"), pk=release_id
    )
    response = render(request, f"{template}#live", context_of(request, release))
    if release.phase in rules.TERMINAL:
        return HttpResponseStopPolling(response.content)
    return response

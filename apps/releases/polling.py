"""What the release, sign-off and console pages share when they poll: the change counter,
and the answer to a poll that saw a change."""

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.permissions import VIEWER, Action, can, user_roles
from apps.core.live import LivePass, seen_number

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
    *,
    shared_pass: LivePass | None = None,
) -> HttpResponse:
    """The page's `live` partial, rendered again with every check.

    Someone who may no longer look gets `live_denied` in place of the poller, which stops it;
    once the release has ended, the final state comes with htmx's stop-polling status. Given the
    page's `shared_pass`, people who may only look share one render per revision and zone.
    """
    if not can(request.user, Action.VIEW):
        return render(request, f"{template}#live_denied", {}, status=403)
    release = get_object_or_404(
        releases_visible_to(request.user).select_related("created_by"), pk=release_id
    )
    key = _shared_key(request, release, template) if shared_pass else None
    content = _shared_render(request, key, shared_pass, release) if key and shared_pass else None
    if content is None:
        context = context_of(request, release)
        content = render(request, f"{template}#live", context).content
        if key:
            _share(key, content, context["live_pass"])
    if release.phase in rules.TERMINAL:
        return HttpResponseStopPolling(content)
    return HttpResponse(content)


# A change to a release watched by many re-rendered its page once per open page: the renders
# for people who may only look are the same but for their pass, so they share one per revision
# (bench/load.py measures it).
SHARED_SECONDS = 120
_PASS = "\x00pass\x00"


def _shared_key(request: HttpRequest, release: Release, template: str) -> str | None:
    """The cache key of a render any viewer of this revision could be given, or None when
    this person sees anything of their own (buttons, a sign-off of theirs)."""
    user = request.user
    if user.is_superuser or user_roles(user) != frozenset({VIEWER}):
        return None
    if release.signoffs.filter(signer_id=user.pk).exists():
        return None
    zone = timezone.get_current_timezone_name()
    return f"live:{template}:{release.pk}:{release.revision}:{release.phase}:{zone}"


def _shared_render(
    request: HttpRequest, key: str, live_pass: LivePass, release: Release
) -> bytes | None:
    shared = cache.get(key)
    if shared is None:
        return None
    mine = quote(live_pass.issue(request.user, release.pk), safe="/")
    return shared.replace(_PASS.encode(), mine.encode())


def _share(key: str, content: bytes, issued: str) -> None:
    encoded = quote(issued, safe="/").encode()  # as the urlencode filter writes it
    if content.count(encoded) == 1:  # the pass, once, in the poller's URL: nothing else of theirs
        cache.set(key, content.replace(encoded, _PASS.encode()), SHARED_SECONDS)

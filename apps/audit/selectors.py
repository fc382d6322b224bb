from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet

from .models import AuditEvent


def latest_event_id() -> int:
    """Every change of state appends an audit event, so the newest id is a global change counter
    that open pages can poll for the price of one index lookup."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


# Which releases a person may see is known above this app: the releases app registers, in its
# ready(), a function giving a query of the release ids `user` sees, or None for all of them.
VisibleReleases = Callable[[Any], QuerySet | None]
_visible_releases: list[VisibleReleases] = []


def register_visible_releases(visible: VisibleReleases) -> None:
    _visible_releases[:] = [visible]


def events_visible_to(user: Any, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """`events` less those about releases `user` may not see (visibility restricted to teams);
    events about no release stay."""
    if not _visible_releases:
        return events
    releases = _visible_releases[0](user)
    if releases is None:
        return events
    return events.filter(Q(release_id__isnull=True) | Q(release_id__in=releases))


def visibility_filter(user: Any) -> dict[str, str]:
    """What an export names among its filters when `user` sees only some releases' events, so
    the file does not claim to be the whole trail."""
    if _visible_releases and _visible_releases[0](user) is not None:
        return {"visible_to": "the person's teams"}
    return {}

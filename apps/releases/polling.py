"""The change counter the release, sign-off and console pages poll on."""

from django.http import HttpRequest

from apps.core.live import seen_number

from .models import Release


def release_unchanged(request: HttpRequest, release_id: int) -> bool:
    """True when the release's revision is still the one the page last showed (one query)."""
    seen = seen_number(request, "rev")
    if seen is None:
        return False
    current = Release.objects.filter(pk=release_id).values_list("revision", flat=True).first()
    return current == seen

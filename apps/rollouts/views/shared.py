"""What every rollout page shares: the release it is about and how a form's numbers are read."""

import re
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from apps.accounts.permissions import Action, page_require
from apps.releases.models import Release
from apps.releases.selectors import releases_visible_to

# Announced after every change so live parts refresh at once.
CHANGED_EVENT = "release-changed"
_NUMBER = re.compile(r"-?\d{1,9}")


def get_visible(request: HttpRequest, release_id: int) -> Release:
    # Roles first, so a person without any learns nothing, not even whether the release exists.
    page_require(request.user, Action.VIEW)
    return get_object_or_404(releases_visible_to(request.user), pk=release_id)


def form_int(value: str | None) -> Any:
    """A whole number typed in a form, or the text itself so the service names the problem."""
    text = (value or "").strip()
    return int(text) if _NUMBER.fullmatch(text) else text

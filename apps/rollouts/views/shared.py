"""What every rollout page shares: who asks, the release it is about, and how a number typed
outside a form is read."""

import re

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
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


def signed_in(request: HttpRequest) -> User:
    """The person behind a request to a page behind `login_required`."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def typed_int(value: str | None) -> int | None:
    """A whole number typed in a field no form reads (an order number, a query parameter)."""
    text = (value or "").strip()
    return int(text) if _NUMBER.fullmatch(text) else None

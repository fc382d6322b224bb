"""A person's calendar feed address: its secret, derived from the feed's nonce and stored
only hashed, and the person an address belongs to."""

import base64
import hashlib
from typing import Any

from django.utils.crypto import salted_hmac

from .models import CalendarFeed

_SALT = "releasedeck.dashboard.calendar-feed"


def feed_token(feed: CalendarFeed) -> str:
    """The secret part of the feed's address (43 URL-safe characters, 256 bits)."""
    digest = salted_hmac(_SALT, feed.nonce, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_owner(token: str) -> Any | None:
    """The active person a feed token belongs to, or None (unknown, reset or revoked)."""
    if not token or len(token) > 128:
        return None
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=hash_token(token), user__is_active=True)
        .first()
    )
    return feed.user if feed is not None else None

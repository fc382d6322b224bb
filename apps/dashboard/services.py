"""Writes of the dashboard app: a person's own calendar feed address."""

import secrets

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record

from .feeds import feed_token, hash_token
from .models import CalendarFeed


def calendar_feed_reset(*, actor: User) -> tuple[CalendarFeed, str]:
    """Give `actor` a new feed address; the previous one, if any, stops working at once."""
    require(actor, Action.VIEW)
    nonce = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        feed = CalendarFeed.objects.select_for_update().filter(user=actor).first()
        verb = "calendar_feed.reset" if feed is not None else "calendar_feed.created"
        if feed is None:
            feed = CalendarFeed(user=actor)
        feed.nonce, feed.created_at = nonce, now
        token = feed_token(feed)
        feed.token_hash = hash_token(token)
        feed.save()
        audit_record(actor=actor, verb=verb, obj=feed, after={"user": actor.get_username()})
    return feed, token

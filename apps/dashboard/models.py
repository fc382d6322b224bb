from django.conf import settings
from django.db import models


class CalendarFeed(models.Model):
    """A person's secret iCalendar feed address.

    The secret in the URL is derived from `nonce` with the site's SECRET_KEY, so the page can
    show the address again at any time while the table alone (a backup, a leak) reveals no
    working address. `token_hash` finds the feed from a request in one indexed lookup.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    nonce = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"

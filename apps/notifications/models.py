from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel


class Announcement(TimeStampedModel):
    """What end users are told about a release: what changes, when, where to learn it."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="announcements"
    )
    title = models.CharField(max_length=200)
    body = models.TextField()
    publish_at = models.DateTimeField(null=True, blank=True)
    training_url = models.URLField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-publish_at", "-created_at"]

    def __str__(self) -> str:
        return self.title

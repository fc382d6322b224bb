import uuid

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


class OutboundWebhook(TimeStampedModel):
    """A receiver of release events (chat bot, dashboard), sent JSON signed with its secret."""

    name = models.CharField(max_length=100)
    url = models.URLField()
    secret = models.CharField(max_length=128)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(TimeStampedModel):
    """One message to one recipient on one channel: written with the change, sent after it."""

    event = models.CharField(max_length=64)
    release = models.ForeignKey(
        "releases.Release", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254)  # an email address, or the webhook's URL
    webhook = models.ForeignKey(
        OutboundWebhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    subject = models.CharField(max_length=300)
    body = models.TextField()
    payload = models.JSONField(default=dict)
    state = models.CharField(
        max_length=8, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Sent as the webhook's Idempotency-Key, the same on every attempt: receivers dedupe on it.
    key = models.UUIDField(default=uuid.uuid4, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient} ({self.state})"

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
    SLACK = "slack", "Slack"


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
    # An email address, the webhook's URL, or for Slack the message's response_url (an update
    # of a message already posted) or SLACK_WEBHOOK (the configured incoming webhook).
    recipient = models.CharField(max_length=254)
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


class ChatProvider(models.TextChoices):
    SLACK = "slack", "Slack"


class ChatIdentity(TimeStampedModel):
    """Who a chat account is here: the only way a button pressed in chat acts as a person. Set
    by an administrator; never inferred from a display name or an e-mail address."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_identities"
    )
    provider = models.CharField(max_length=16, choices=ChatProvider.choices)
    # Slack's user id (U… or W…), as its interaction payloads carry it in `user.id`.
    external_user_id = models.CharField(max_length=64)

    class Meta:
        ordering = ["provider", "external_user_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_user_id"], name="chat_identity_unique_account"
            ),
            models.UniqueConstraint(fields=["provider", "user"], name="chat_identity_one_per_user"),
        ]
        verbose_name_plural = "chat identities"

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_user_id} → {self.user}"

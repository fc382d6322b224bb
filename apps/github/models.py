from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel


class Verdict(models.TextChoices):
    """What ReleaseDeck decided about a deployment; `approved` and `rejected` are GitHub's own
    words for the answer."""

    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class AnswerState(models.TextChoices):
    """Where the answer to GitHub stands: nothing to send yet, due, being sent, accepted by
    GitHub, or given up after the last attempt."""

    NONE = "", "Not decided"
    PENDING = "pending", "Due"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class DeploymentProtectionRequest(TimeStampedModel):
    """GitHub asking whether a deployment may go ahead (a `deployment_protection_rule` event): a
    row first, decided by the engine when the gate holds or is refused, answered through the
    event's callback URL by a worker."""

    delivery_id = models.CharField(max_length=100, unique=True)
    # A re-run of the same job brings a new callback URL; the same URL twice is the same request.
    callback_url = models.CharField(max_length=500, unique=True)
    installation_id = models.BigIntegerField()
    repository = models.CharField(max_length=200, blank=True)
    environment_name = models.CharField(max_length=255)
    environment = models.ForeignKey(
        "environments.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sha = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=255, blank=True)
    release = models.ForeignKey(
        "releases.Release",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="github_requests",
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices, default=Verdict.PENDING)
    # Why it is still pending (codes and sentences), or the comment sent with the answer.
    waiting_for = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    answer_state = models.CharField(
        max_length=8, choices=AnswerState.choices, default=AnswerState.NONE, blank=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(verdict__in=[v.value for v in Verdict]), name="github_verdict_valid"
            ),
            models.CheckConstraint(
                condition=Q(verdict="pending", answer_state="") | ~Q(verdict="pending"),
                name="github_answer_only_when_decided",
            ),
        ]
        indexes = [
            # The sweep's two questions: what is undecided, and which answers are due.
            models.Index(
                fields=["created_at"], name="github_undecided", condition=Q(verdict="pending")
            ),
            models.Index(
                fields=["next_attempt_at"],
                name="github_answer_due",
                condition=Q(answer_state__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository} → {self.environment_name} ({self.verdict})"

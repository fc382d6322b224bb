from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel
from apps.releases.rules import SignoffFact


class SignoffRequirement(models.Model):
    """One line of a sign-off policy: `count` approvals from `role`; for a wave when `wave` is set."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="signoff_requirements"
    )
    role = models.ForeignKey(
        "stakeholders.StakeholderRole", on_delete=models.PROTECT, related_name="+"
    )
    count = models.PositiveSmallIntegerField(default=1)
    wave = models.ForeignKey(
        "rollouts.Wave",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="signoff_requirements",
    )
    # A wave's requirement only: when its stakeholders were asked, so they are asked once.
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["role__slug"]
        constraints = [
            models.CheckConstraint(condition=Q(count__gte=1), name="requirement_count_positive"),
            models.UniqueConstraint(
                fields=["release", "role"],
                condition=Q(wave__isnull=True),
                name="requirement_unique_role",
            ),
            models.UniqueConstraint(
                fields=["wave", "role"],
                condition=Q(wave__isnull=False),
                name="requirement_unique_wave_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count} × {self.role}"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class SignOff(TimeStampedModel):
    """An approver's verdict, bound to the release content (fingerprint) it was given for."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="signoffs"
    )
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.ForeignKey(
        "stakeholders.StakeholderRole", on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64)
    override_reason = models.TextField(blank=True)
    # Set for a verdict on one wave's own requirement (e.g. business owner before prod-eu).
    wave = models.ForeignKey(
        "rollouts.Wave", null=True, blank=True, on_delete=models.CASCADE, related_name="signoffs"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "signer", "fingerprint"],
                condition=Q(wave__isnull=True),
                name="one_signoff_per_person_per_content",
            ),
            models.UniqueConstraint(
                fields=["wave", "signer", "fingerprint"],
                condition=Q(wave__isnull=False),
                name="one_wave_signoff_per_person_per_content",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=["approve", "reject"]), name="signoff_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.signer} {self.decision}s {self.release}"

    def fact(self, *, role_held: bool = True) -> SignoffFact:
        """This verdict as the sign-off rules read it; `role_held` is the caller's to know."""
        return SignoffFact(
            signer_id=self.signer_id,
            role=self.role.slug,
            decision=self.decision,
            fingerprint=self.fingerprint,
            created_at=self.created_at,
            role_held=role_held,
        )


class LinkVoid(models.TextChoices):
    """Why an approval link no longer decides anything (410); recorded when a use finds it."""

    EXPIRED = "expired", "It has expired"
    CONTENT_CHANGED = "content_changed", "The release's content changed since it was sent"
    NOT_SIGNING = "not_signing", "The release no longer takes sign-offs"
    NOT_STAKEHOLDER = "not_stakeholder", "Its approver no longer holds that role on the release"
    DEACTIVATED = "deactivated", "Its approver's account is deactivated"
    NOT_ASKED = "not_asked", "The wave's own sign-off is no longer asked"


class ApprovalLink(models.Model):
    """A mailed Approve/Reject link: one approver, one release (or one of its waves when `wave`
    is set), one stakeholder role, one content. Only the token's hash is kept; the token
    itself exists in the mail alone."""

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="approval_links"
    )
    role = models.ForeignKey(
        "stakeholders.StakeholderRole", on_delete=models.PROTECT, related_name="+"
    )
    # Set for a link to a wave's own sign-off, decided through the rollouts app's decider.
    wave = models.ForeignKey(
        "rollouts.Wave", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    signoff = models.ForeignKey(
        SignOff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    void_reason = models.CharField(max_length=16, choices=LinkVoid.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["release", "user"])]

    def __str__(self) -> str:
        on = f"wave {self.wave_id} of {self.release}" if self.wave_id else str(self.release)
        return f"approval link for {self.user} on {on} as {self.role}"

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

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel

DEFAULT_ROLES = [
    ("business_owner", "Business owner"),
    ("qa", "QA"),
    ("it_support", "IT support"),
    ("security", "Security"),
    ("cio", "CIO"),
    ("end_user_rep", "End-user representative"),
]


class StakeholderRole(models.Model):
    """A role a person can hold on a release; administrators may add more."""

    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


def ensure_default_roles() -> None:
    for slug, name in DEFAULT_ROLES:
        StakeholderRole.objects.get_or_create(slug=slug, defaults={"name": name})


class Stakeholder(TimeStampedModel):
    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="stakeholders"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.ForeignKey(StakeholderRole, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["role__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "user", "role"], name="stakeholder_unique_per_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} on {self.release}"

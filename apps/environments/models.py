from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.accounts.models import validate_time_zone
from apps.core.models import TimeStampedModel


class Tier(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class Environment(TimeStampedModel):
    """A place a release is deployed to; a region is an environment of its own."""

    name = models.SlugField(max_length=64, unique=True)
    tier = models.CharField(max_length=16, choices=Tier.choices)
    region = models.CharField(max_length=64, blank=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    health_url = models.URLField(blank=True)
    # The team's own deploy tool for this environment (webhook deployer) and the secret that
    # signs what we send it.
    deploy_url = models.URLField(blank=True)
    deploy_secret = models.CharField(max_length=128, blank=True)
    # How many distinct people must approve lifting an incident freeze that covers this
    # environment (a region's or a global freeze takes the largest quorum it covers).
    freeze_lift_quorum = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["tier", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tier__in=[t.value for t in Tier]), name="environment_tier_valid"
            ),
            models.CheckConstraint(
                condition=Q(freeze_lift_quorum__gte=1), name="environment_lift_quorum_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DeploymentWindow(models.Model):
    """Local hours on given weekdays (0 = Monday) when changes to an environment are allowed."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="deployment_windows"
    )
    weekdays = models.JSONField(default=list)
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="window_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.environment}: {self.weekdays} {self.start_time}-{self.end_time}"


class FreezeScope(models.TextChoices):
    ENVIRONMENT = "environment", "One environment"
    REGION = "region", "A region"
    GLOBAL = "global", "Everywhere"


class FreezeWindow(TimeStampedModel):
    """A blackout: no wave starts in its scope (of one application's, when `application_id` is
    set) between start and end. One that `halts_running`
    (declared for an incident) also halts the running waves in its scope, and is lifted early
    only by its quorum (`freeze_lift`)."""

    scope = models.CharField(max_length=16, choices=FreezeScope.choices)
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="freezes"
    )
    region = models.CharField(max_length=64, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300)
    halts_running = models.BooleanField(default=False)
    # The one application the freeze covers (releases.Application's id), or None: every one.
    # A plain id, not a foreign key: environments sits below releases and knows no
    # applications; rollouts compares it with a wave's release.
    application_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="freeze_end_after_start"
            ),
            models.CheckConstraint(
                condition=(
                    Q(scope="environment", environment__isnull=False)
                    | Q(scope="region", environment__isnull=True, region__gt="")
                    | Q(scope="global", environment__isnull=True)
                ),
                name="freeze_scope_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"Freeze {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M}: {self.reason}"


class StopTheLine(models.Model):
    """The global switch that halts every running wave until it is lifted. One row only."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    active = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "stop the line switch"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="stop_the_line_singleton")]

    def __str__(self) -> str:
        return "Stop the line: ON" if self.active else "Stop the line: off"

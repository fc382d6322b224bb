from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel


class Strategy(models.TextChoices):
    ROLLING = "rolling", "Rolling"
    BLUE_GREEN = "blue_green", "Blue/green"
    CANARY = "canary", "Canary"
    BIG_BANG = "big_bang", "Big bang"
    SHADOW = "shadow", "Shadow"


class WaveState(models.TextChoices):
    PENDING = "pending", "Pending"
    SCHEDULED = "scheduled", "Scheduled"
    WAITING = "waiting", "Waiting"
    DEPLOYING = "deploying", "Deploying"
    VERIFYING = "verifying", "Verifying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    HALTED = "halted", "Halted"
    ROLLED_BACK = "rolled_back", "Rolled back"
    SKIPPED = "skipped", "Skipped"


TERMINAL_WAVE_STATES = frozenset({"succeeded", "failed", "rolled_back", "skipped"})


class FailurePolicy(models.TextChoices):
    HALT = "halt", "Halt for an operator"
    ROLLBACK = "rollback", "Roll back automatically"


class Deployer(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    MANUAL = "manual", "Manual"
    SIMULATED = "simulated", "Simulated"


class RolloutPlan(TimeStampedModel):
    release = models.OneToOneField(
        "releases.Release", on_delete=models.CASCADE, related_name="rollout_plan"
    )
    strategy = models.CharField(max_length=16, choices=Strategy.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(strategy__in=[s.value for s in Strategy]), name="plan_strategy_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_strategy_display()} plan for {self.release}"


class Wave(TimeStampedModel):
    plan = models.ForeignKey(RolloutPlan, on_delete=models.CASCADE, related_name="waves")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="waves"
    )
    percentage = models.PositiveSmallIntegerField(default=100)
    planned_start = models.DateTimeField(null=True, blank=True)
    bake_minutes = models.PositiveIntegerField(default=30)
    failure_policy = models.CharField(
        max_length=8, choices=FailurePolicy.choices, default=FailurePolicy.HALT
    )
    deployer = models.CharField(max_length=16, choices=Deployer.choices, default=Deployer.SIMULATED)
    shadow = models.BooleanField(default=False, help_text="Mirrors traffic; never user-visible.")
    state = models.CharField(max_length=16, choices=WaveState.choices, default=WaveState.PENDING)
    state_reason = models.TextField(blank=True)
    skip_reason = models.TextField(blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_step_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="wave_position_unique"),
            models.CheckConstraint(
                condition=Q(percentage__gte=0) & Q(percentage__lte=100),
                name="wave_percentage_range",
            ),
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in WaveState]), name="wave_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state="skipped") | ~Q(skip_reason=""), name="wave_skip_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.environment}, {self.percentage}%)"


class CheckKind(models.TextChoices):
    HTTP = "http", "HTTP"
    METRIC = "metric", "Metric"
    MANUAL = "manual", "Manual"


class Check(models.Model):
    """A verification a wave runs every interval during its bake time."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="checks")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=CheckKind.choices)
    config = models.JSONField(default=dict, blank=True)
    interval_seconds = models.PositiveIntegerField(default=60)
    failures_to_fail = models.PositiveSmallIntegerField(default=3)

    class Meta:
        ordering = ["wave", "id"]

    def __str__(self) -> str:
        return f"{self.kind} check {self.name}"

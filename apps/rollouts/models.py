from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

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
    # Set while the whole release is being rolled back: the release ends `rolled_back` once
    # every wave's deployer has confirmed its rollback.
    rollback_requested_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.TextField(blank=True)

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
    # The plan's release's application, which never changes: kept here so "the latest release
    # deployed to each application and environment" is one short index range per cell instead
    # of a scan of every wave ever run. Filled from the plan when a wave is first saved.
    application = models.ForeignKey(
        "releases.Application", on_delete=models.PROTECT, related_name="+", editable=False
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
    # Engine bookkeeping: when the next step is due, when the bake began, what a pause interrupted.
    next_step_at = models.DateTimeField(null=True, blank=True, db_index=True)
    bake_started_at = models.DateTimeField(null=True, blank=True)
    paused_from = models.CharField(max_length=16, blank=True)
    halted_by_stop_line = models.BooleanField(default=False)
    deploy_round = models.PositiveSmallIntegerField(default=0)
    # When the tick last enqueued this wave's step: it does not enqueue it again while that
    # message is probably still queued (a lost one is re-sent once the lease runs out).
    kicked_at = models.DateTimeField(null=True, blank=True)
    # Set while the wave's rollback call waits for the deploy tool: the wave keeps its state
    # and reads `rolled_back` only once the tool confirms.
    rollback_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "position"]
        indexes = [
            # The dashboard's change marker reads the newest change on every poll.
            models.Index(fields=["updated_at"], name="wave_updated_idx"),
            # The dashboard's deployed-versions grid: per (application, environment), newest
            # succeeded wave first.
            models.Index(
                F("application"),
                F("environment"),
                F("finished_at").desc(),
                F("id").desc(),
                name="wave_deployed_latest",
                # No NULLS LAST here: SQLite (the demo) cannot index it. A succeeded wave always
                # has its finish time, and the query asks for one.
                condition=Q(state="succeeded", shadow=False),
            ),
        ]
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.application_id is None and self.plan_id is not None:
            self.application_id = self.plan.release.application_id
        super().save(*args, **kwargs)

    @property
    def rollback_pending(self) -> bool:
        return self.rollback_requested_at is not None


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
    consecutive_failures = models.PositiveSmallIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["wave", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_seconds__gte=1), name="check_interval_positive"
            ),
            models.CheckConstraint(
                condition=Q(failures_to_fail__gte=1), name="check_failures_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} check {self.name}"


class CheckResult(models.Model):
    """One run of a check, with what it saw: the evidence behind every automatic verdict."""

    wave_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="results")
    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="check_results")
    at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    value = models.CharField(max_length=200, blank=True)
    detail = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["wave", "-at"])]

    def __str__(self) -> str:
        return f"{self.wave_check}: {'ok' if self.ok else 'failed'} ({self.value})"


class DeployAction(models.TextChoices):
    DEPLOY = "deploy", "Deploy"
    ROLLBACK = "rollback", "Roll back"


class ReportStatus(models.TextChoices):
    """What a deploy tool may report about a call."""

    IN_PROGRESS = "in_progress", "In progress"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class CallState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DeployCall(TimeStampedModel):
    """One request to a deploy tool: a row first, sent by a worker after commit, retried with
    backoff, reported on by the tool. Each attempt is claimed (`sending`) before it goes out and
    the next starts only once it has ended or its time is up; every attempt carries the same
    key, which lets the tool drop a repeat of the same call."""

    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="deploy_calls")
    action = models.CharField(max_length=8, choices=DeployAction.choices)
    round = models.PositiveSmallIntegerField(default=1)
    key = models.UUIDField(unique=True)
    state = models.CharField(max_length=10, choices=CallState.choices, default=CallState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    # Fixed when the call is made: the tool has until then to report, whatever the setting
    # says later.
    deadline_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    report_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["wave", "action", "round"], name="one_call_per_wave_action_round"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.wave} (round {self.round}): {self.state}"

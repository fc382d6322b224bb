import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel


class Phase(models.TextChoices):
    PLANNING = "planning", "Planning"
    PREPARATION = "preparation", "Preparation"
    TESTING = "testing", "Testing"
    ROLLOUT = "rollout", "Rollout"
    SUPPORT = "support", "Support"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    ROLLED_BACK = "rolled_back", "Rolled back"


class Application(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    # The team whose roles act on this application's releases; none means only
    # organisation-wide roles do.
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def content_fingerprint(version: str, build_ref: str, scope: str) -> str:
    """What a sign-off is bound to: any change of version, build or scope makes a new one."""
    payload = "\x1f".join([version, build_ref, scope]).encode()
    return hashlib.sha256(payload).hexdigest()


class Release(TimeStampedModel):
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="releases")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=64)
    build_ref = models.CharField(max_length=200, blank=True)
    scope = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_releases"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_releases"
    )
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.PLANNING)
    phase_entered_at = models.DateTimeField()
    fingerprint = models.CharField(max_length=64)
    signoff_expiry_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="A sign-off older than this many days no longer counts."
    )
    hypercare_days = models.PositiveIntegerField(default=7)
    hypercare_until = models.DateTimeField(null=True, blank=True)
    # Bumped by every change to the release or anything it holds; live pages poll it.
    revision = models.PositiveBigIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(phase__in=[p.value for p in Phase]), name="release_phase_valid"
            ),
            models.CheckConstraint(
                condition=Q(planned_end__isnull=True)
                | Q(planned_start__isnull=True)
                | Q(planned_end__gt=models.F("planned_start")),
                name="release_window_end_after_start",
            ),
            models.UniqueConstraint(
                fields=["application", "version"], name="release_version_unique_per_application"
            ),
        ]
        indexes = [
            models.Index(fields=["phase", "phase_entered_at"]),
            # The dashboard's change marker reads both maxima on every poll.
            models.Index(fields=["phase_entered_at"], name="release_phase_entered_idx"),
            models.Index(fields=["updated_at"], name="release_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.application} {self.version}"

    def compute_fingerprint(self) -> str:
        return content_fingerprint(self.version, self.build_ref, self.scope)


class MoveState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    REFUSED = "refused", "Refused"


class PhaseMove(TimeStampedModel):
    """A requested phase move: a row first, carried out by a worker, re-found if its message is lost."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="moves")
    from_phase = models.CharField(max_length=16, choices=Phase.choices)
    to_phase = models.CharField(max_length=16, choices=Phase.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    override = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=MoveState.choices, default=MoveState.PENDING)
    blockers = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Double clicks and concurrent clients collapse onto one pending move per release.
            models.UniqueConstraint(
                fields=["release"],
                condition=Q(state="pending"),
                name="one_pending_move_per_release",
            ),
        ]
        indexes = [models.Index(fields=["state", "enqueued_at"])]

    def __str__(self) -> str:
        return f"{self.release}: {self.from_phase} → {self.to_phase} ({self.state})"


class ChecklistArea(models.TextChoices):
    SERVERS = "servers", "Servers and compute"
    NETWORKING = "networking", "Networking"
    DATA = "data", "Data and databases"
    INTEGRATIONS = "integrations", "Integrations"
    SECURITY = "security", "Security"
    TOOLING = "tooling", "Deployment tooling"


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    WAIVED = "waived", "Waived"


class ChecklistItem(TimeStampedModel):
    """One preparation step for one environment."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="checklist")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="+"
    )
    area = models.CharField(max_length=16, choices=ChecklistArea.choices)
    title = models.CharField(max_length=300)
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    waive_reason = models.TextField(blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["environment__name", "area", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="waived") | ~Q(waive_reason=""),
                name="checklist_waive_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.environment}: {self.title}"


class TestStatus(models.TextChoices):
    NOT_RUN = "not_run", "Not run"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    WAIVED = "waived", "Waived"


class TestCase(TimeStampedModel):
    __test__ = False  # not a pytest class

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="test_cases")
    title = models.CharField(max_length=300)
    steps = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=TestStatus.choices, default=TestStatus.NOT_RUN)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="waived") | ~Q(note=""), name="test_case_waive_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Severity(models.TextChoices):
    BLOCKER = "blocker", "Blocker"
    CRITICAL = "critical", "Critical"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    TRIVIAL = "trivial", "Trivial"


class DefectStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Defect(TimeStampedModel):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="defects")
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    status = models.CharField(max_length=8, choices=DefectStatus.choices, default=DefectStatus.OPEN)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["status", "severity", "id"]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"


class PostReleaseReview(TimeStampedModel):
    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="review")
    went_well = models.TextField()
    went_badly = models.TextField()
    actions = models.TextField()
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Review of {self.release}"

    @property
    def is_complete(self) -> bool:
        return all(s.strip() for s in (self.went_well, self.went_badly, self.actions))

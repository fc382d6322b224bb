from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel
from apps.environments.models import Environment, FreezeScope, FreezeWindow
from apps.releases.models import Application


class SourceKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager (webhook v4, bearer token)"
    PAGERDUTY = "pagerduty", "PagerDuty (v3 webhook, X-PagerDuty-Signature)"
    GENERIC = "generic", "Generic JSON (bearer token)"


class IncidentSource(TimeStampedModel):
    """Where incidents come from: one webhook URL (`/api/v1/incidents/hooks/<slug>/`) and how
    its requests are verified. Alertmanager and generic sources send a bearer token, of which
    only the SHA-256 is kept; PagerDuty signs the body with `secret`, which must be kept."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    token_sha256 = models.CharField(max_length=64, blank=True)
    secret = models.CharField(max_length=128, blank=True)
    # Resolving the incident at the source lifts its freeze; otherwise people lift it.
    lift_on_resolve = models.BooleanField(default=False)
    # How long a freeze it declares lasts; None: until lifted.
    freeze_hours = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IncidentRoute(models.Model):
    """Which incidents of a source freeze what: every label in `match` must equal the
    incident's (Alertmanager labels; for PagerDuty `service_id`, `service`, `urgency`; the
    generic form's `labels`). The first matching route, by position, wins. With an
    `application`, the freeze covers only that application's waves in the scope."""

    source = models.ForeignKey(IncidentSource, on_delete=models.CASCADE, related_name="routes")
    position = models.PositiveSmallIntegerField(default=0)
    match = models.JSONField(default=dict, blank=True)
    scope = models.CharField(max_length=16, choices=FreezeScope.choices)
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    region = models.CharField(max_length=64, blank=True)
    # Only this application's waves in the scope are frozen; none: every application's.
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["source", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="environment", environment__isnull=False)
                    | Q(scope="region", environment__isnull=True, region__gt="")
                    | Q(scope="global", environment__isnull=True)
                ),
                name="incident_route_scope_consistent",
            ),
        ]

    def __str__(self) -> str:
        where = self.environment or self.region or "everywhere"
        if self.application is not None:
            where = f"{self.application.slug} in {where}"
        return f"{self.source}: {self.match} → {where}"


class IncidentState(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Incident(TimeStampedModel):
    """One incident of a source, by the source's own id. A "resolved" heard before its "open"
    is kept as resolved, so the late "open" changes nothing."""

    source = models.ForeignKey(IncidentSource, on_delete=models.CASCADE, related_name="incidents")
    external_id = models.CharField(max_length=200)
    state = models.CharField(max_length=8, choices=IncidentState.choices)
    title = models.CharField(max_length=300, blank=True)
    url = models.URLField(max_length=500, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    freeze = models.ForeignKey(
        FreezeWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="incident_unique_per_source"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source.slug}#{self.external_id}"


class FreezeLiftApproval(models.Model):
    """One person's approval to lift an incident freeze early; it lifts at its quorum."""

    freeze = models.ForeignKey(FreezeWindow, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["freeze", "user"], name="lift_approval_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} approves lifting {self.freeze_id}"

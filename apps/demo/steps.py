"""The steps a demo release goes through, each one a service call by the person who would make
it, so each release's state and audit trail is one the product could have reached on its own."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.environments.models import Environment
from apps.releases import services as rs
from apps.releases.models import Application, Release
from apps.rollouts import runner
from apps.rollouts import services as ro
from apps.rollouts import steps as engine
from apps.rollouts.models import Wave
from apps.signoffs import services as so
from apps.stakeholders import services as sh

CHECKLIST = (
    ("servers", "Capacity for twice the usual peak confirmed"),
    ("networking", "Firewall rules for the new endpoints in place"),
    ("data", "Database backup confirmed and restore tested"),
    ("integrations", "Downstream systems told about the change"),
    ("security", "Dependency scan clean"),
    ("tooling", "Deployment pipeline points at the release build"),
)

POLICY: list[so.Requirement] = [
    {"role": "qa", "count": 1},
    {"role": "business_owner", "count": 1},
]

# The in-flight rollout's checks ask the demo's own stand-in for the service it deploys
# (apps.demo.views), so results arrive in the console as the canary bakes.
IN_FLIGHT_VERSION = "2.4.0"
HEALTH_PATH = "/demo/health"
CHECK_INTERVAL_SECONDS = 10
ERROR_RATE_THRESHOLD = 0.02


@dataclass
class Demo:
    """The steps a release goes through, each one a service call by the person who would do it."""

    people: dict[str, Any]
    apps: dict[str, Application]
    envs: dict[str, Environment]
    base_url: str = ""  # where the demo's web server answers; the checks ask it

    @property
    def health_url(self) -> str:
        return (self.base_url or settings.RELEASEDECK_PUBLIC_URL).rstrip("/") + HEALTH_PATH

    @property
    def rita(self) -> Any:
        return self.people["rita"]

    def create(
        self,
        app: str,
        version: str,
        name: str,
        scope: str,
        *,
        starts_in_days: float,
        hypercare_days: int = 7,
    ) -> Release:
        start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(
            days=starts_in_days
        )
        return rs.release_create(
            application_id=self.apps[app].pk,
            name=name,
            version=version,
            build_ref=f"git:{app}-{version}",
            scope=scope,
            planned_start=start,
            planned_end=start + timedelta(days=2),
            hypercare_days=hypercare_days,
            actor=self.rita,
        )

    def stakeholders(self, release: Release, roles: dict[str, str] | None = None) -> None:
        roles = roles or {
            "qa": "alice",
            "business_owner": "bob",
            "it_support": "oscar",
            "end_user_rep": "vera",
        }
        for role, username in roles.items():
            sh.stakeholder_add(
                release_id=release.pk,
                user_id=self.people[username].pk,
                role=role,
                actor=self.rita,
            )

    def policy(self, release: Release, requirements: list[so.Requirement] | None = None) -> None:
        so.policy_set(release_id=release.pk, requirements=requirements or POLICY, actor=self.rita)

    def plan(
        self,
        release: Release,
        strategy: str,
        waves: list[tuple[str, str, int, int]],
        *,
        failure_policy: str = "halt",
    ) -> list[Wave]:
        """waves: (name, environment, percentage, bake minutes)."""
        ro.plan_set(release_id=release.pk, strategy=strategy, actor=self.rita)
        return [
            ro.wave_add(
                release_id=release.pk,
                name=name,
                environment_id=self.envs[env].pk,
                percentage=percentage,
                bake_minutes=bake,
                failure_policy=failure_policy,
                deployer="simulated",
                actor=self.rita,
            )
            for name, env, percentage, bake in waves
        ]

    def health_checks(self, wave: Wave, version: str) -> None:
        """An http check (up, on `version`) and a metric check (error rate) against the demo's
        health endpoint, every few seconds of the bake."""
        url = self.health_url
        checks = (
            (
                "Health",
                "http",
                {
                    "url": url,
                    "expect_status": 200,
                    "expect_version": version,
                    "version_field": "version",
                },
            ),
            (
                "Error rate",
                "metric",
                {
                    "url": url,
                    "source": "json",
                    "field": "error_rate",
                    "operator": "<=",
                    "threshold": ERROR_RATE_THRESHOLD,
                },
            ),
        )
        for name, kind, config in checks:
            ro.check_add(
                wave_id=wave.pk,
                name=name,
                kind=kind,
                config=config,
                interval_seconds=CHECK_INTERVAL_SECONDS,
                actor=self.rita,
            )

    def checklist(
        self,
        release: Release,
        environments: list[str],
        *,
        leave_open: frozenset[tuple[str, str]] = frozenset(),
    ) -> dict[tuple[str, str], Any]:
        """Add the preparation checklist of each environment; the operator ticks every item
        except those named (environment, area) in `leave_open`."""
        items = {}
        for env in environments:
            for area, title in CHECKLIST:
                items[env, area] = rs.checklist_item_add(
                    release_id=release.pk,
                    environment_id=self.envs[env].pk,
                    area=area,
                    title=title,
                    actor=self.rita,
                )
        for key, item in items.items():
            if key not in leave_open:
                rs.checklist_item_set(item_id=item.pk, status="done", actor=self.people["oscar"])
        return items

    def uat(self, release: Release, titles: list[str], *, passed: bool = True) -> None:
        for title in titles:
            case = rs.test_case_add(release_id=release.pk, title=title, actor=self.rita)
            if passed:
                rs.test_case_record(case_id=case.pk, status="passed", actor=self.people["alice"])

    def sign(self, release: Release, *usernames: str) -> None:
        for username in usernames or ("alice", "bob"):
            so.signoff_give(
                release_id=release.pk,
                decision="approve",
                comment="Checked the UAT evidence; good to go.",
                actor=self.people[username],
            )

    def move(self, release: Release, to: str, reason: str = "") -> None:
        rs.release_move(release_id=release.pk, to=to, reason=reason, actor=self.rita)

    def to_testing(self, release: Release, environments: list[str]) -> None:
        self.checklist(release, environments)
        self.move(release, "preparation")
        self.move(release, "testing")

    def engine_start(self, wave: Wave, at: datetime) -> None:
        """The engine starts the wave's deploy, as it does once windows and freezes allow."""
        with transaction.atomic():
            release = rs.get_release(wave.plan.release_id, lock=True)
            wave = Wave.objects.select_related("environment", "plan").get(pk=wave.pk)
            outcome = engine.start_deploy(wave, release, at, engine.Writes())
            engine.follow_and_send(wave, outcome, at)

    def engine_step(self, wave: Wave, at: datetime, expect: str) -> None:
        """One engine step of the wave as it would have run at `at`."""
        outcome = runner.wave_step(wave_id=wave.pk, now=at)
        if outcome != expect:
            raise RuntimeError(f"{wave.name}: the engine did {outcome!r}, not {expect!r}.")

    def run_wave(self, wave: Wave, start: datetime) -> datetime:
        """Deploy (simulated), bake and pass a wave from `start`; returns when it succeeded."""
        self.engine_start(wave, start)
        deployed = start + timedelta(minutes=1)
        self.engine_step(wave, deployed, "verifying")
        done = deployed + timedelta(minutes=wave.bake_minutes, seconds=1)
        self.engine_step(wave, done, "succeeded")
        return done

    def run_waves(self, waves: list[Wave], start: datetime) -> None:
        for wave in waves:
            start = self.run_wave(wave, start) + timedelta(minutes=1)

    def deliver(self, release: Release, waves: list[Wave]) -> None:
        """Sign off, roll out every wave from the planned start, and hand over to support."""
        self.sign(release)
        self.move(release, "rollout")
        assert release.planned_start is not None, "every demo release is planned"
        self.run_waves(waves, release.planned_start)
        self.move(release, "support")

    def review(self, release: Release) -> None:
        rs.review_write(
            release_id=release.pk,
            went_well="Canary caught nothing; the waves ran on schedule.",
            went_badly="The staging database was smaller than production, so timings were off.",
            actions="Refresh staging from an anonymised production copy before the next release.",
            actor=self.rita,
        )

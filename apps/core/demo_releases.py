"""The demo's releases, one function each, in the order they happened: every step is a service
call by the person who would make it, so each release's state and audit trail is one the
product could have reached on its own."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.environments.models import Environment
from apps.releases import services as rs
from apps.releases.models import Application, Release
from apps.rollouts import runner, steps
from apps.rollouts import services as ro
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

POLICY = [{"role": "qa", "count": 1}, {"role": "business_owner", "count": 1}]

# The in-flight rollout's checks ask the demo's own stand-in for the service it deploys
# (apps.core.demo_views), so results arrive in the console as the canary bakes.
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

    def policy(self, release: Release, requirements: list[dict] | None = None) -> None:
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
            outcome = steps.start_deploy(wave, release, at, steps.Writes())
            steps.follow_and_send(wave, outcome, at)

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


def _erp_8_1_0_completed(d: Demo) -> None:
    release = d.create(
        "erp",
        "8.1.0",
        "ERP 8.1 — Supplier portal",
        "Suppliers upload invoices themselves; purchase orders show delivery status.",
        starts_in_days=-20,
        hypercare_days=0,
    )
    d.stakeholders(release)
    d.policy(release)
    waves = d.plan(release, "rolling", [("prod-eu", "prod-eu", 100, 20)])
    d.to_testing(release, ["prod-eu"])
    d.uat(release, ["Upload a supplier invoice", "Match invoice to purchase order"])
    d.deliver(release, waves)
    d.review(release)
    d.move(release, "completed")


def _hr_1_7_0_cancelled(d: Demo) -> None:
    release = d.create(
        "hr",
        "1.7.0",
        "HR 1.7 — Leave planner",
        "Team leave calendar with approval flow.",
        starts_in_days=-10,
    )
    d.stakeholders(release)
    d.move(
        release, "cancelled", "Superseded by HR 1.8, which ships the leave planner with payroll."
    )


def _crm_2_3_0_rolled_back(d: Demo) -> None:
    release = d.create(
        "crm",
        "2.3.0",
        "CRM 2.3 — Email templates",
        "Rich-text email templates for account managers.",
        starts_in_days=-6,
    )
    d.stakeholders(release)
    d.policy(release)
    waves = d.plan(
        release,
        "canary",
        [("Canary prod-eu 10%", "prod-eu", 10, 15), ("prod-eu 100%", "prod-eu", 100, 15)],
        failure_policy="rollback",
    )
    d.to_testing(release, ["prod-eu"])
    d.uat(release, ["Send an email from a template"])
    d.sign(release)
    d.move(release, "rollout")
    canary, start = waves[0], release.planned_start
    d.engine_start(canary, start)
    d.engine_step(canary, start + timedelta(minutes=1), "verifying")
    # The canary's error rate breaks its threshold; its failure policy rolls the release back.
    with transaction.atomic():
        locked = rs.get_release(release.pk, lock=True)
        canary = Wave.objects.select_related("environment", "plan").get(pk=canary.pk)
        failed_at = start + timedelta(minutes=7)
        outcome = steps.fail_wave(
            canary,
            locked,
            failed_at,
            steps.Writes(),
            "Check error-rate failed 3 times in a row (last seen: 4.8 %; threshold 1 %)",
        )
        steps.follow_and_send(canary, outcome, failed_at)


def _hr_1_8_0_support(d: Demo) -> None:
    release = d.create(
        "hr",
        "1.8.0",
        "HR 1.8 — Leave planner and payroll export",
        "Team leave calendar with approval flow; monthly payroll export to ERP.",
        starts_in_days=-2,
    )
    d.stakeholders(release)
    d.policy(release)
    waves = d.plan(release, "big_bang", [("All users", "prod-eu", 100, 30)])
    d.to_testing(release, ["prod-eu"])
    d.uat(release, ["Request leave", "Approve leave as a manager", "Export payroll"])
    d.deliver(release, waves)


def _erp_8_1_1_rollout_done(d: Demo) -> None:
    """Every wave has succeeded: the engine's periodic tick moves it on to support."""
    release = d.create(
        "erp",
        "8.1.1",
        "ERP 8.1.1 — Supplier portal fixes",
        "Invoice upload accepts PDF/A; currency rounding fixed.",
        starts_in_days=-1,
    )
    d.stakeholders(release)
    d.policy(release)
    waves = d.plan(
        release,
        "blue_green",
        [("Deploy idle colour", "prod-eu", 0, 5), ("Switch traffic", "prod-eu", 100, 10)],
    )
    d.to_testing(release, ["prod-eu"])
    d.uat(release, ["Upload a PDF/A invoice"])
    d.sign(release)
    d.move(release, "rollout")
    d.run_waves(waves, timezone.now() - timedelta(hours=1))


def _crm_2_4_0_rollout_in_flight(d: Demo) -> None:
    """A canary across three regions: the first wave succeeded, the second is baking, and it
    and the waves after it check the demo's health endpoint as they bake."""
    release = d.create(
        "crm",
        IN_FLIGHT_VERSION,
        "CRM 2.4 — Invoices",
        "New invoice screen; invoices as PDF; email templates (fixed from 2.3).",
        starts_in_days=0,
    )
    d.stakeholders(release)
    d.policy(release)
    waves = d.plan(
        release,
        "canary",
        [
            # Short bakes, so the demo's rollout visibly moves along.
            ("Canary prod-eu 10%", "prod-eu", 10, 5),
            ("Canary prod-us 10%", "prod-us", 10, 5),
            ("Canary prod-apac 10%", "prod-apac", 10, 5),
            ("prod-eu 100%", "prod-eu", 100, 5),
            ("prod-us 100%", "prod-us", 100, 5),
            ("prod-apac 100%", "prod-apac", 100, 5),
        ],
    )
    for wave in waves[1:]:
        d.health_checks(wave, IN_FLIGHT_VERSION)
    d.to_testing(release, ["prod-eu", "prod-us", "prod-apac"])
    d.uat(release, ["Create an invoice", "Download an invoice as PDF", "Send an email template"])
    d.sign(release)
    d.move(release, "rollout")
    now = timezone.now()
    d.run_wave(waves[0], now - timedelta(minutes=30))
    # Deployed two minutes ago and baking: the engine passes it when the bake time is over.
    d.engine_start(waves[1], now - timedelta(minutes=2))
    d.engine_step(waves[1], now - timedelta(minutes=1), "verifying")


def _crm_2_5_0_testing(d: Demo) -> None:
    """Waiting for alice (qa) and bob (business owner): alice approved the first build, which a
    critical defect then replaced, so her approval is stale."""
    release = d.create(
        "crm",
        "2.5.0",
        "CRM 2.5 — Faster search",
        "Search across accounts, contacts and invoices in one box; results in under a second.",
        starts_in_days=5,
    )
    d.stakeholders(release)
    d.policy(release)
    d.plan(
        release,
        "canary",
        [
            ("Canary prod-eu 5%", "prod-eu", 5, 30),
            ("prod-eu 100%", "prod-eu", 100, 30),
            ("prod-us 100%", "prod-us", 100, 30),
        ],
    )
    d.to_testing(release, ["prod-eu", "prod-us"])
    d.uat(release, ["Search by account name", "Search by invoice number"])
    alice, bob = d.people["alice"], d.people["bob"]
    case = rs.test_case_add(release_id=release.pk, title="Search in Japanese", actor=d.rita)
    rs.test_case_record(
        case_id=case.pk,
        status="waived",
        note="No Japanese-speaking users before 3.0; tested again then.",
        actor=alice,
    )
    d.sign(release, "alice")
    critical = rs.defect_open(
        release_id=release.pk,
        title="Search times out for accounts with 10,000+ contacts",
        severity="critical",
        actor=bob,
    )
    rs.release_update(release_id=release.pk, build_ref="git:crm-2.5.0-rc2", actor=d.rita)
    rs.defect_close(defect_id=critical.pk, resolution="Index added in rc2.", actor=d.rita)
    rs.defect_open(
        release_id=release.pk,
        title="Result highlight misses accented letters",
        severity="minor",
        actor=alice,
    )


def _erp_8_2_0_preparation(d: Demo) -> None:
    """Two prod-eu checklist items are still open, so it cannot move to testing yet."""
    release = d.create(
        "erp",
        "8.2.0",
        "ERP 8.2 — Payroll interface",
        "Import payroll runs from HR; post journals automatically.",
        starts_in_days=12,
    )
    d.stakeholders(release)
    d.stakeholders(release, {"security": "alice"})
    d.policy(release, [*POLICY, {"role": "security", "count": 1}])
    d.plan(release, "rolling", [("staging", "staging", 100, 60), ("prod-eu", "prod-eu", 100, 60)])
    d.move(release, "preparation")
    items = d.checklist(
        release,
        ["staging", "prod-eu"],
        leave_open=frozenset(
            {("staging", "integrations"), ("prod-eu", "security"), ("prod-eu", "tooling")}
        ),
    )
    rs.checklist_item_set(
        item_id=items["staging", "integrations"].pk,
        status="waived",
        reason="Staging has no downstream systems.",
        actor=d.people["oscar"],
    )


def _crm_3_0_0_planning(d: Demo) -> None:
    """Scope and window written; stakeholders and the rollout plan are still missing."""
    release = d.create(
        "crm",
        "3.0.0",
        "CRM 3.0 — Customer 360",
        "One page per customer: accounts, contacts, invoices, tickets and contracts.",
        starts_in_days=30,
    )
    d.policy(release, [*POLICY, {"role": "security", "count": 1}])
    d.stakeholders(release, {"qa": "alice"})


# In the order they happened; (application, version) is the natural key.
RELEASES: tuple[tuple[str, str, Callable[[Demo], None]], ...] = (
    ("erp", "8.1.0", _erp_8_1_0_completed),
    ("hr", "1.7.0", _hr_1_7_0_cancelled),
    ("crm", "2.3.0", _crm_2_3_0_rolled_back),
    ("hr", "1.8.0", _hr_1_8_0_support),
    ("erp", "8.1.1", _erp_8_1_1_rollout_done),
    ("crm", IN_FLIGHT_VERSION, _crm_2_4_0_rollout_in_flight),
    ("crm", "2.5.0", _crm_2_5_0_testing),
    ("erp", "8.2.0", _erp_8_2_0_preparation),
    ("crm", "3.0.0", _crm_3_0_0_planning),
)

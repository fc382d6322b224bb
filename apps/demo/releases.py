"""The demo's releases, one function each, in the order they happened."""

from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.releases import services as rs
from apps.rollouts import steps as engine
from apps.rollouts.models import Wave

from .steps import IN_FLIGHT_VERSION, POLICY, Demo


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
    assert start is not None, "every demo release is planned"
    d.engine_start(canary, start)
    d.engine_step(canary, start + timedelta(minutes=1), "verifying")
    # The canary's error rate breaks its threshold; its failure policy rolls the release back.
    with transaction.atomic():
        locked = rs.get_release(release.pk, lock=True)
        canary = Wave.objects.select_related("environment", "plan").get(pk=canary.pk)
        failed_at = start + timedelta(minutes=7)
        outcome = engine.fail_wave(
            canary,
            locked,
            failed_at,
            engine.Writes(),
            "Check error-rate failed 3 times in a row (last seen: 4.8 %; threshold 1 %)",
        )
        engine.follow_and_send(canary, outcome, failed_at)


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
    # tom manages CRM's releases and approves ERP's: here he is a security approver.
    d.stakeholders(release, {"security": "alice"})
    d.stakeholders(release, {"security": "tom"})
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

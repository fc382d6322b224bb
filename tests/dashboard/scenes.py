"""A working week across several applications and environments, built through the services."""

from datetime import datetime, timedelta

from django.utils import timezone

from apps.environments import services as es
from apps.environments.models import Environment
from apps.releases import services as rs
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.stakeholders import services as sh
from tests.builders import advance
from tests.factories import ApplicationFactory, EnvironmentFactory


def hour(days: float = 0, hours: int = 0) -> datetime:
    """A round hour, `days` and `hours` from now."""
    base = timezone.now().replace(minute=0, second=0, microsecond=0)
    return base + timedelta(days=days, hours=hours)


def environments() -> dict[str, Environment]:
    return {
        "staging-eu": EnvironmentFactory(
            name="staging-eu", tier="staging", region="eu", time_zone="Europe/Berlin"
        ),
        "prod-eu": EnvironmentFactory(
            name="prod-eu", tier="production", region="eu", time_zone="Europe/Berlin"
        ),
        "prod-us": EnvironmentFactory(
            name="prod-us", tier="production", region="us", time_zone="America/New_York"
        ),
    }


def release_with_waves(
    app_name: str,
    version: str,
    rm,
    *,
    qa,
    business_owner,
    waves: list[tuple[str, Environment, int, datetime | None]],
    start: datetime,
    name: str = "",
) -> Release:
    """A release in planning whose first gate is open: policy 1 × qa + 1 × business_owner,
    a canary plan with the given (name, environment, percentage, planned start) waves."""
    app = ApplicationFactory(name=app_name, slug=app_name.lower())
    release = rs.release_create(
        application_id=app.pk,
        name=name or f"{app_name} {version}",
        version=version,
        build_ref=f"git:{version}",
        scope="Routine update.",
        planned_start=start,
        planned_end=start + timedelta(hours=8),
        actor=rm,
    )
    sh.stakeholder_add(release_id=release.pk, user_id=qa.pk, role="qa", actor=rm)
    sh.stakeholder_add(
        release_id=release.pk, user_id=business_owner.pk, role="business_owner", actor=rm
    )
    so.policy_set(
        release_id=release.pk,
        requirements=[{"role": "qa", "count": 1}, {"role": "business_owner", "count": 1}],
        actor=rm,
    )
    ro.plan_set(release_id=release.pk, strategy="canary", actor=rm)
    for wave_name, env, share, at in waves:
        ro.wave_add(
            release_id=release.pk,
            name=wave_name,
            environment_id=env.pk,
            percentage=share,
            planned_start=at,
            actor=rm,
        )
    release.refresh_from_db()
    return release


def step_wave(wave: Wave, *states: str) -> None:
    for state in states:
        wave_transition(wave_id=wave.pk, to=state, actor=None)


def backdate(release: Release, *, waves_from: datetime, entered: datetime) -> None:
    """Arrange history: the release entered its phase at `entered`, its waves ran an hour
    apart from `waves_from` (the services stamp everything with the present)."""
    Release.objects.filter(pk=release.pk).update(phase_entered_at=entered)
    for n, wave in enumerate(Wave.objects.filter(plan__release=release).order_by("position")):
        if wave.started_at is not None:
            start = waves_from + timedelta(hours=n)
            Wave.objects.filter(pk=wave.pk).update(
                started_at=start, finished_at=start + timedelta(minutes=45)
            )


def working_week(rita, alice, bob, oscar) -> dict[str, Release]:
    """ERP 5.0.0 live everywhere; ERP 5.1.0 rolling out (staging done, prod-eu deploying);
    Payroll 3.1.0 live in prod-eu; CRM 2.0.0 and Payroll 3.2.0 waiting for alice's sign-off;
    HR 1.4.0 planned next week;
    a global freeze next week and a US freeze now."""
    envs = environments()
    stg, eu, us = envs["staging-eu"], envs["prod-eu"], envs["prod-us"]
    people = {"qa": alice, "business_owner": bob}

    erp_old = release_with_waves(
        "ERP",
        "5.0.0",
        rita,
        **people,
        waves=[("Staging", stg, 100, None), ("EU", eu, 100, None), ("US", us, 100, None)],
        start=hour(-20),
    )
    erp_old = advance(erp_old, rita, to="support", **people)
    backdate(erp_old, waves_from=hour(-20), entered=hour(-19))

    payroll = release_with_waves(
        "Payroll", "3.1.0", rita, **people, waves=[("EU", eu, 100, None)], start=hour(-9)
    )
    payroll = advance(payroll, rita, to="support", **people)
    backdate(payroll, waves_from=hour(-9), entered=hour(-9, 2))

    erp = release_with_waves(
        "ERP",
        "5.1.0",
        rita,
        **people,
        name="Ledger close for Q4",
        waves=[
            ("Staging", stg, 100, hour(-1)),
            ("EU canary", eu, 10, hour(0, 2)),
            ("EU", eu, 100, hour(1)),
            ("US", us, 100, hour(2)),
        ],
        start=hour(-1),
    )
    erp = advance(erp, rita, to="rollout", **people)
    first, second = Wave.objects.filter(plan__release=erp).order_by("position")[:2]
    step_wave(first, "deploying", "verifying", "succeeded")
    step_wave(second, "deploying")

    crm = release_with_waves(
        "CRM",
        "2.0.0",
        rita,
        **people,
        waves=[
            ("Staging", stg, 100, hour(3)),
            ("EU half", eu, 50, hour(4)),
            ("EU", eu, 100, hour(5)),
        ],
        start=hour(3),
    )
    crm = advance(crm, rita, to="testing", **people)
    so.signoff_give(release_id=crm.pk, decision="approve", comment="Looks right.", actor=bob)
    backdate(crm, waves_from=hour(), entered=hour(-1, -6))

    payroll_next = release_with_waves(
        "Payroll", "3.2.0", rita, **people, waves=[("EU", eu, 100, hour(10))], start=hour(10)
    )
    payroll_next = advance(payroll_next, rita, to="testing", **people)
    backdate(payroll_next, waves_from=hour(), entered=hour(-4, -3))

    hr = release_with_waves(
        "HR",
        "1.4.0",
        rita,
        **people,
        name="Leave requests",
        waves=[("Staging", stg, 100, hour(6, 1)), ("US", us, 100, hour(7, 3))],
        start=hour(6),
    )

    es.freeze_create(
        scope="global",
        start=hour(9),
        end=hour(11),
        reason="Year-end close",
        actor=rita,
    )
    es.freeze_create(
        scope="region",
        region="us",
        start=hour(-1),
        end=hour(1, 6),
        reason="US payroll run",
        actor=rita,
    )
    return {
        "erp_old": erp_old,
        "payroll": payroll,
        "erp": erp,
        "crm": crm,
        "payroll_next": payroll_next,
        "hr": hr,
    }

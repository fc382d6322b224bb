"""Build releases through the real services, so arranged state is state the product could reach."""

from apps.releases import services as rs
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.stakeholders import services as sh

from .factories import ApplicationFactory, EnvironmentFactory


def planned_release(rm, *, qa, business_owner, version: str = "2.0.0", app: str = "crm") -> Release:
    """A release in planning whose planning → preparation gate is open.

    Policy 1 × qa + 1 × business_owner; one canary wave on prod-eu with one checklist item
    and one test case. Of the application `app` (its slug; CRM unless said).
    """
    application = ApplicationFactory(name=app.upper(), slug=app)
    env = EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")
    from datetime import timedelta

    from django.utils import timezone

    release = rs.release_create(
        application_id=application.pk,
        name=f"{application.name} {version}",
        version=version,
        build_ref=f"git:{version}",
        scope="Invoices: new screen. Search: faster.",
        planned_start=timezone.now() + timedelta(days=3),
        planned_end=timezone.now() + timedelta(days=4),
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
    ro.wave_add(release_id=release.pk, name="prod-eu 100%", environment_id=env.pk, actor=rm)
    rs.checklist_item_add(
        release_id=release.pk,
        environment_id=env.pk,
        area="data",
        title="Backup confirmed",
        actor=rm,
    )
    rs.test_case_add(release_id=release.pk, title="Create an invoice", actor=rm)
    release.refresh_from_db()
    return release


def advance(release: Release, rm, *, qa=None, business_owner=None, to: str) -> Release:
    """Satisfy each gate in turn with the services and move the release until it reaches `to`."""
    order = ["planning", "preparation", "testing", "rollout", "support"]
    release.refresh_from_db()
    while order.index(release.phase) < order.index(to):
        phase = release.phase
        if phase == "preparation":
            for item in release.checklist.all():
                rs.checklist_item_set(item_id=item.pk, status="done", actor=rm)
        if phase == "testing":
            for case in release.test_cases.all():
                rs.test_case_record(case_id=case.pk, status="passed", actor=rm)
            so.signoff_give(release_id=release.pk, decision="approve", actor=qa)
            so.signoff_give(release_id=release.pk, decision="approve", actor=business_owner)
        if phase == "rollout":
            from apps.rollouts.models import Wave

            for wave in Wave.objects.filter(plan__release=release):
                for state in ("deploying", "verifying", "succeeded"):
                    wave_transition(wave_id=wave.pk, to=state, actor=None)
        rs.release_move(release_id=release.pk, to=order[order.index(phase) + 1], actor=rm)
        release.refresh_from_db()
    return release

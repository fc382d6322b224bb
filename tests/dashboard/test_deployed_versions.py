"""What the dashboard's grid calls deployed: the newest counting wave per application and
environment, in a fixed number of queries whatever the history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.dashboard.selectors import deployed_versions
from apps.rollouts.models import RolloutPlan, Wave
from tests.factories import ApplicationFactory, EnvironmentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def wave(release, environment, *, days_ago: float, state="succeeded", percentage=100, **extra):
    plan, _ = RolloutPlan.objects.get_or_create(release=release, defaults={"strategy": "canary"})
    finished = NOW - timedelta(days=days_ago) if state == "succeeded" else None
    return Wave.objects.create(
        plan=plan,
        position=plan.waves.count() + 1,
        name=f"{environment.name} {percentage}%",
        environment=environment,
        percentage=percentage,
        state=state,
        started_at=finished,
        finished_at=finished,
        **extra,
    )


@pytest.fixture
def grid():
    erp, crm = (
        ApplicationFactory(name="ERP", slug="erp"),
        ApplicationFactory(name="CRM", slug="crm"),
    )
    eu, us = EnvironmentFactory(name="prod-eu"), EnvironmentFactory(name="prod-us")
    return erp, crm, eu, us


def versions(apps, envs):
    return {key: row["version"] for key, row in deployed_versions(apps, envs).items()}


def test_a_wave_takes_its_application_from_its_plan(grid):
    erp, _, eu, _ = grid
    made = wave(ReleaseFactory(application=erp, phase="completed"), eu, days_ago=1)
    made.refresh_from_db()
    assert made.application_id == erp.pk


def test_the_newest_finished_wave_wins_not_the_newest_release(grid):
    erp, crm, eu, us = grid
    older = ReleaseFactory(application=erp, version="5.0.0", phase="completed")
    newer = ReleaseFactory(application=erp, version="5.1.0", phase="completed")
    wave(newer, eu, days_ago=3)
    wave(older, eu, days_ago=1)  # a hotfix of the older line went out after it
    wave(newer, us, days_ago=2)
    assert versions([erp, crm], [eu, us]) == {(erp.pk, eu.pk): "5.0.0", (erp.pk, us.pk): "5.1.0"}


def test_waves_that_do_not_count_leave_the_cell_to_the_one_before(grid):
    erp, crm, eu, _ = grid
    live = ReleaseFactory(application=erp, version="5.0.0", phase="completed")
    wave(live, eu, days_ago=10)
    shadow = ReleaseFactory(application=erp, version="5.1.0", phase="completed")
    wave(shadow, eu, days_ago=5, shadow=True)
    canary = ReleaseFactory(application=erp, version="5.2.0", phase="rollout")
    wave(canary, eu, days_ago=1, percentage=10)
    failed = ReleaseFactory(application=erp, version="5.3.0", phase="rollout")
    wave(failed, eu, days_ago=0, state="failed")
    assert versions([erp, crm], [eu]) == {(erp.pk, eu.pk): "5.0.0"}


def test_a_partial_share_counts_once_its_release_has_left_rollout(grid):
    erp, _, eu, _ = grid
    wave(ReleaseFactory(application=erp, version="5.0.0", phase="completed"), eu, days_ago=10)
    wave(
        ReleaseFactory(application=erp, version="5.2.0", phase="support"),
        eu,
        days_ago=1,
        percentage=10,
    )
    row = deployed_versions([erp], [eu])[(erp.pk, eu.pk)]
    assert (row["version"], row["percentage"], row["phase"]) == ("5.2.0", 10, "support")


def test_the_queries_stay_two_however_long_the_history(grid, django_assert_num_queries):
    erp, crm, eu, us = grid
    for n in range(12):
        release = ReleaseFactory(application=(erp, crm)[n % 2], phase="completed")
        wave(release, (eu, us)[n % 3 % 2], days_ago=30 - n)
    with django_assert_num_queries(2):
        assert len(deployed_versions([erp, crm], [eu, us])) == 4
    with django_assert_num_queries(0):
        assert deployed_versions([], [eu, us]) == {}

"""Every list answers in a fixed number of queries, however many rows it holds."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.services import audit_record
from apps.environments.models import DeploymentWindow, Environment, FreezeWindow
from apps.notifications.models import Announcement
from apps.releases.models import ChecklistItem, Defect, PhaseMove, Release, TestCase
from apps.rollouts.models import Wave
from apps.signoffs.models import SignOff
from apps.stakeholders.models import Stakeholder, StakeholderRole
from tests.factories import ApplicationFactory, ReleaseFactory, UserFactory

from .conftest import World

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/releases/",
    "/api/v1/applications/",
    "/api/v1/environments/",
    "/api/v1/environments/{environment}/deployment-windows/",
    "/api/v1/freeze-windows/",
    "/api/v1/audit-events/",
    "/api/v1/users/",
    "/api/v1/tokens/",
    "/api/v1/stakeholder-roles/",
    "/api/v1/releases/{testing}/moves/",
    "/api/v1/releases/{testing}/checklist-items/",
    "/api/v1/releases/{testing}/test-cases/",
    "/api/v1/releases/{testing}/defects/",
    "/api/v1/releases/{testing}/stakeholders/",
    "/api/v1/releases/{testing}/signoffs/",
    "/api/v1/releases/{testing}/waves/",
    "/api/v1/releases/{testing}/announcements/",
]


def grow(world: World, n: int, tag: str) -> None:
    """Add `n` rows to every list, each row with related rows of its own (user, environment)."""
    testing = Release.objects.get(pk=world.ids["testing"])
    rita = world.users["rm"]
    now = timezone.now()
    qa = StakeholderRole.objects.get(slug="qa")
    for i in range(n):
        user = UserFactory(username=f"{tag}-user-{i}")
        env = Environment.objects.create(name=f"{tag}-env-{i}", tier="staging", time_zone="UTC")
        ReleaseFactory(application=ApplicationFactory(), owner=user)
        StakeholderRole.objects.create(slug=f"{tag}-role-{i}", name=f"{tag} {i}")
        ApiToken.objects.create(user=rita, name=f"{tag}{i}", key_hash=f"{tag}-{i}", prefix="x")
        DeploymentWindow.objects.create(
            environment_id=world.ids["environment"],
            weekdays=[i % 7],
            start_time=time(1),
            end_time=time(2),
        )
        FreezeWindow.objects.create(
            scope="environment",
            environment=env,
            start=now,
            end=now + timedelta(hours=1),
            reason="x",
            created_by=user,
        )
        PhaseMove.objects.create(
            release=testing,
            from_phase="testing",
            to_phase="rollout",
            state="refused",
            requested_by=user,
        )
        ChecklistItem.objects.create(
            release=testing, environment=env, area="data", title="x", completed_by=user
        )
        TestCase.objects.create(release=testing, title="x", recorded_by=user)
        Defect.objects.create(release=testing, title="x", severity="minor", opened_by=user)
        Stakeholder.objects.create(release=testing, user=user, role=qa)
        SignOff.objects.create(
            release=testing,
            signer=user,
            role=qa,
            decision="approve",
            fingerprint=testing.fingerprint,
        )
        Wave.objects.create(
            plan=testing.rollout_plan,
            position=Wave.objects.filter(plan__release=testing).count() + 1,
            name="x",
            environment=env,
        )
        Announcement.objects.create(release=testing, title="x", body="y", author=user)
        audit_record(actor=user, verb="test.grown", obj=env, release_id=testing.pk)


def queries(client, url: str, headers: dict) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 200}, **headers)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", LISTS)
def test_list_query_count_is_the_same_for_5_and_50_rows(
    client, world: World, url: str, django_assert_max_num_queries
) -> None:
    url = url.format(**world.ids)
    headers = world.headers["rm"]
    grow(world, 5, "few")
    few = queries(client, url, headers)

    grow(world, 45, "many")

    with django_assert_max_num_queries(few):
        response = client.get(url, {"page_size": 200}, **headers)
    assert response.json()["count"] >= 50  # the list did grow: the budget held for 50 rows

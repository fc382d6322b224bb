"""Roles held in a team act on that team's applications only; operators may be limited to
tiers; shared things (environments, stop the line, people) need an organisation-wide role."""

import pytest
from django.test import override_settings

from apps.accounts.permissions import Action, can, holds, require, teams_holding
from apps.core.errors import NotAllowed
from apps.environments import services as es
from apps.environments.stop_line import stop_the_line_set
from apps.rollouts.transitions import wave_transition
from tests.db_state import db_state
from tests.factories import (
    ApplicationFactory,
    ReleaseFactory,
    TeamFactory,
    UserFactory,
    give,
    revoke_all,
)

from .test_permissions import SERVICES, WHO, persona

pytestmark = pytest.mark.django_db

A = Action
# What the persona allowed by the role matrix holds, held in a team instead.
TEAM_ROLES = {"rita": ("release_manager",), "alice": ("approver",), "oscar": ("operator",)}
# Services on shared things or for administrators only: a team's role never opens them.
SHARED = {"environment_update", "deployment_window_add", "freeze_update", "freeze_remove"}
SCOPED = [s for s, (name, _) in WHO.items() if name in TEAM_ROLES and s not in SHARED]


@pytest.fixture
def teams(world):
    own, other = TeamFactory(slug="crm-team"), TeamFactory(slug="erp-team")
    application = world.release.application
    application.team = own
    application.save(update_fields=["team"])
    return own, other


@pytest.mark.parametrize("service", SCOPED)
def test_a_team_role_acts_on_its_own_teams_release(request, world, teams, service):
    own, _ = teams
    user = persona(request, WHO[service][0])
    revoke_all(user)
    give(user, *TEAM_ROLES[WHO[service][0]], team=own)
    if service == "review_write":
        world.release.phase = "support"
        world.release.save(update_fields=["phase"])
    SERVICES[service](world, user)


@pytest.mark.parametrize("service", SCOPED)
def test_the_same_role_in_another_team_is_refused_and_writes_nothing(
    request, world, teams, service
):
    _, other = teams
    user = persona(request, WHO[service][0])
    revoke_all(user)
    give(user, *TEAM_ROLES[WHO[service][0]], team=other)
    if service == "review_write":
        world.release.phase = "support"
        world.release.save(update_fields=["phase"])
    before = db_state()
    with pytest.raises(NotAllowed) as exc:
        SERVICES[service](world, user)
    assert exc.value.status == 403
    assert db_state() == before


@pytest.mark.parametrize("service", sorted(SHARED))
def test_a_team_release_manager_does_not_change_shared_environments(
    request, world, teams, rita, service
):
    own, _ = teams
    revoke_all(rita)
    give(rita, "release_manager", team=own)
    before = db_state()
    with pytest.raises(NotAllowed) as exc:
        SERVICES[service](world, rita)
    assert "platform" in exc.value.message
    assert db_state() == before


def test_refusal_says_the_role_is_held_elsewhere(world, teams, rita):
    _, other = teams
    revoke_all(rita)
    give(rita, "release_manager", team=other)
    with pytest.raises(NotAllowed) as exc:
        require(rita, A.EDIT_RELEASE, world.release)
    assert "in the team that owns this" in exc.value.message


def test_an_operator_limited_to_staging_may_not_touch_production(world, teams, oscar):
    own, _ = teams
    revoke_all(oscar)
    give(oscar, "operator", team=own, tiers=("staging",))
    assert world.wave.environment.tier == "production"
    before = db_state()
    with pytest.raises(NotAllowed) as exc:
        wave_transition(wave_id=world.wave.pk, to="scheduled", actor=oscar)
    assert exc.value.message == "Your operator role does not cover production environments."
    assert db_state() == before
    assert can(oscar, A.OPERATE_WAVES, world.release, tier="staging")


def test_an_operator_limited_to_production_may(world, teams, oscar):
    own, _ = teams
    revoke_all(oscar)
    give(oscar, "operator", team=own, tiers=("production",))
    wave_transition(wave_id=world.wave.pk, to="scheduled", actor=oscar)
    world.wave.refresh_from_db()
    assert world.wave.state == "scheduled"


def test_stop_the_line_needs_an_organisation_wide_role(teams, oscar):
    own, _ = teams
    revoke_all(oscar)
    give(oscar, "operator", team=own)
    with pytest.raises(NotAllowed, match="organisation-wide"):
        stop_the_line_set(active=True, reason="Incident", actor=oscar)
    sre = UserFactory(username="sre")
    give(sre, "operator")  # everywhere: an SRE group
    assert stop_the_line_set(active=True, reason="Incident", actor=sre).active


def test_platform_manages_environments_without_any_release_role(world):
    platform = UserFactory(username="pat")
    give(platform, "platform")
    es.environment_update(environment_id=world.env.pk, time_zone="UTC", actor=platform)
    assert not can(platform, A.EDIT_RELEASE, world.release)
    assert not can(platform, A.OPERATE_WAVES, world.release)


def test_an_organisation_wide_grant_acts_on_every_team(world, teams, rita):
    assert holds(rita, {"release_manager"}, world.release)
    assert teams_holding(rita, {"release_manager"}) is None


def test_teams_holding_lists_only_the_teams_of_that_role(teams):
    own, other = teams
    tom = UserFactory(username="tom")
    give(tom, "release_manager", team=own)
    give(tom, "approver", team=other)
    assert teams_holding(tom, {"release_manager"}) == {own.pk}
    assert teams_holding(tom, {"approver"}) == {other.pk}
    assert teams_holding(tom, {"operator"}) == set()


def test_an_application_without_a_team_is_acted_on_by_organisation_wide_roles_only(teams):
    own, _ = teams
    tom = UserFactory(username="tom")
    give(tom, "release_manager", team=own)
    unowned = ReleaseFactory(application=ApplicationFactory(slug="legacy"))
    assert not can(tom, A.EDIT_RELEASE, unowned)


def test_an_administrator_grant_holds_every_right(world, teams):
    ada = UserFactory(username="ada")
    give(ada, "administrator")
    assert all(can(ada, action) for action in Action)
    assert can(ada, A.OVERRIDE_GATE, world.release)


def test_visibility_is_organisation_wide_by_default_and_a_setting(world, teams):
    _, other = teams
    tom = UserFactory(username="tom")
    give(tom, "viewer", team=other)
    assert can(tom, A.VIEW, world.release)
    with override_settings(RELEASEDECK_VISIBILITY="team"):
        assert not can(tom, A.VIEW, world.release)
        tom.role_grants.create(role="viewer", team=teams[0])
        assert can(tom, A.VIEW, world.release)

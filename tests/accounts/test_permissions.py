"""Who may do what: the role matrix, the sign-off conditions, and every service enforcing them."""

from datetime import time, timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from apps.accounts.permissions import ACTION_ROLES, Action, can, require
from apps.accounts.roles import Role
from apps.core.errors import NotAllowed
from apps.environments import services as es
from apps.environments.models import FreezeWindow
from apps.releases import services as rs
from apps.releases.models import ChecklistItem, Defect, TestCase
from apps.rollouts import services as ro
from apps.rollouts.models import RolloutPlan, Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs import services as so
from apps.signoffs.eligibility import signoff_roles
from apps.signoffs.models import SignoffRequirement
from apps.stakeholders import services as sh
from apps.stakeholders.models import Stakeholder, StakeholderRole
from tests.db_state import db_state
from tests.factories import EnvironmentFactory, ReleaseFactory, UserFactory, give

pytestmark = pytest.mark.django_db

A = Action
RELEASE_MANAGER_ACTIONS = {
    A.VIEW,
    A.CREATE_RELEASE,
    A.EDIT_RELEASE,
    A.MOVE_PHASE,
    A.MANAGE_STAKEHOLDERS,
    A.SET_POLICY,
    A.UPDATE_CHECKLIST,
    A.RECORD_TEST,
    A.MANAGE_DEFECTS,
    A.CLOSE_BLOCKING_DEFECT,
    A.WRITE_REVIEW,
    A.MANAGE_ANNOUNCEMENTS,
    A.PLAN_ROLLOUT,
    A.MANAGE_ENVIRONMENTS,
    A.STOP_THE_LINE,
    A.MANAGE_WEBHOOKS,
}
# What each persona may do when no particular release is asked about.
EXPECTED = {
    "rita": RELEASE_MANAGER_ACTIONS,
    "alice": {A.VIEW, A.SIGN_OFF, A.RECORD_TEST, A.MANAGE_DEFECTS},
    "oscar": {
        A.VIEW,
        A.UPDATE_CHECKLIST,
        A.MANAGE_DEFECTS,
        A.OPERATE_WAVES,
        A.STOP_THE_LINE,
    },
    "vera": {A.VIEW},
    "charlie": set(),
    "root": set(Action),
    "anonymous": set(),
    "inactive": set(),
}


@pytest.fixture
def anonymous():
    return AnonymousUser()


@pytest.fixture
def inactive(roles_seeded):
    """Holds every role but has been switched off: the switch wins."""
    user = UserFactory(username="ivan", is_active=False)
    give(user, *Role.values)
    return user


def persona(request, name: str):
    return request.getfixturevalue(name)


# The matrix


def test_every_action_has_a_role_entry():
    assert set(ACTION_ROLES) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("name", list(EXPECTED))
def test_role_matrix(request, name, action):
    assert can(persona(request, name), action) is (action in EXPECTED[name])


def test_only_administrators_override_gates(rita, root):
    assert ACTION_ROLES[A.OVERRIDE_GATE] == frozenset()
    assert (can(rita, A.OVERRIDE_GATE), can(root, A.OVERRIDE_GATE)) == (False, True)


def test_a_user_with_several_roles_gets_the_union(roles_seeded):
    user = UserFactory(username="multi")
    give(user, "approver", "operator")
    allowed = {a for a in Action if can(user, a)}
    assert allowed == EXPECTED["alice"] | EXPECTED["oscar"]


# Sign-off on a particular release


@pytest.fixture
def signable(rita, alice):
    release = ReleaseFactory(owner=rita, created_by=rita, phase="testing")
    qa = StakeholderRole.objects.get(slug="qa")
    SignoffRequirement.objects.create(release=release, role=qa, count=1)
    Stakeholder.objects.create(release=release, user=alice, role=qa)
    return release


def add_stakeholder(release, user, role: str = "qa") -> None:
    Stakeholder.objects.create(
        release=release, user=user, role=StakeholderRole.objects.get(slug=role)
    )


def test_approver_stakeholder_of_a_policy_role_may_sign(signable, alice):
    assert can(alice, A.SIGN_OFF, signable)
    assert signoff_roles(alice, signable) == ["qa"]


def test_owner_may_not_sign_even_as_approver_stakeholder(signable, rita):
    give(rita, "approver")
    add_stakeholder(signable, rita)
    assert not can(rita, A.SIGN_OFF, signable)
    with pytest.raises(NotAllowed, match="own or created"):
        require(rita, A.SIGN_OFF, signable)


def test_creator_may_not_sign_a_release_someone_else_owns(rita, alice):
    release = ReleaseFactory(owner=rita, created_by=alice, phase="testing")
    qa = StakeholderRole.objects.get(slug="qa")
    SignoffRequirement.objects.create(release=release, role=qa)
    add_stakeholder(release, alice)
    assert not can(alice, A.SIGN_OFF, release)
    with pytest.raises(NotAllowed, match="own or created"):
        require(alice, A.SIGN_OFF, release)


def test_approver_who_is_not_a_stakeholder_may_not_sign(signable, bob):
    assert can(bob, A.SIGN_OFF) and not can(bob, A.SIGN_OFF, signable)
    with pytest.raises(NotAllowed, match="stakeholder whose role the sign-off policy names"):
        require(bob, A.SIGN_OFF, signable)


def test_stakeholder_of_a_role_outside_the_policy_may_not_sign(signable, bob):
    add_stakeholder(signable, bob, "security")
    assert not can(bob, A.SIGN_OFF, signable)


def test_stakeholder_without_approver_role_may_not_sign(signable, oscar, vera):
    add_stakeholder(signable, oscar)
    add_stakeholder(signable, vera)
    assert not can(oscar, A.SIGN_OFF, signable)
    assert not can(vera, A.SIGN_OFF, signable)


def test_administrator_signs_only_as_a_stakeholder(signable, root):
    assert not can(root, A.SIGN_OFF, signable)
    add_stakeholder(signable, root)
    assert can(root, A.SIGN_OFF, signable)


def test_switched_off_or_anonymous_users_may_not_sign(signable, alice, anonymous):
    assert not can(anonymous, A.SIGN_OFF, signable)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert not can(alice, A.SIGN_OFF, signable)


def test_roles_held_in_the_policy_are_listed_sorted(signable, alice):
    add_stakeholder(signable, alice, "business_owner")
    add_stakeholder(signable, alice, "security")
    SignoffRequirement.objects.create(
        release=signable, role=StakeholderRole.objects.get(slug="business_owner")
    )
    assert signoff_roles(alice, signable) == ["business_owner", "qa"]


# require() explains itself


def test_require_asks_anonymous_users_to_sign_in(anonymous):
    with pytest.raises(NotAllowed) as exc:
        require(anonymous, A.VIEW)
    assert exc.value.message == "Sign in first."
    assert exc.value.status == 403


def test_require_names_the_roles_that_may(vera):
    with pytest.raises(NotAllowed) as exc:
        require(vera, A.CREATE_RELEASE)
    assert exc.value.message == "You need one of these roles to create release: release_manager."


def test_require_names_administrators_for_overrides(rita):
    with pytest.raises(NotAllowed, match="administrator"):
        require(rita, A.OVERRIDE_GATE)


def test_require_lets_allowed_users_through(rita, oscar):
    require(rita, A.CREATE_RELEASE)
    require(oscar, A.OPERATE_WAVES)


# Every service refuses callers without the right role and writes nothing


@pytest.fixture
def world(rita, alice):
    """One release with one of everything, arranged as rows (no services, no audit)."""
    env = EnvironmentFactory(name="prod-eu")
    release = ReleaseFactory(owner=rita, created_by=rita, phase="testing")
    qa = StakeholderRole.objects.get(slug="qa")
    SignoffRequirement.objects.create(release=release, role=qa)
    plan = RolloutPlan.objects.create(release=release, strategy="canary")
    return SimpleNamespace(
        env=env,
        release=release,
        stakeholder=Stakeholder.objects.create(release=release, user=alice, role=qa),
        item=ChecklistItem.objects.create(release=release, environment=env, area="data", title="B"),
        case=TestCase.objects.create(release=release, title="Create an invoice"),
        defect=Defect.objects.create(release=release, title="Crash", severity="minor"),
        blocker=Defect.objects.create(release=release, title="Totals", severity="blocker"),
        freeze=FreezeWindow.objects.create(
            scope="global",
            start=timezone.now() - timedelta(hours=1),
            end=timezone.now() + timedelta(hours=1),
            reason="Incident",
        ),
        wave=Wave.objects.create(plan=plan, position=1, name="canary", environment=env),
    )


SERVICES = {
    "release_create": lambda w, u: rs.release_create(
        application_id=w.release.application_id, name="New", version="9.9.9", actor=u
    ),
    "release_update": lambda w, u: rs.release_update(
        release_id=w.release.pk, name="Renamed", actor=u
    ),
    "release_move": lambda w, u: rs.release_move(
        release_id=w.release.pk, to="cancelled", reason="Dropped.", actor=u
    ),
    "release_move_override": lambda w, u: rs.release_move(
        release_id=w.release.pk, to="rollout", override=True, reason="Emergency.", actor=u
    ),
    "release_request_move": lambda w, u: rs.release_request_move(
        release_id=w.release.pk, to="cancelled", reason="Dropped.", actor=u
    ),
    "checklist_item_add": lambda w, u: rs.checklist_item_add(
        release_id=w.release.pk, environment_id=w.env.pk, area="data", title="DNS", actor=u
    ),
    "checklist_item_set": lambda w, u: rs.checklist_item_set(
        item_id=w.item.pk, status="done", actor=u
    ),
    "test_case_add": lambda w, u: rs.test_case_add(release_id=w.release.pk, title="T", actor=u),
    "test_case_record": lambda w, u: rs.test_case_record(
        case_id=w.case.pk, status="passed", actor=u
    ),
    "defect_open": lambda w, u: rs.defect_open(
        release_id=w.release.pk, title="Slow", severity="minor", actor=u
    ),
    "defect_close": lambda w, u: rs.defect_close(defect_id=w.defect.pk, actor=u),
    "defect_close_blocking": lambda w, u: rs.defect_close(
        defect_id=w.blocker.pk, resolution="Fixed in 7.", actor=u
    ),
    "environment_update": lambda w, u: es.environment_update(
        environment_id=w.env.pk, time_zone="UTC", actor=u
    ),
    "deployment_window_add": lambda w, u: es.deployment_window_add(
        environment_id=w.env.pk, weekdays=[0], start_time=time(0), end_time=time(23), actor=u
    ),
    "freeze_update": lambda w, u: es.freeze_update(
        freeze_id=w.freeze.pk, end=timezone.now(), change_reason="Done.", actor=u
    ),
    "freeze_remove": lambda w, u: es.freeze_remove(freeze_id=w.freeze.pk, reason="Done.", actor=u),
    "review_write": lambda w, u: rs.review_write(
        release_id=w.release.pk, went_well="a", went_badly="b", actions="c", actor=u
    ),
    "stakeholder_add": lambda w, u: sh.stakeholder_add(
        release_id=w.release.pk, user_id=w.stakeholder.user_id, role="security", actor=u
    ),
    "stakeholder_remove": lambda w, u: sh.stakeholder_remove(
        stakeholder_id=w.stakeholder.pk, actor=u
    ),
    "policy_set": lambda w, u: so.policy_set(
        release_id=w.release.pk, requirements=[{"role": "security"}], actor=u
    ),
    "signoff_give": lambda w, u: so.signoff_give(
        release_id=w.release.pk, decision="approve", actor=u
    ),
    "plan_set": lambda w, u: ro.plan_set(release_id=w.release.pk, strategy="big_bang", actor=u),
    "wave_add": lambda w, u: ro.wave_add(
        release_id=w.release.pk, name="all", environment_id=w.env.pk, actor=u
    ),
    "wave_transition": lambda w, u: wave_transition(wave_id=w.wave.pk, to="scheduled", actor=u),
}
NO_ONE_ELSE = ["anonymous", "inactive", "charlie", "vera"]
# Service -> (a persona who may, personas who may not).
WHO = {
    "release_create": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "release_update": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "release_move": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "release_move_override": ("root", ["rita", "alice", "oscar", *NO_ONE_ELSE]),
    "release_request_move": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "checklist_item_add": ("oscar", ["alice", *NO_ONE_ELSE]),
    "checklist_item_set": ("oscar", ["alice", *NO_ONE_ELSE]),
    "test_case_add": ("alice", ["oscar", *NO_ONE_ELSE]),
    "test_case_record": ("alice", ["oscar", *NO_ONE_ELSE]),
    "defect_open": ("oscar", NO_ONE_ELSE),
    "defect_close": ("alice", NO_ONE_ELSE),
    # A blocking defect holds the gate: not closed by those it holds (operators, approvers
    # who are not the release's qa stakeholders).
    "defect_close_blocking": ("alice", ["oscar", "bob", *NO_ONE_ELSE]),
    "environment_update": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "deployment_window_add": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "freeze_update": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "freeze_remove": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "review_write": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "stakeholder_add": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "stakeholder_remove": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "policy_set": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "signoff_give": ("alice", ["rita", "bob", "oscar", "root", *NO_ONE_ELSE]),
    "plan_set": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "wave_add": ("rita", ["alice", "oscar", *NO_ONE_ELSE]),
    "wave_transition": ("oscar", ["rita", "alice", *NO_ONE_ELSE]),
}
REFUSALS = [(service, name) for service, (_, refused) in WHO.items() for name in refused]


def test_the_refusal_table_covers_every_service():
    assert set(WHO) == set(SERVICES)


@pytest.mark.parametrize(("service", "name"), REFUSALS)
def test_service_refuses_callers_without_the_role(request, world, service, name):
    user = persona(request, name)
    before = db_state()
    with pytest.raises(NotAllowed) as exc:
        SERVICES[service](world, user)
    assert exc.value.status == 403
    assert exc.value.message.endswith(".")
    assert db_state() == before


@pytest.mark.parametrize("service", list(SERVICES))
def test_service_accepts_a_caller_with_the_role(request, world, service):
    if service == "review_write":
        world.release.phase = "support"
        world.release.save(update_fields=["phase"])
    SERVICES[service](world, persona(request, WHO[service][0]))


@pytest.mark.parametrize("name", ["vera", "charlie", "anonymous"])
def test_move_to_the_current_phase_still_needs_the_role(request, world, name):
    """A no-op answer would tell an outsider the phase; the role check comes first."""
    with pytest.raises(NotAllowed):
        rs.release_move(release_id=world.release.pk, to="testing", actor=persona(request, name))

"""Sign-offs and the sign-off policy through the services, on real PostgreSQL."""

from datetime import timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed, ServiceError
from apps.releases import services as rs
from apps.releases.models import Release
from apps.signoffs import services as so
from apps.signoffs.models import SignOff, SignoffRequirement
from apps.stakeholders.services import stakeholder_add
from tests.builders import advance, planned_release
from tests.db_state import db_state
from tests.factories import ReleaseFactory, UserFactory, give

pytestmark = pytest.mark.django_db


def approver(username: str):
    user = UserFactory(username=username)
    give(user, "approver")
    return user


def sign(release: Release, user, decision: str = "approve", **kwargs) -> SignOff:
    return so.signoff_give(release_id=release.pk, decision=decision, actor=user, **kwargs)


def gate_codes(release: Release, rita) -> list[str]:
    with pytest.raises(Conflict) as exc:
        rs.release_move(release_id=release.pk, to="rollout", actor=rita)
    return [b.code for b in exc.value.blockers]


def refused_without_writing(call, error: type[Exception]) -> Exception:
    before = db_state()
    with pytest.raises(error) as exc:
        call()
    assert db_state() == before
    return exc.value


@pytest.fixture
def release(rita, alice, bob) -> Release:
    return planned_release(rita, qa=alice, business_owner=bob)


@pytest.fixture
def in_testing(release, rita, alice, bob) -> Release:
    release = advance(release, rita, qa=alice, business_owner=bob, to="testing")
    for case in release.test_cases.all():
        rs.test_case_record(case_id=case.pk, status="passed", actor=rita)
    return release


# Who may sign


def test_stakeholder_of_a_policy_role_signs_current_content(in_testing, alice):
    signoff = sign(in_testing, alice, comment="Looks good.")
    assert (signoff.role.slug, signoff.decision, signoff.fingerprint) == (
        "qa",
        "approve",
        in_testing.fingerprint,
    )
    event = AuditEvent.objects.filter(release_id=in_testing.pk).latest("id")
    assert (event.verb, event.actor_id, event.reason) == (
        "signoff.approved",
        alice.pk,
        "Looks good.",
    )


def test_signing_off_in_preparation_is_allowed(release, rita, alice):
    release = advance(release, rita, to="preparation")
    assert sign(release, alice).decision == "approve"


@pytest.mark.parametrize("phase", ["planning", "rollout", "support"])
def test_signing_off_refused_outside_preparation_and_testing(release, rita, alice, bob, phase):
    release = advance(release, rita, qa=alice, business_owner=bob, to=phase)
    error = refused_without_writing(lambda: sign(release, alice, role="qa"), Conflict)
    assert phase in error.message


def test_owner_cannot_sign_off_even_as_approver_stakeholder(in_testing, rita):
    give(rita, "approver")
    stakeholder_add(release_id=in_testing.pk, user_id=rita.pk, role="qa", actor=rita)
    error = refused_without_writing(lambda: sign(in_testing, rita), NotAllowed)
    assert "own or created" in error.message


def test_creator_cannot_sign_off_a_release_someone_else_owns(rita, alice, bob):
    dave = UserFactory(username="dave")
    give(dave, "release_manager", "approver")
    release = planned_release(dave, qa=alice, business_owner=bob)
    rs.release_update(release_id=release.pk, owner_id=rita.pk, actor=dave)
    stakeholder_add(release_id=release.pk, user_id=dave.pk, role="qa", actor=rita)
    release = advance(release, rita, to="testing")
    error = refused_without_writing(lambda: sign(release, dave), NotAllowed)
    assert "own or created" in error.message


def test_approver_who_is_not_a_stakeholder_cannot_sign(in_testing):
    carol = approver("carol")
    refused_without_writing(lambda: sign(in_testing, carol), NotAllowed)


def test_stakeholder_of_a_role_outside_the_policy_cannot_sign(in_testing, rita):
    carol = approver("carol")
    stakeholder_add(release_id=in_testing.pk, user_id=carol.pk, role="security", actor=rita)
    refused_without_writing(lambda: sign(in_testing, carol), NotAllowed)


def test_stakeholder_without_approver_role_cannot_sign(in_testing, rita, oscar):
    stakeholder_add(release_id=in_testing.pk, user_id=oscar.pk, role="qa", actor=rita)
    refused_without_writing(lambda: sign(in_testing, oscar), NotAllowed)


# One verdict per person per content


def test_same_verdict_twice_is_one_signoff(in_testing, alice):
    first = sign(in_testing, alice)
    before = db_state()
    assert sign(in_testing, alice).pk == first.pk
    assert db_state() == before


def test_changing_the_verdict_on_the_same_content_conflicts(in_testing, alice):
    sign(in_testing, alice)
    refused_without_writing(lambda: sign(in_testing, alice, "reject", comment="No."), Conflict)


# A null comment is refused by the API's serializer: tests/api/test_refused_input.py.
@pytest.mark.parametrize("comment", ["", "   "])
def test_rejection_needs_a_comment(in_testing, alice, comment):
    error = refused_without_writing(
        lambda: sign(in_testing, alice, "reject", comment=comment), ServiceError
    )
    assert error.field == "comment"


def test_rejection_blocks_rollout(in_testing, rita, alice, bob):
    sign(in_testing, bob)
    sign(in_testing, alice, "reject", comment="Totals are wrong on page 2.")
    assert gate_codes(in_testing, rita) == ["signoff_missing", "signoff_rejected"]
    event = AuditEvent.objects.filter(release_id=in_testing.pk).latest("id")
    assert (event.verb, event.reason) == ("signoff.rejected", "Totals are wrong on page 2.")


def test_after_a_content_change_the_person_signs_again(in_testing, rita, alice, bob):
    sign(in_testing, bob)
    sign(in_testing, alice, "reject", comment="Totals are wrong.")
    rs.release_update(release_id=in_testing.pk, build_ref="git:2.0.0-fix", actor=rita)
    assert gate_codes(in_testing, rita) == ["signoff_missing", "signoff_missing"]
    sign(in_testing, alice)
    sign(in_testing, bob)
    assert SignOff.objects.filter(release=in_testing, signer=alice).count() == 2
    assert rs.release_move(release_id=in_testing.pk, to="rollout", actor=rita).phase == "rollout"


def test_signoffs_expire_after_the_policy_expiry(in_testing, rita, alice, bob):
    so.policy_set(
        release_id=in_testing.pk,
        requirements=[{"role": "qa", "count": 1}, {"role": "business_owner", "count": 1}],
        expiry_days=3,
        actor=rita,
    )
    sign(in_testing, alice)
    sign(in_testing, bob)
    SignOff.objects.filter(signer=alice).update(
        created_at=in_testing.created_at - timedelta(days=4)
    )
    assert gate_codes(in_testing, rita) == ["signoff_missing"]


def test_two_approvals_needed_from_one_role(in_testing, rita, alice, bob):
    so.policy_set(
        release_id=in_testing.pk,
        requirements=[{"role": "qa", "count": 2}, {"role": "business_owner", "count": 1}],
        actor=rita,
    )
    sign(in_testing, alice)
    sign(in_testing, bob)
    assert gate_codes(in_testing, rita) == ["signoff_missing"]
    carol = approver("carol")
    stakeholder_add(release_id=in_testing.pk, user_id=carol.pk, role="qa", actor=rita)
    sign(in_testing, carol)
    assert rs.release_move(release_id=in_testing.pk, to="rollout", actor=rita).phase == "rollout"


# Several roles


def test_holder_of_several_policy_roles_must_choose_one(in_testing, rita, alice):
    stakeholder_add(release_id=in_testing.pk, user_id=alice.pk, role="business_owner", actor=rita)
    error = refused_without_writing(lambda: sign(in_testing, alice), ServiceError)
    assert error.field == "role"
    assert "business_owner" in error.message and "qa" in error.message
    assert sign(in_testing, alice, role="business_owner").role.slug == "business_owner"


@pytest.mark.parametrize("role", ["security", "cio", "nope"])
def test_signing_as_a_role_not_held_is_refused(in_testing, alice, role):
    error = refused_without_writing(lambda: sign(in_testing, alice, role=role), ServiceError)
    assert error.field == "role"


# Policy


def test_policy_replaced_and_audited(release, rita):
    so.policy_set(
        release_id=release.pk, requirements=[{"role": "security", "count": 2}], actor=rita
    )
    policy = {r.role.slug: r.count for r in SignoffRequirement.objects.filter(release=release)}
    assert policy == {"security": 2}
    event = AuditEvent.objects.filter(release_id=release.pk).latest("id")
    assert event.verb == "policy.set"
    assert event.before["requirements"] == {"business_owner": 1, "qa": 1}


def test_same_policy_twice_writes_nothing(release, rita):
    before = db_state()
    so.policy_set(
        release_id=release.pk,
        requirements=[{"role": "business_owner", "count": 1}, {"role": "qa"}],
        actor=rita,
    )
    assert db_state() == before


def test_policy_fixed_once_rolling_out(release, rita, alice, bob):
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    refused_without_writing(
        lambda: so.policy_set(release_id=release.pk, requirements=[], actor=rita), Conflict
    )


# Refused by the services: what only they can know (no such release or role, a role not held).
# The shape of each value is checked by the serializers and forms that feed them:
# tests/api/test_refused_input.py and the page tests.

MISSING_IDS = [2**40, 987654321]


@pytest.fixture
def factory_release(rita) -> Release:
    return ReleaseFactory(owner=rita, phase="testing")


POLICY_REFUSED = [
    *[pytest.param({"release_id": v}, "release", id=f"release_id={v!r}") for v in MISSING_IDS],
    *[
        pytest.param({"requirements": [{"role": v}]}, "role", id=f"role={v!r:.12}")
        for v in ["nope", "QA"]
    ],
]


@pytest.mark.parametrize(("changes", "field"), POLICY_REFUSED)
def test_policy_set_refuses_what_only_it_can_check(factory_release, rita, changes, field):
    kwargs = {"release_id": factory_release.pk, "requirements": [{"role": "qa"}], **changes}
    error = refused_without_writing(lambda: so.policy_set(**kwargs, actor=rita), ServiceError)
    assert error.status in (400, 404)
    assert error.field == field
    assert error.message.endswith(".")


SIGN_REFUSED = [
    *[pytest.param({"release_id": v}, "release", id=f"release_id={v!r}") for v in MISSING_IDS],
    *[pytest.param({"role": v}, "role", id=f"role={v!r:.12}") for v in ["nope", "business_owner"]],
]


@pytest.fixture
def signable(rita, alice) -> Release:
    """A release in testing that alice may sign as qa, arranged with as few calls as possible."""
    release = ReleaseFactory(owner=rita, phase="testing")
    stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    so.policy_set(release_id=release.pk, requirements=[{"role": "qa"}], actor=rita)
    return release


def test_signable_release_takes_alices_signoff(signable, alice):
    assert sign(signable, alice).role.slug == "qa"


@pytest.mark.parametrize(("changes", "field"), SIGN_REFUSED)
def test_signoff_give_refuses_what_only_it_can_check(signable, alice, changes, field):
    kwargs = {"release_id": signable.pk, "decision": "approve", "comment": "", **changes}
    error = refused_without_writing(lambda: so.signoff_give(**kwargs, actor=alice), ServiceError)
    assert error.status in (400, 404)
    assert error.field == field
    assert error.message.endswith(".")


def test_someone_who_signed_cannot_be_made_owner(in_testing, rita, alice):
    """Otherwise the owner's own approval would count towards the gate."""
    sign(in_testing, alice)
    error = refused_without_writing(
        lambda: rs.release_update(release_id=in_testing.pk, owner_id=alice.pk, actor=rita),
        ServiceError,
    )
    assert error.field == "owner"
    assert error.status == 400

"""Naming and removing the stakeholders of a release."""

import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, ServiceError
from apps.releases.models import Release
from apps.stakeholders.models import Stakeholder
from apps.stakeholders.services import stakeholder_add, stakeholder_remove
from tests.db_state import db_state
from tests.factories import ReleaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(rita) -> Release:
    return ReleaseFactory(owner=rita)


def test_stakeholder_named_and_audited(release, rita, alice):
    stakeholder = stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    assert (stakeholder.user, stakeholder.role.slug) == (alice, "qa")
    event = AuditEvent.objects.filter(release_id=release.pk).latest("id")
    assert (event.verb, event.after) == ("stakeholder.added", {"user": "alice", "role": "qa"})


def test_naming_the_same_stakeholder_twice_is_one_row(release, rita, alice):
    first = stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    before = db_state()
    again = stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    assert again.pk == first.pk
    assert db_state() == before


def test_one_person_may_hold_several_roles(release, rita, alice):
    stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    stakeholder_add(release_id=release.pk, user_id=alice.pk, role="security", actor=rita)
    assert Stakeholder.objects.filter(release=release, user=alice).count() == 2


def test_stakeholder_removed_and_audited(release, rita, alice):
    stakeholder = stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    assert not Stakeholder.objects.exists()
    event = AuditEvent.objects.filter(release_id=release.pk).latest("id")
    assert (event.verb, event.before) == ("stakeholder.removed", {"user": "alice", "role": "qa"})


def test_removing_a_removed_stakeholder_is_not_found(release, rita, alice):
    stakeholder = stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    assert (exc.value.status, exc.value.field) == (404, "stakeholder")
    assert db_state() == before


@pytest.mark.parametrize("phase", ["completed", "cancelled", "rolled_back"])
def test_stakeholders_of_a_closed_release_are_fixed(rita, alice, phase):
    release = ReleaseFactory(owner=rita)
    stakeholder = stakeholder_add(release_id=release.pk, user_id=alice.pk, role="qa", actor=rita)
    Release.objects.filter(pk=release.pk).update(phase=phase)
    before = db_state()
    with pytest.raises(Conflict):
        stakeholder_add(release_id=release.pk, user_id=alice.pk, role="security", actor=rita)
    with pytest.raises(Conflict):
        stakeholder_remove(stakeholder_id=stakeholder.pk, actor=rita)
    assert db_state() == before


# Names that name nothing: refused with the right field, nothing written. Malformed ids and
# roles never reach the service: test_api holds what the API answers them.

ADD_UNKNOWN = [
    pytest.param({"release_id": 987654321}, "release", 404, id="release_id=987654321"),
    pytest.param({"user_id": 987654321}, "user", 400, id="user_id=987654321"),
    *[pytest.param({"role": v}, "role", 400, id=f"role={v!r}") for v in ["nope", "QA"]],
]


@pytest.mark.parametrize(("changes", "field", "status"), ADD_UNKNOWN)
def test_stakeholder_add_refuses_what_names_nothing(release, rita, alice, changes, field, status):
    kwargs = {"release_id": release.pk, "user_id": alice.pk, "role": "qa", **changes}
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        stakeholder_add(**kwargs, actor=rita)
    assert exc.value.status == status
    assert exc.value.field == field
    assert exc.value.message.endswith(".")
    assert db_state() == before


def test_stakeholder_add_refuses_an_inactive_user(release, rita):
    gone = UserFactory(username="gone", is_active=False)
    with pytest.raises(ServiceError) as exc:
        stakeholder_add(release_id=release.pk, user_id=gone.pk, role="qa", actor=rita)
    assert exc.value.field == "user"
    assert not Stakeholder.objects.exists()


def test_unknown_role_message_lists_the_known_roles(release, rita, alice):
    with pytest.raises(ServiceError) as exc:
        stakeholder_add(release_id=release.pk, user_id=alice.pk, role="boss", actor=rita)
    assert "business_owner" in exc.value.message and "qa" in exc.value.message


def test_stakeholder_remove_refuses_an_unknown_id(rita):
    before = db_state()
    with pytest.raises(ServiceError) as exc:
        stakeholder_remove(stakeholder_id=987654321, actor=rita)
    assert (exc.value.status, exc.value.field) == (404, "stakeholder")
    assert db_state() == before

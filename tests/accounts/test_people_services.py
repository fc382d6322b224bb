"""The people services: who may call them, what each refuses, and what the audit trail keeps."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.cached_db import SessionStore
from django.core import mail
from django.utils import timezone

from apps.accounts import people
from apps.accounts.models import RoleGrant, Team, UserSession
from apps.audit.models import AuditEvent
from apps.core.errors import NotAllowed, NotFound, ServiceError
from tests.conftest import _persona
from tests.db_state import db_state
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(roles_seeded):
    return _persona("ada", "administrator")


@pytest.fixture
def crm():
    return TeamFactory(name="CRM", slug="crm")


def signs_in(username: str, password: str) -> bool:
    return get_user_model().objects.get(username=username).check_password(password)


def last_event(verb: str) -> AuditEvent:
    return AuditEvent.objects.filter(verb=verb).latest("id")


# Who may call them


def _every_service(target, team):
    return [
        lambda actor: people.user_create(username="nina", email="n@example.test", actor=actor),
        lambda actor: people.user_update(user_id=target.pk, first_name="X", actor=actor),
        lambda actor: people.user_deactivate(user_id=target.pk, actor=actor),
        lambda actor: people.user_reactivate(user_id=target.pk, actor=actor),
        lambda actor: people.user_set_password(
            user_id=target.pk, password="a long new passphrase", actor=actor
        ),
        lambda actor: people.user_send_set_password_link(user_id=target.pk, actor=actor),
        lambda actor: people.team_create(name="ERP", slug="erp", actor=actor),
        lambda actor: people.team_update(team_id=team.pk, name="Sales", actor=actor),
        lambda actor: people.grant_role(user_id=target.pk, role="viewer", actor=actor),
        lambda actor: people.revoke_role(
            grant_id=RoleGrant.objects.filter(user=target).first().pk, actor=actor
        ),
    ]


def test_every_people_service_refuses_a_non_administrator_and_writes_nothing(rita, vera, crm):
    before = db_state()
    for call in _every_service(vera, crm):
        with pytest.raises(NotAllowed, match="Only an administrator may manage people"):
            call(rita)
    assert db_state() == before


def test_a_team_administrator_grant_does_not_count(vera, crm):
    # Such a grant cannot be made through the services; an old row must still not open them.
    RoleGrant.objects.create(user=vera, role="administrator", team=crm)
    with pytest.raises(NotAllowed):
        people.team_create(name="ERP", slug="erp", actor=vera)


# People


def test_user_create_audits_and_leaves_the_password_unusable(ada):
    user = people.user_create(
        username="nina", email="nina@example.test", first_name="Nina", actor=ada
    )

    assert not user.has_usable_password()
    event = last_event("user.created")
    assert event.actor_id == ada.pk
    assert event.object_id == str(user.pk)
    assert event.after == {
        "username": "nina",
        "email": "nina@example.test",
        "first_name": "Nina",
        "last_name": "",
        "is_active": True,
    }


def test_user_create_with_a_password_lets_them_sign_in(ada):
    people.user_create(
        username="nina", email="n@example.test", password="plum-harbour-42", actor=ada
    )
    assert signs_in("nina", "plum-harbour-42")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"username": "Rita"}, "username"),  # rita exists; names differ only in case
        ({"username": "bad name!"}, "username"),
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"password": "123"}, "password"),
    ],
)
def test_user_create_refuses_bad_input_and_writes_nothing(ada, rita, kwargs, field):
    before = db_state()
    args = {"username": "nina", "email": "n@example.test", **kwargs}
    with pytest.raises(ServiceError) as refused:
        people.user_create(actor=ada, **args)
    assert refused.value.field == field
    assert refused.value.status == 400
    assert db_state() == before


def test_user_update_records_only_what_changed_and_a_repeat_writes_nothing(ada, vera):
    people.user_update(user_id=vera.pk, first_name="Vera", last_name=vera.last_name, actor=ada)
    event = last_event("user.updated")
    assert (event.before, event.after) == ({"first_name": ""}, {"first_name": "Vera"})

    count = AuditEvent.objects.count()
    people.user_update(user_id=vera.pk, first_name="Vera", actor=ada)
    assert AuditEvent.objects.count() == count


def test_an_administrator_cannot_deactivate_themselves(ada):
    before = db_state()
    with pytest.raises(ServiceError, match="lock yourself out"):
        people.user_deactivate(user_id=ada.pk, actor=ada)
    assert db_state() == before


def test_deactivating_ends_every_session_after_commit(
    client, ada, vera, django_capture_on_commit_callbacks
):
    client.force_login(vera)
    key = client.session.session_key
    assert UserSession.objects.filter(user=vera, session_key=key).exists()

    with django_capture_on_commit_callbacks() as callbacks:
        people.user_deactivate(user_id=vera.pk, actor=ada)
        assert SessionStore().exists(key)  # nothing ends before the change is committed
    for callback in callbacks:
        callback()

    assert not SessionStore().exists(key)
    assert not UserSession.objects.filter(user=vera).exists()
    event = last_event("user.deactivated")
    assert (event.before, event.after) == ({"is_active": True}, {"is_active": False})


def test_deactivating_twice_and_reactivating(ada, vera):
    people.user_deactivate(user_id=vera.pk, actor=ada)
    count = AuditEvent.objects.count()
    people.user_deactivate(user_id=vera.pk, actor=ada)
    assert AuditEvent.objects.count() == count

    user = people.user_reactivate(user_id=vera.pk, actor=ada)
    assert user.is_active
    assert last_event("user.reactivated").after == {"is_active": True}


def test_signing_out_forgets_the_session(client, vera):
    client.force_login(vera)
    client.post("/accounts/logout/")
    assert not UserSession.objects.filter(user=vera).exists()


def test_an_administrator_sets_a_password(ada, vera):
    people.user_set_password(user_id=vera.pk, password="a long new passphrase", actor=ada)
    assert signs_in("vera", "a long new passphrase")
    assert last_event("user.password_set").object_id == str(vera.pk)
    with pytest.raises(ServiceError) as refused:
        people.user_set_password(user_id=vera.pk, password="vera", actor=ada)
    assert refused.value.field == "password"


def test_the_set_password_link_is_mailed_after_commit_and_works(
    client, ada, vera, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        people.user_send_set_password_link(user_id=vera.pk, actor=ada)
        assert mail.outbox == []

    assert last_event("user.password_set_link_sent").after == {"email": "vera@example.test"}
    (message,) = mail.outbox
    assert message.to == ["vera@example.test"]
    link = next(line for line in message.body.splitlines() if "/accounts/reset/" in line)
    path = link[link.index("/accounts/reset/") :]
    form = client.get(path, follow=True)
    assert form.status_code == 200
    assert b"Choose your password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "plum-harbour-42", "new_password2": "plum-harbour-42"},
        follow=True,
    )
    assert b"Your password is set" in done.content
    assert signs_in("vera", "plum-harbour-42")


def test_no_link_for_a_deactivated_person_or_one_without_an_address(ada, vera):
    no_mail = UserFactory(username="quinn", email="")
    people.user_deactivate(user_id=vera.pk, actor=ada)
    with pytest.raises(ServiceError, match="deactivated"):
        people.user_send_set_password_link(user_id=vera.pk, actor=ada)
    with pytest.raises(ServiceError, match="no e-mail address"):
        people.user_send_set_password_link(user_id=no_mail.pk, actor=ada)


def test_no_password_is_set_or_mailed_while_password_sign_in_is_off(ada, vera, settings):
    settings.RELEASEDECK_PASSWORD_LOGIN = False
    before = db_state()
    with pytest.raises(ServiceError, match="Password sign-in is turned off") as refused:
        people.user_set_password(user_id=vera.pk, password="a long new passphrase", actor=ada)
    assert refused.value.field == "password"
    with pytest.raises(ServiceError, match="Password sign-in is turned off"):
        people.user_send_set_password_link(user_id=vera.pk, actor=ada)
    with pytest.raises(ServiceError, match="Password sign-in is turned off"):
        people.user_create(
            username="quinn", email="quinn@example.test", password="a long passphrase", actor=ada
        )
    assert db_state() == before
    assert mail.outbox == []
    quinn = people.user_create(username="quinn", email="quinn@example.test", actor=ada)
    assert quinn.has_usable_password() is False


# Teams


def test_team_create_and_update_are_audited(ada):
    team = people.team_create(name="ERP team", slug="erp", actor=ada)
    assert last_event("team.created").after == {"name": "ERP team", "slug": "erp"}

    people.team_update(team_id=team.pk, slug="erp-core", actor=ada)
    event = last_event("team.updated")
    assert (event.before, event.after) == ({"slug": "erp"}, {"slug": "erp-core"})
    assert Team.objects.get(pk=team.pk).slug == "erp-core"


@pytest.mark.parametrize(
    ("name", "slug", "field"),
    [("crm", "other", "name"), ("Other", "CRM", "slug"), ("Other", "not a slug", "slug")],
)
def test_team_names_are_unique_and_slugs_are_slugs(ada, crm, name, slug, field):
    before = db_state()
    with pytest.raises(ServiceError) as refused:
        people.team_create(name=name, slug=slug, actor=ada)
    assert refused.value.field == field
    assert db_state() == before


# Role grants


def test_grant_role_in_a_team_is_audited_in_the_shared_shape(ada, charlie, crm):
    grant = people.grant_role(user_id=charlie.pk, role="release_manager", team_id=crm.pk, actor=ada)

    assert (grant.source, grant.team_id) == ("manual", crm.pk)
    event = last_event("role.granted")
    assert (event.object_type, event.object_id) == ("accounts.rolegrant", str(grant.pk))
    assert event.after == {
        "user": "charlie",
        "role": "release_manager",
        "team": "crm",
        "tiers": [],
        "source": "manual",
    }


def test_granting_again_changes_nothing(ada, charlie):
    first = people.grant_role(user_id=charlie.pk, role="viewer", actor=ada)
    before = db_state()
    again = people.grant_role(user_id=charlie.pk, role="viewer", actor=ada)
    assert again.pk == first.pk
    assert db_state() == before


@pytest.mark.parametrize("role", ["platform", "administrator"])
def test_an_organisation_wide_role_is_never_granted_in_a_team(ada, charlie, crm, role):
    before = db_state()
    with pytest.raises(ServiceError, match="organisation-wide only") as refused:
        people.grant_role(user_id=charlie.pk, role=role, team_id=crm.pk, actor=ada)
    assert (refused.value.status, refused.value.field) == (400, "role")
    assert db_state() == before


@pytest.mark.parametrize(
    ("role", "tiers", "message"),
    [
        ("operator", ["prod"], "not a tier"),
        ("release_manager", ["staging"], "Only an operator role"),
    ],
)
def test_tiers_must_be_tiers_of_an_operator(ada, charlie, role, tiers, message):
    before = db_state()
    with pytest.raises(ServiceError, match=message) as refused:
        people.grant_role(user_id=charlie.pk, role=role, tiers=tiers, actor=ada)
    assert refused.value.field == "tiers"
    assert db_state() == before


def test_an_operator_limited_to_tiers(ada, charlie, crm):
    grant = people.grant_role(
        user_id=charlie.pk,
        role="operator",
        team_id=crm.pk,
        tiers=["production", "staging", "staging"],
        actor=ada,
    )
    assert grant.tiers == ["staging", "production"]
    assert last_event("role.granted").after["tiers"] == ["staging", "production"]
    with pytest.raises(ServiceError, match="other tiers"):
        people.grant_role(user_id=charlie.pk, role="operator", team_id=crm.pk, actor=ada)


def test_a_deactivated_person_is_granted_nothing(ada, vera):
    people.user_deactivate(user_id=vera.pk, actor=ada)
    with pytest.raises(ServiceError, match="reactivate them first"):
        people.grant_role(user_id=vera.pk, role="approver", actor=ada)


def test_revoke_role_records_the_grant_before_deleting_it(ada, charlie, crm):
    grant = people.grant_role(
        user_id=charlie.pk, role="operator", team_id=crm.pk, tiers=["staging"], actor=ada
    )
    people.revoke_role(grant_id=grant.pk, team_id=crm.pk, actor=ada)

    assert not RoleGrant.objects.filter(pk=grant.pk).exists()
    event = last_event("role.revoked")
    assert event.object_id == str(grant.pk)
    assert event.before == {
        "user": "charlie",
        "role": "operator",
        "team": "crm",
        "tiers": ["staging"],
        "source": "manual",
    }
    assert event.after is None or event.after == {}


def test_a_grant_is_revoked_only_through_its_own_team(ada, charlie, crm):
    grant = people.grant_role(user_id=charlie.pk, role="viewer", team_id=crm.pk, actor=ada)
    other = TeamFactory(slug="erp")
    with pytest.raises(NotFound):
        people.revoke_role(grant_id=grant.pk, team_id=other.pk, actor=ada)
    assert RoleGrant.objects.filter(pk=grant.pk).exists()


def test_an_administrator_cannot_revoke_their_own_administrator_role(ada):
    grant = RoleGrant.objects.get(user=ada, role="administrator")
    before = db_state()
    with pytest.raises(ServiceError, match="lock yourself out"):
        people.revoke_role(grant_id=grant.pk, actor=ada)
    assert db_state() == before


def test_grant_snapshot_names_the_source(charlie):
    grant = RoleGrant.objects.create(user=charlie, role="approver", source="sso")
    assert people.grant_snapshot(grant) == {
        "user": "charlie",
        "role": "approver",
        "team": None,
        "tiers": [],
        "source": "sso",
    }


def test_people_are_found_by_id_or_not_at_all(ada):
    missing = get_user_model().objects.order_by("-pk").first().pk + 1
    with pytest.raises(NotFound):
        people.user_deactivate(user_id=missing, actor=ada)


def test_signing_in_forgets_sessions_that_have_expired_anyway(client, settings, vera):
    old = UserSession.objects.create(user=vera, session_key="x" * 32)
    long_ago = timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)
    UserSession.objects.filter(pk=old.pk).update(created_at=long_ago)
    client.force_login(vera)
    assert list(UserSession.objects.filter(user=vera).values_list("session_key", flat=True)) == [
        client.session.session_key
    ]

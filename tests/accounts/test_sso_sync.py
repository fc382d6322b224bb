"""Roles follow the provider's groups at every sign-in; grants made by hand are never touched."""

import logging

import pytest

from apps.accounts.models import GrantSource, RoleGrant
from apps.accounts.sso import sso_grants_sync
from apps.accounts.sso_config import parse_role_map
from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify
from tests.factories import TeamFactory, UserFactory

ROLE_MAP = parse_role_map(
    '{"crm-devs": ["release_manager@crm", "viewer"],'
    ' "erp-qa": "approver@erp",'
    ' "crm-staging": {"role": "operator", "team": "crm", "tiers": ["staging"]},'
    ' "admins": "administrator",'
    ' "ghosts": "viewer@no-such-team"}'
)


@pytest.fixture
def teams(db):
    return TeamFactory(slug="crm", name="CRM"), TeamFactory(slug="erp", name="ERP")


@pytest.fixture
def sam(db):
    return UserFactory(username="sam")


def held(user):
    return sorted(
        (g.role, g.team.slug if g.team else None, tuple(g.tiers), g.source)
        for g in RoleGrant.objects.filter(user=user).select_related("team")
    )


def events(verb):
    return list(AuditEvent.objects.filter(verb=verb).order_by("id"))


def test_groups_grant_their_mapped_roles_each_one_an_audit_event(sam, teams):
    result = sso_grants_sync(user=sam, groups=["crm-devs", "crm-staging"], role_map=ROLE_MAP)
    assert held(sam) == [
        ("operator", "crm", ("staging",), "sso"),
        ("release_manager", "crm", (), "sso"),
        ("viewer", None, (), "sso"),
    ]
    assert len(result.granted) == 3 and not result.revoked
    granted = events("role.granted")
    assert [e.after for e in granted] == [
        {"user": "sam", "role": "operator", "team": "crm", "tiers": ["staging"], "source": "sso"},
        {"user": "sam", "role": "release_manager", "team": "crm", "tiers": [], "source": "sso"},
        {"user": "sam", "role": "viewer", "team": None, "tiers": [], "source": "sso"},
    ]
    grant_ids = {str(g.pk) for g in RoleGrant.objects.filter(user=sam)}
    assert {e.object_id for e in granted} == grant_ids
    assert {e.object_type for e in granted} == {"accounts.rolegrant"}
    assert {e.actor_id for e in granted} == {sam.pk}
    assert all(e.before is None for e in granted)
    assert audit_verify()[1] is None


def test_signing_in_again_with_the_same_groups_changes_nothing(sam, teams):
    sso_grants_sync(user=sam, groups=["crm-devs"], role_map=ROLE_MAP)
    before = list(RoleGrant.objects.filter(user=sam).values_list("pk", flat=True))
    count = AuditEvent.objects.count()
    result = sso_grants_sync(user=sam, groups=["crm-devs"], role_map=ROLE_MAP)
    assert not result.granted and not result.revoked
    assert list(RoleGrant.objects.filter(user=sam).values_list("pk", flat=True)) == before
    assert AuditEvent.objects.count() == count


def test_a_removed_group_revokes_its_roles_recorded_before_the_delete(sam, teams):
    sso_grants_sync(user=sam, groups=["crm-devs", "erp-qa"], role_map=ROLE_MAP)
    grant = RoleGrant.objects.get(user=sam, role="approver")
    sso_grants_sync(user=sam, groups=["crm-devs"], role_map=ROLE_MAP)
    assert held(sam) == [("release_manager", "crm", (), "sso"), ("viewer", None, (), "sso")]
    [revoked] = events("role.revoked")
    assert revoked.before == {
        "user": "sam",
        "role": "approver",
        "team": "erp",
        "tiers": [],
        "source": "sso",
    }
    assert revoked.after is None
    assert revoked.object_id == str(grant.pk)
    assert revoked.actor_id == sam.pk


def test_no_groups_revoke_every_sso_grant(sam, teams):
    sso_grants_sync(user=sam, groups=["crm-devs", "admins"], role_map=ROLE_MAP)
    sso_grants_sync(user=sam, groups=[], role_map=ROLE_MAP)
    assert held(sam) == []
    assert len(events("role.revoked")) == 3


def test_changed_tiers_replace_the_grant(sam, teams):
    sso_grants_sync(user=sam, groups=["crm-staging"], role_map=ROLE_MAP)
    wider = parse_role_map('{"crm-staging": "operator@crm"}')
    sso_grants_sync(user=sam, groups=["crm-staging"], role_map=wider)
    assert held(sam) == [("operator", "crm", (), "sso")]
    assert [e.before["tiers"] for e in events("role.revoked")] == [["staging"]]
    assert [e.after["tiers"] for e in events("role.granted")] == [["staging"], []]


def test_manual_grants_are_never_touched_nor_duplicated(sam, teams):
    crm, erp = teams
    manual_rm = RoleGrant.objects.create(user=sam, role="release_manager", team=crm)
    manual_viewer = RoleGrant.objects.create(user=sam, role="viewer", team=None)
    manual_other = RoleGrant.objects.create(user=sam, role="approver", team=crm)
    sso_grants_sync(user=sam, groups=["crm-devs", "erp-qa"], role_map=ROLE_MAP)
    assert held(sam) == [
        ("approver", "crm", (), "manual"),
        ("approver", "erp", (), "sso"),
        ("release_manager", "crm", (), "manual"),
        ("viewer", None, (), "manual"),
    ]
    sso_grants_sync(user=sam, groups=[], role_map=ROLE_MAP)
    assert set(RoleGrant.objects.filter(user=sam)) == {manual_rm, manual_viewer, manual_other}
    assert {e.before["role"] for e in events("role.revoked")} == {"approver"}
    assert all(g.source == GrantSource.MANUAL for g in RoleGrant.objects.filter(user=sam))


def test_a_mapped_team_that_does_not_exist_is_skipped_with_a_warning(sam, teams, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.accounts.sso"):
        sso_grants_sync(user=sam, groups=["ghosts", "erp-qa"], role_map=ROLE_MAP)
    assert held(sam) == [("approver", "erp", (), "sso")]
    assert "'no-such-team'" in caplog.text


def test_unmapped_groups_give_nothing(sam, teams):
    sso_grants_sync(user=sam, groups=["everyone", "cn=staff,ou=groups"], role_map=ROLE_MAP)
    assert held(sam) == []
    assert not events("role.granted")

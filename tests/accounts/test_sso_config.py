"""The single sign-on settings: the role map's format and what startup refuses."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from apps.accounts.sso_config import (
    TIERS,
    MappedRole,
    check_sso_settings,
    parse_role_map,
    sso_config,
    wanted_roles,
)
from apps.environments.models import Tier

ON = {"RELEASEDECK_OIDC_ISSUER": "https://idp.example.test/", "RELEASEDECK_OIDC_CLIENT_ID": "rd"}


def test_a_target_is_a_role_with_an_optional_team_or_an_object_with_tiers():
    mapping = parse_role_map(
        '{"crm-devs": ["release_manager@crm", "approver@erp"], "sre": "operator",'
        ' "ops-staging": {"role": "operator", "team": "crm", "tiers": ["staging"]},'
        ' "admins": "administrator"}'
    )
    assert mapping == {
        "crm-devs": (MappedRole("release_manager", "crm"), MappedRole("approver", "erp")),
        "sre": (MappedRole("operator"),),
        "ops-staging": (MappedRole("operator", "crm", ("staging",)),),
        "admins": (MappedRole("administrator"),),
    }


def test_an_empty_map_maps_nothing():
    assert parse_role_map("") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"admins": "administrator@crm"}', "organisation-wide only"),
        ('{"plat": {"role": "platform", "team": "crm"}}', "organisation-wide only"),
        ('{"x": "boss"}', "unknown role 'boss'"),
        ('{"x": {"role": "viewer", "tiers": ["staging"]}}', "only operator may name tiers"),
        ('{"x": {"role": "operator", "tiers": ["moon"]}}', "unknown tiers ['moon']"),
        ('{"x": {"role": "operator", "teem": "crm"}}', "unknown keys ['teem']"),
        ('{"x": 3}', "a target is"),
        ('["viewer"]', "JSON object"),
        ("crm=viewer", "not valid JSON"),
    ],
)
def test_a_wrong_role_map_is_refused_with_what_to_fix(text, says):
    with pytest.raises(ImproperlyConfigured, match="RELEASEDECK_OIDC_ROLE_MAP") as exc:
        parse_role_map(text)
    assert says in str(exc.value)


def test_two_groups_giving_one_role_give_the_union_of_their_tiers_and_no_tiers_wins():
    mapping = parse_role_map(
        '{"a": {"role": "operator", "team": "crm", "tiers": ["staging"]},'
        ' "b": {"role": "operator", "team": "crm", "tiers": ["production"]},'
        ' "c": "operator@crm", "d": "viewer"}'
    )
    assert wanted_roles(mapping, ["a", "b", "unmapped"]) == {
        ("operator", "crm"): ("production", "staging")
    }
    assert wanted_roles(mapping, ["a", "c", "d"]) == {("operator", "crm"): (), ("viewer", None): ()}


def test_tiers_are_the_environments_tiers():
    assert set(TIERS) == set(Tier.values)


def test_single_sign_on_is_off_without_an_issuer_and_a_client_id():
    assert sso_config() is None
    with override_settings(**ON):
        config = sso_config()
    assert config is not None
    assert config.issuer == "https://idp.example.test"
    assert config.name == "single sign-on"
    assert config.scopes == "openid email profile groups"
    assert config.groups_claim == "groups"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"RELEASEDECK_OIDC_ISSUER": "https://idp.example.test"}, "needs both"),
        ({**ON, "RELEASEDECK_OIDC_ISSUER": "idp.example.test"}, "https://"),
        ({**ON, "RELEASEDECK_OIDC_SCOPES": "email groups"}, "include openid"),
        ({"RELEASEDECK_PASSWORD_LOGIN": False}, "nobody could sign in"),
        ({**ON, "RELEASEDECK_OIDC_ROLE_MAP": '{"a": "administrator@crm"}'}, "organisation-wide"),
    ],
)
def test_startup_refuses_half_configured_single_sign_on(changes, says):
    with override_settings(**changes), pytest.raises(ImproperlyConfigured, match=says):
        check_sso_settings()


def test_startup_accepts_single_sign_on_without_passwords():
    with override_settings(**ON, RELEASEDECK_PASSWORD_LOGIN=False):
        check_sso_settings()


def test_a_wrong_role_map_stops_the_process_at_startup():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "RELEASEDECK_OIDC_ISSUER": "https://idp.example.test",
        "RELEASEDECK_OIDC_CLIENT_ID": "releasedeck",
        "RELEASEDECK_OIDC_ROLE_MAP": '{"admins": "administrator@crm"}',
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "administrator is held organisation-wide only" in result.stderr

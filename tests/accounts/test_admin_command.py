"""`manage.py create_administrator`: the first administrator, without a browser or a prompt in
scripts; running it again changes nothing."""

import io
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.accounts.models import RoleGrant
from apps.accounts.permissions import is_administrator
from apps.audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_administrator", *args, stdout=out)
    return out.getvalue().strip()


def test_creates_an_administrator_from_the_environment(monkeypatch):
    monkeypatch.setenv("RELEASEDECK_ADMIN_PASSWORD", "plum-harbour-42")

    assert run("ada", "--email", "ada@example.test") == "Created ada, an administrator."

    ada = get_user_model().objects.get(username="ada")
    assert ada.email == "ada@example.test"
    assert ada.check_password("plum-harbour-42")
    assert is_administrator(ada)
    grant = RoleGrant.objects.get(user=ada)
    assert (grant.role, grant.team_id, grant.source) == ("administrator", None, "manual")
    granted = AuditEvent.objects.get(verb="role.granted")
    assert granted.after == {
        "user": "ada",
        "role": "administrator",
        "team": None,
        "tiers": [],
        "source": "manual",
    }
    assert AuditEvent.objects.filter(verb="user.created", object_id=str(ada.pk)).exists()


def test_running_again_changes_nothing(monkeypatch):
    monkeypatch.setenv("RELEASEDECK_ADMIN_PASSWORD", "plum-harbour-42")
    run("ada")
    events = AuditEvent.objects.count()

    assert run("ada") == "ada is an administrator already; nothing changed."
    assert AuditEvent.objects.count() == events
    assert RoleGrant.objects.filter(role="administrator").count() == 1


def test_makes_an_existing_person_an_administrator_and_keeps_their_password(monkeypatch):
    monkeypatch.delenv("RELEASEDECK_ADMIN_PASSWORD", raising=False)
    UserFactory(username="rita")
    assert run("rita") == "rita is now an administrator."
    assert get_user_model().objects.get(username="rita").check_password("pw")


def test_without_a_password_or_a_terminal_it_stops(monkeypatch):
    monkeypatch.delenv("RELEASEDECK_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="RELEASEDECK_ADMIN_PASSWORD"):
        run("ada")
    assert not get_user_model().objects.filter(username="ada").exists()


def test_a_weak_password_is_refused(monkeypatch):
    monkeypatch.setenv("RELEASEDECK_ADMIN_PASSWORD", "ada")
    with pytest.raises(CommandError):
        run("ada")
    assert not get_user_model().objects.filter(username="ada").exists()


def test_prompts_in_a_terminal(monkeypatch):
    monkeypatch.delenv("RELEASEDECK_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt: "plum-harbour-42")
    run("ada")
    assert get_user_model().objects.get(username="ada").check_password("plum-harbour-42")

"""Signing in through a real OpenID Connect provider on loopback, with Django's test client."""

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.models import RoleGrant
from apps.audit.models import AuditEvent
from apps.audit.services import audit_verify
from tests.factories import TeamFactory, UserFactory
from tests.oidc_provider import Provider, oidc_provider, query

ROLE_MAP = '{"crm-devs": "release_manager@crm", "erp-qa": "approver@erp", "staff": "viewer"}'


@pytest.fixture
def provider(db) -> Iterator[Provider]:
    TeamFactory(slug="crm", name="CRM")
    TeamFactory(slug="erp", name="ERP")
    with (
        oidc_provider() as provider,
        override_settings(
            RELEASEDECK_OIDC_ISSUER=provider.issuer,
            RELEASEDECK_OIDC_CLIENT_ID="releasedeck",
            RELEASEDECK_OIDC_CLIENT_SECRET="not-a-secret",
            RELEASEDECK_OIDC_ROLE_MAP=ROLE_MAP,
        ),
    ):
        yield provider


def start(client: Client) -> str:
    """Press the sign-in button: where the browser is sent."""
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302
    return response["Location"]


def sign_in(client: Client, provider: Provider, sub: str):
    back = provider.authorize(start(client), sub)
    return client.get(back)


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def places(username: str) -> list[tuple[str, str | None]]:
    return sorted(
        (g.role, g.team.slug if g.team else None)
        for g in RoleGrant.objects.filter(user__username=username).select_related("team")
    )


def test_a_first_sign_in_creates_the_person_with_their_groups_roles(provider):
    provider.set_claims(
        "u-1", email="nina@example.test", preferred_username="nina", groups=["crm-devs", "staff"]
    )
    client = Client()
    response = sign_in(client, provider, "u-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    assert signed_in_as(client) == "nina"
    nina = User.objects.get(username="nina")
    assert nina.email == "nina@example.test"
    assert not nina.has_usable_password()
    assert places("nina") == [("release_manager", "crm"), ("viewer", None)]
    login = AuditEvent.objects.get(verb="login.sso")
    assert login.actor_id == nina.pk
    assert login.after == {
        "username": "nina",
        "subject": "u-1",
        "groups": ["crm-devs", "staff"],
        "created": True,
        "address": "127.0.0.1",
    }
    assert AuditEvent.objects.filter(verb="role.granted", actor_id=nina.pk).count() == 2
    assert audit_verify()[1] is None


def test_the_next_sign_in_follows_changed_groups(provider):
    provider.set_claims("u-1", email="nina@example.test", groups=["crm-devs", "erp-qa"])
    sign_in(Client(), provider, "u-1")
    assert places("nina@example.test") == [("approver", "erp"), ("release_manager", "crm")]
    provider.set_claims("u-1", email="nina@example.test", groups=["erp-qa"])
    client = Client()
    sign_in(client, provider, "u-1")
    assert signed_in_as(client) == "nina@example.test"
    assert places("nina@example.test") == [("approver", "erp")]
    assert User.objects.filter(email="nina@example.test").count() == 1


def test_an_existing_account_is_found_by_email(provider):
    UserFactory(username="tom", email="Tom@Example.test")
    provider.set_claims("u-2", email="tom@example.test", preferred_username="thomas", groups=[])
    client = Client()
    sign_in(client, provider, "u-2")
    assert signed_in_as(client) == "tom"


def test_an_existing_account_of_that_username_with_another_email_is_not_taken_over(provider):
    UserFactory(username="tom", email="tom@example.test")
    provider.set_claims("u-3", email="mallory@example.test", preferred_username="tom")
    client = Client()
    response = sign_in(client, provider, "u-3")
    assert response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    page = client.get("/accounts/login/")
    assert "A ReleaseDeck account of your username has another email" in page.content.decode()


def test_an_unverified_email_matches_no_account(provider):
    UserFactory(username="tom", email="tom@example.test")
    provider.set_claims(
        "u-4", email="tom@example.test", email_verified=False, preferred_username="tommy"
    )
    client = Client()
    sign_in(client, provider, "u-4")
    assert signed_in_as(client) == "tommy"
    # Nor kept: the owner of that address would otherwise find it on two accounts.
    assert User.objects.get(username="tommy").email == ""


def test_a_superuser_made_with_createsuperuser_signs_in_through_the_provider(provider):
    User.objects.create_superuser("admin", email="", password=None)
    provider.set_claims(
        "u-admin", email="it@example.test", preferred_username="admin", family_name="Admin"
    )
    client = Client()
    sign_in(client, provider, "u-admin")
    assert signed_in_as(client) == "admin"
    admin = User.objects.get(username="admin")
    assert (admin.email, admin.last_name, admin.is_superuser) == ("it@example.test", "Admin", True)
    assert client.get("/admin/").status_code == 200


def test_a_person_switched_off_after_signing_in_is_signed_out(provider):
    provider.set_claims("u-8", email="olga@example.test", groups=["staff"])
    client = Client()
    sign_in(client, provider, "u-8")
    assert client.get("/dashboard/").status_code == 200
    User.objects.filter(email="olga@example.test").update(is_active=False)
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")


def test_a_switched_off_account_is_refused_and_keeps_its_roles(provider):
    UserFactory(username="ivy", email="ivy@example.test", is_active=False)
    provider.set_claims("u-5", email="ivy@example.test", groups=["staff"])
    client = Client()
    response = sign_in(client, provider, "u-5")
    assert response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert places("ivy") == []
    assert "switched off" in client.get("/accounts/login/").content.decode()


def test_a_state_this_browser_did_not_start_is_refused(provider, caplog):
    provider.set_claims("u-6", email="nina@example.test")
    client = Client()
    back = provider.authorize(start(client), "u-6")
    tampered = back.replace(f"state={query(back)['state']}", "state=forged")
    response = client.get(tampered)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert "could not be verified" in client.get("/accounts/login/").content.decode()
    assert "state not found" in caplog.text


def test_an_id_token_for_another_nonce_is_refused(provider, caplog):
    provider.set_claims("u-7", email="nina@example.test")
    client = Client()
    authorize = start(client)
    session = client.session
    state = query(authorize)["state"]
    states = session["oidc_states"]
    states[state]["nonce"] = "not-the-nonce-the-provider-saw"
    session["oidc_states"] = states
    session.save()
    response = client.get(provider.authorize(authorize, "u-7"))
    assert response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert not User.objects.filter(email="nina@example.test").exists()
    assert "Nonce verification failed" in caplog.text


def test_a_denied_sign_in_lands_on_the_sign_in_page_with_why(provider):
    client = Client()
    response = client.get(
        f"/oidc/callback/?error=access_denied&state={query(start(client))['state']}"
    )
    assert response["Location"] == "/accounts/login/"
    assert "single sign-on did not sign you in" in client.get("/accounts/login/").content.decode()


def test_a_provider_that_does_not_answer_lands_on_the_sign_in_page(db):
    with override_settings(
        RELEASEDECK_OIDC_ISSUER="http://127.0.0.1:9", RELEASEDECK_OIDC_CLIENT_ID="releasedeck"
    ):
        client = Client()
        response = client.get("/oidc/authenticate/")
        assert response["Location"] == "/accounts/login/"
        assert "does not answer" in client.get("/accounts/login/").content.decode()


def test_without_single_sign_on_its_urls_do_not_exist(db):
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404


def test_refused_provider_sign_ins_lock_nobody_out_of_the_provider(provider):
    # Django counts a refused account as a failed sign-in of no username, which the password
    # lockout would otherwise pile up per address: the provider throttles its own sign-ins.
    UserFactory(username="ivy", email="ivy@example.test", is_active=False)
    provider.set_claims("u-ivy", email="ivy@example.test")
    provider.set_claims("u-9", email="max@example.test")
    for _ in range(6):
        sign_in(Client(), provider, "u-ivy")
    client = Client()
    response = sign_in(client, provider, "u-9")
    assert response.status_code == 302
    assert signed_in_as(client) == "max@example.test"


@pytest.mark.parametrize("name", ["two words", "x" * 151])
def test_a_username_django_cannot_hold_is_refused_with_why(provider, name):
    provider.set_claims("u-10", preferred_username=name)
    client = Client()
    response = sign_in(client, provider, "u-10")
    assert response["Location"] == "/accounts/login/"
    assert signed_in_as(client) is None
    assert "no usable username" in client.get("/accounts/login/").content.decode()

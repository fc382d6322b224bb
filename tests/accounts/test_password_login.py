"""The sign-in page with single sign-on configured, and with password sign-in turned off."""

import pytest
from django.test import Client, override_settings

from apps.audit.models import AuditEvent

SSO = {
    "RELEASEDECK_OIDC_ISSUER": "https://idp.example.test",
    "RELEASEDECK_OIDC_CLIENT_ID": "releasedeck",
    "RELEASEDECK_OIDC_NAME": "Acme SSO",
}


@pytest.mark.django_db
def test_without_single_sign_on_the_page_has_only_the_password_form():
    page = Client().get("/accounts/login/").content.decode()
    assert 'name="password"' in page
    assert "/oidc/authenticate/" not in page


@pytest.mark.django_db
@override_settings(**SSO)
def test_with_single_sign_on_the_page_offers_the_providers_button_and_passwords():
    page = Client().get("/accounts/login/?next=/releases/").content.decode()
    assert 'href="/oidc/authenticate/?next=/releases/"' in page
    assert "Sign in with Acme SSO" in page
    assert 'name="password"' in page


@pytest.mark.django_db
@override_settings(**SSO)
def test_a_password_still_signs_in_while_password_sign_in_is_on(vera):
    response = Client().post("/accounts/login/", {"username": "vera", "password": "pw"})
    assert response.status_code == 302


@pytest.mark.django_db
@override_settings(**SSO, RELEASEDECK_PASSWORD_LOGIN=False)
def test_with_password_sign_in_off_the_form_is_hidden():
    page = Client().get("/accounts/login/").content.decode()
    assert 'name="password"' not in page
    assert "Sign in with Acme SSO" in page


@pytest.mark.django_db
@override_settings(**SSO, RELEASEDECK_PASSWORD_LOGIN=False)
def test_with_password_sign_in_off_a_password_post_is_refused(vera):
    client = Client()
    response = client.post("/accounts/login/", {"username": "vera", "password": "pw"})
    assert response.status_code == 403
    assert (
        "Password sign-in is turned off here; sign in with Acme SSO." in response.content.decode()
    )
    assert "_auth_user_id" not in client.session
    # Refused before any authentication: no failure to record, nothing for the lockout to count.
    assert not AuditEvent.objects.filter(verb="login.failed").exists()


@pytest.mark.django_db
@override_settings(**SSO, RELEASEDECK_PASSWORD_LOGIN=False)
def test_with_password_sign_in_off_the_admins_form_sends_to_the_sign_in_page(root):
    client = Client()
    assert (
        client.get("/admin/login/?next=/admin/")["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    )
    response = client.post("/admin/login/", {"username": "root", "password": "pw"})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_admins_form_works_while_password_sign_in_is_on(root):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "pw"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(root.pk)


@pytest.mark.django_db
@override_settings(**SSO, RELEASEDECK_PASSWORD_LOGIN=False)
def test_with_password_sign_in_off_a_put_is_refused_as_well(vera):
    # Django's LoginView takes a PUT as a POST.
    client = Client()
    response = client.put("/accounts/login/", "username=vera&password=pw")
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session

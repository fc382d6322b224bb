"""Single sign-on in a real browser against a real OpenID Connect provider on loopback: the
button leads to the provider's page, the person comes back signed in with their groups' team
roles, and a group removed at the provider takes its role away at the next sign-in. A forged
state and a nonce that does not match leave nobody signed in."""

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import override_settings
from playwright.sync_api import Browser, Page, Route, expect

from apps.accounts.models import RoleGrant
from tests.factories import TeamFactory
from tests.oidc_provider import Provider, oidc_provider, query

from .conftest import VIEWPORT

pytestmark = pytest.mark.browser

ROLE_MAP = '{"crm-devs": "release_manager@crm", "erp-qa": "approver@erp", "staff": "viewer"}'


@pytest.fixture
def provider(live_server, roles_seeded) -> Iterator[Provider]:
    TeamFactory(slug="crm", name="CRM")
    TeamFactory(slug="erp", name="ERP")
    with (
        oidc_provider() as provider,
        override_settings(
            RELEASEDECK_OIDC_ISSUER=provider.issuer,
            RELEASEDECK_OIDC_CLIENT_ID="releasedeck",
            RELEASEDECK_OIDC_CLIENT_SECRET="not-a-secret",
            RELEASEDECK_OIDC_ROLE_MAP=ROLE_MAP,
            RELEASEDECK_OIDC_NAME="Acme SSO",
        ),
    ):
        yield provider


@pytest.fixture
def sso_page(browser: Browser, live_server, provider) -> Iterator[Callable[[], Page]]:
    """Fresh browser contexts that may visit the site and the provider, nothing else: the
    provider's page asks a CDN for its style sheet, which is answered empty here. Script and
    console errors on the site's pages fail the test."""
    contexts = []
    errors: list[str] = []

    def open_page() -> Page:
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        context.set_default_timeout(5000)
        context.route(
            lambda url: not url.startswith((live_server.url, provider.issuer)),
            lambda route: route.fulfill(status=200, content_type="text/css", body=""),
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and page.url.startswith(live_server.url)
                else None
            ),
        )
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"errors in the browser: {errors}"


def to_provider(page: Page) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Acme SSO").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()


def authorize(page: Page, sub: str) -> None:
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def places(username: str) -> list[tuple[str, str | None, str]]:
    return sorted(
        (g.role, g.team.slug if g.team else None, g.source)
        for g in RoleGrant.objects.filter(user__username=username).select_related("team")
    )


def session_of(page: Page) -> SessionStore:
    [key] = [c["value"] for c in page.context.cookies() if c["name"] == "sessionid"]
    return SessionStore(session_key=key)


def test_signing_in_through_the_provider_gives_the_groups_team_roles_and_takes_them_back(
    sso_page, provider, live_server
):
    provider.set_claims(
        "u-nina",
        email="nina@example.test",
        preferred_username="nina",
        given_name="Nina",
        groups=["crm-devs", "erp-qa"],
    )
    page = sso_page()
    to_provider(page)
    authorize(page, "u-nina")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    assert page.url == f"{live_server.url}/dashboard/"
    expect(page.get_by_role("banner")).to_contain_text("Nina")
    assert places("nina") == [("approver", "erp", "sso"), ("release_manager", "crm", "sso")]
    page.get_by_role("button", name="Sign out").click()

    provider.set_claims(
        "u-nina", email="nina@example.test", preferred_username="nina", groups=["crm-devs"]
    )
    page = sso_page()
    to_provider(page)
    authorize(page, "u-nina")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert places("nina") == [("release_manager", "crm", "sso")]
    assert User.objects.filter(username="nina").count() == 1


def test_a_forged_state_on_the_way_back_signs_nobody_in(sso_page, provider, live_server):
    provider.set_claims("u-eve", email="eve@example.test", groups=["staff"])
    page = sso_page()
    to_provider(page)

    def forge(route: Route) -> None:
        # The provider's answer is a redirect to our callback; change the state it carries.
        answer = route.fetch(max_redirects=0)
        back = answer.headers["location"]
        assert back.startswith(f"{live_server.url}/oidc/callback/?")
        state = query(back)["state"]
        forged = back.replace(f"state={state}", "state=forged")
        route.fulfill(response=answer, headers={**answer.headers, "location": forged})

    page.route(f"{provider.issuer}/oauth2/authorize?**", forge)
    authorize(page, "u-eve")
    expect(page.get_by_role("alert")).to_contain_text("could not be verified; sign in again")
    assert page.url.endswith("/accounts/login/")
    assert "_auth_user_id" not in session_of(page).load()
    assert not User.objects.filter(email="eve@example.test").exists()


def test_an_id_token_for_another_nonce_signs_nobody_in(sso_page, provider):
    provider.set_claims("u-eve", email="eve@example.test", groups=["staff"])
    page = sso_page()
    to_provider(page)
    # As if the provider's answer had been made for another sign-in than this browser's.
    session = session_of(page)
    states = session["oidc_states"]
    for entry in states.values():
        entry["nonce"] = "another-sign-in"
    session["oidc_states"] = states
    session.save()
    authorize(page, "u-eve")
    expect(page.get_by_role("alert")).to_contain_text("could not be verified; sign in again")
    assert "_auth_user_id" not in session_of(page).load()
    assert not User.objects.filter(email="eve@example.test").exists()


def test_a_denial_at_the_provider_comes_back_to_the_sign_in_page_with_why(sso_page, provider):
    page = sso_page()
    to_provider(page)
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("alert")).to_contain_text("Acme SSO did not sign you in.")
    expect(page.get_by_role("link", name="Sign in with Acme SSO")).to_be_visible()


def test_with_password_sign_in_off_the_page_offers_only_the_provider(sso_page, provider):
    with override_settings(RELEASEDECK_PASSWORD_LOGIN=False):
        page = sso_page()
        page.goto("/accounts/login/")
        expect(page.get_by_role("link", name="Sign in with Acme SSO")).to_be_visible()
        expect(page.get_by_label("Password")).to_have_count(0)

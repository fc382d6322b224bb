"""People and teams in a real browser: an administrator makes a team, gives it an application,
adds a person who chooses their password from the mailed link, and makes them release manager
of that team; the person then acts on that team's release and only reads the other team's."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from apps.accounts.models import RoleGrant
from tests.builders import planned_release
from tests.conftest import _persona

from .conftest import PHONE, screenshot, sign_in
from .test_release_pages import release_of

pytestmark = pytest.mark.browser


def test_an_administrator_makes_a_release_manager_of_one_team(new_page, rita, alice, bob):
    _persona("ada", "administrator", first_name="Ada", last_name="Lovelace")
    crm = planned_release(rita, qa=alice, business_owner=bob)
    erp = release_of("ERP", "5.1.0", "Ledger close", rita, qa=alice, business_owner=bob)

    admin = new_page()
    sign_in(admin, "ada")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(admin.get_by_role("heading", name="People", exact=True)).to_be_visible()

    # A team, and the CRM application given to it.
    admin.get_by_role("navigation", name="People and teams").get_by_role(
        "link", name="Teams"
    ).click()
    admin.get_by_label("Name", exact=True).fill("CRM team")
    admin.get_by_label("Short name", exact=True).fill("crm-team")
    admin.get_by_role("button", name="Add team").click()
    expect(admin.get_by_test_id("team-name")).to_have_text("CRM team")
    admin.get_by_label("Application", exact=True).select_option(label="CRM")
    admin.get_by_role("button", name="Give to CRM team").click()
    expect(admin.get_by_test_id("flash")).to_have_text("CRM now belongs to this team.")
    expect(admin.get_by_test_id("applications")).to_contain_text("CRM")

    # A new person, who gets a link to choose their password.
    admin.goto("/people/")
    admin.get_by_label("Username", exact=True).fill("nina")
    admin.get_by_label("E-mail", exact=True).fill("nina@example.test")
    admin.get_by_label("First name").fill("Nina")
    admin.get_by_label("Last name").fill("Okafor")
    admin.get_by_role("button", name="Add person").click()
    expect(admin.get_by_test_id("flash")).to_contain_text("nina added.")
    expect(admin.locator("tr[data-person='nina']")).to_contain_text("No role")

    # Release manager of that team.
    admin.goto("/people/teams/")
    admin.get_by_role("link", name="CRM team").click()
    admin.get_by_label("Person", exact=True).select_option(label="Nina Okafor (nina)")
    admin.get_by_label("Role", exact=True).select_option("release_manager")
    admin.get_by_role("button", name="Grant the role").click()
    expect(admin.get_by_test_id("flash")).to_have_text("nina is release manager in this team.")
    expect(admin.get_by_test_id("members")).to_contain_text("Release manager")
    screenshot(admin, "team")
    assert RoleGrant.objects.filter(user__username="nina", team__slug="crm-team").exists()

    # Nina chooses her password from the mail and signs in.
    (message,) = [m for m in mail.outbox if m.to == ["nina@example.test"]]
    link = re.search(r"https?://\S+(/accounts/reset/\S+)", message.body)
    assert link
    person = new_page()
    person.goto(link.group(1))
    person.get_by_label("New password", exact=True).fill("plum-harbour-42")
    person.get_by_label("New password confirmation", exact=True).fill("plum-harbour-42")
    person.get_by_role("button", name="Set my password").click()
    expect(person.get_by_role("heading", name="Your password is set")).to_be_visible()
    sign_in(person, "nina", "plum-harbour-42")
    expect(
        person.get_by_role("navigation", name="Main").get_by_role("link", name="People")
    ).to_have_count(0)

    # Her team's release: she may move it on. The other team's: she reads it only.
    person.goto(f"/releases/{crm.pk}/")
    expect(person.get_by_role("button", name="Move to preparation")).to_be_visible()
    person.goto(f"/releases/{erp.pk}/")
    expect(person.get_by_role("heading", name=re.compile("ERP"))).to_be_visible()
    expect(person.get_by_role("button", name=re.compile("^Move to"))).to_have_count(0)

    # What the administrator sees of everyone, on a phone too.
    admin.goto("/people/")
    expect(admin.locator("tr[data-person='nina']")).to_contain_text("CRM team")
    screenshot(admin, "people")
    admin.set_viewport_size(PHONE)
    width = admin.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a phone"
    screenshot(admin, "people-phone")


def test_people_pages_are_not_offered_to_a_release_manager(new_page, rita):
    page = new_page()
    sign_in(page, "rita")
    expect(page.get_by_role("link", name="People")).to_have_count(0)

"""The audit log's release filter in Chromium: a short list, and a search that finds any release."""

import pytest
from playwright.sync_api import expect

from apps.pages.audit_forms import RELEASES_OFFERED
from tests.factories import ApplicationFactory, ReleaseFactory

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_in_the_search_narrows_the_release_list_to_any_match(
    new_page,
    vera,
    rita,
):
    erp = ApplicationFactory(name="ERP", slug="erp")
    old = ReleaseFactory(owner=rita, application=erp, version="0.9.0")
    ReleaseFactory.create_batch(RELEASES_OFFERED + 5, owner=rita)
    page = new_page()
    sign_in(page, "vera")
    page.goto("/audit/")
    select = page.locator("#id_release")
    expect(select.locator("option")).to_have_count(RELEASES_OFFERED + 1)
    expect(select.locator(f'option[value="{old.pk}"]')).to_have_count(0)

    page.get_by_label("Search", exact=True).fill("ERP")
    expect(select.locator("option")).to_have_count(2)
    select.select_option(label="ERP 0.9.0")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(
        f"/audit/?release_q=ERP&release={old.pk}&actor=&verb=&date_from=&date_to="
    )
    expect(select).to_have_value(str(old.pk))

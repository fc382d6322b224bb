"""The environments page's button to approve lifting an incident freeze: allowed, denied and
wrong method, answering with the board."""

import json

import pytest
from django.utils import timezone

from apps.incidents.models import FreezeLiftApproval, Incident
from tests.db_state import db_state

from .conftest import bearer, post_hook

pytestmark = pytest.mark.django_db


@pytest.fixture
def freeze(client, generic, prod_eu):
    prod_eu.freeze_lift_quorum = 2
    prod_eu.save()
    body = json.dumps({"id": "INC-1", "status": "open", "title": "Payments down"}).encode()
    assert post_hook(client, "status", body, **bearer(generic.token)).status_code == 202
    return Incident.objects.get(external_id="INC-1").freeze


def approve(client, freeze, reason: str = "Back to normal."):
    return client.post(
        f"/incidents/freezes/{freeze.pk}/lift/",
        {f"lift-{freeze.pk}-reason": reason},
        HTTP_HX_REQUEST="true",
    )


def test_the_page_offers_incident_freezes_for_approval_not_for_removal(client, freeze, oscar):
    client.force_login(oscar)
    page = client.get("/environments/").content.decode()
    assert f"/incidents/freezes/{freeze.pk}/lift/" in page
    assert f"/environments/freezes/{freeze.pk}/remove/" not in page


def test_an_operator_approves_and_the_board_says_how_many_more(client, freeze, oscar, rita):
    client.force_login(oscar)
    response = approve(client, freeze)
    assert response.status_code == 200
    assert "1 of 2 approvals" in response.content.decode()
    client.force_login(rita)
    response = approve(client, freeze)
    assert response.status_code == 200
    assert "The freeze is lifted." in response.content.decode()
    freeze.refresh_from_db()
    assert freeze.end <= timezone.now()


def test_a_missing_reason_shows_on_the_form(client, freeze, oscar):
    client.force_login(oscar)
    response = approve(client, freeze, reason="")
    assert response.status_code == 400
    assert "Say why" in response.content.decode()
    assert not FreezeLiftApproval.objects.exists()


def test_a_viewer_is_refused_and_nothing_is_written(client, freeze, vera):
    client.force_login(vera)
    before = db_state()
    assert approve(client, freeze).status_code == 403
    assert db_state() == before


def test_signed_out_is_sent_to_sign_in(client, freeze):
    response = approve(client, freeze)
    assert response.status_code in (302, 401, 403)
    assert not FreezeLiftApproval.objects.exists()


def test_get_is_not_allowed(client, freeze, oscar):
    client.force_login(oscar)
    assert client.get(f"/incidents/freezes/{freeze.pk}/lift/").status_code == 405

"""Adding a source from the command line, as the README shows it."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.incidents.models import Incident, IncidentSource

from .conftest import bearer, post_hook

pytestmark = pytest.mark.django_db


def test_the_command_adds_a_source_with_routes_and_prints_its_token_once(
    client, rita, prod_eu, prod_us
):
    out = StringIO()
    call_command(
        "incident_source_create",
        "prom",
        "--kind=alertmanager",
        "--as=rita",
        "--route=service=crm,env=prod->environment:prod-eu",
        "--route=region=us->region:us",
        stdout=out,
    )
    path, auth = out.getvalue().splitlines()
    assert path == "POST /api/v1/incidents/hooks/prom/"
    token = auth.removeprefix("Authorization: Bearer ")
    source = IncidentSource.objects.get(slug="prom")
    assert token not in (source.token_sha256, source.secret)
    assert [(r.scope, r.match) for r in source.routes.all()] == [
        ("environment", {"service": "crm", "env": "prod"}),
        ("region", {"region": "us"}),
    ]
    body = json.dumps(
        {"alerts": [{"status": "firing", "fingerprint": "f", "labels": {"region": "us"}}]}
    ).encode()
    assert post_hook(client, "prom", body, **bearer(token)).status_code == 202
    assert Incident.objects.get().freeze.region == "us"


def test_a_bad_route_leaves_no_source_behind(rita):
    with pytest.raises(CommandError, match="No environment"):
        call_command(
            "incident_source_create",
            "x",
            "--kind=generic",
            "--as=rita",
            "--route=->environment:nope",
        )
    assert not IncidentSource.objects.exists()


def test_only_the_platform_role_adds_sources(oscar):
    with pytest.raises(CommandError):
        call_command("incident_source_create", "x", "--kind=generic", "--as=oscar")
    assert not IncidentSource.objects.exists()


def test_the_platform_role_adds_a_source_through_the_api(client, rita, prod_eu):
    from tests.api.conftest import token_header

    response = client.post(
        "/api/v1/incident-sources/",
        data={
            "name": "Status page",
            "slug": "status",
            "kind": "generic",
            "freeze_hours": 2,
            "routes": [
                {"match": {"service": "crm"}, "scope": "environment", "environment": prod_eu.pk}
            ],
        },
        content_type="application/json",
        **token_header(rita),
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["routes"] == [
        {
            "match": {"service": "crm"},
            "scope": "environment",
            "environment": prod_eu.pk,
            "region": "",
            "application": None,
        }
    ]
    token = created["token"]
    listed = client.get("/api/v1/incident-sources/", **token_header(rita)).json()
    assert "token" not in listed["results"][0] and listed["results"][0]["credential_set"]
    body = json.dumps({"id": "1", "status": "open", "labels": {"service": "crm"}}).encode()
    assert post_hook(client, "status", body, **bearer(token)).status_code == 202
    assert Incident.objects.get().freeze.environment == prod_eu


def test_a_route_naming_no_environment_is_refused_and_adds_no_source(client, rita):
    from tests.api.conftest import token_header

    response = client.post(
        "/api/v1/incident-sources/",
        data={"name": "S", "slug": "s", "kind": "generic", "routes": [{"scope": "environment"}]},
        content_type="application/json",
        **token_header(rita),
    )
    assert response.status_code == 400
    assert response.json()["field"] == "environment"
    assert not IncidentSource.objects.exists()


def test_a_route_can_freeze_one_application_only(client, rita, prod_eu, crm):
    from tests.api.conftest import token_header

    out = StringIO()
    call_command(
        "incident_source_create",
        "prom",
        "--kind=alertmanager",
        "--as=rita",
        f"--route=service=crm->application:{crm.slug}@environment:prod-eu",
        f"--route=service=crm-db->application:{crm.slug}",
        stdout=out,
    )
    routes = IncidentSource.objects.get(slug="prom").routes.all()
    assert [(r.scope, r.environment, r.application) for r in routes] == [
        ("environment", prod_eu, crm),
        ("global", None, crm),
    ]
    listed = client.get("/api/v1/incident-sources/", **token_header(rita)).json()
    assert [r["application"] for r in listed["results"][0]["routes"]] == [crm.slug] * 2


def test_a_route_naming_an_unknown_application_is_refused_and_adds_no_source(client, rita):
    from tests.api.conftest import token_header

    with pytest.raises(CommandError, match="No application has the slug 'nope'"):
        call_command(
            "incident_source_create",
            "x",
            "--kind=generic",
            "--as=rita",
            "--route=->application:nope",
        )
    response = client.post(
        "/api/v1/incident-sources/",
        data={
            "name": "S",
            "slug": "s",
            "kind": "generic",
            "routes": [{"scope": "global", "application": "nope"}],
        },
        content_type="application/json",
        **token_header(rita),
    )
    assert response.status_code == 400
    assert response.json()["field"] == "application"
    assert "nope" in response.json()["detail"]
    assert not IncidentSource.objects.exists()

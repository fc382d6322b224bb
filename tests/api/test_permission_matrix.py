"""Every API endpoint × every persona: allowed, 403 or 401, as the permission module designs it.

The table below must name every (route, method) the URL configuration serves under /api/; a new
endpoint without a row fails `test_every_endpoint_is_in_the_matrix`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from .conftest import PERSONAS, World

pytestmark = pytest.mark.django_db

SIGNED_IN = ("rm", "approver", "operator", "viewer", "readonly")
Body = Callable[[World, str], dict[str, Any]] | None
Path = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    ids: Path
    expected: dict[str, int]
    body: Body = None


def ids(**names: str) -> Path:
    """Path parameters taken from the world by name."""
    return lambda world, persona: {param: world.ids[name] for param, name in names.items()}


NO_IDS: Path = lambda world, persona: {}  # noqa: E731


def read(path: Path = NO_IDS) -> Row:
    return Row(path, {**{p: 200 for p in SIGNED_IN}, "anonymous": 401})


def public(path: Path = NO_IDS) -> Row:
    return Row(path, {p: 200 for p in PERSONAS})


def write(allowed: set[str], ok: int, path: Path = NO_IDS, body: Body = None) -> Row:
    expected = {p: ok if p in allowed else 403 for p in ("rm", "approver", "operator", "viewer")}
    return Row(path, {**expected, "readonly": 403, "anonymous": 401}, body)


def restricted_read(allowed: set[str], path: Path = NO_IDS) -> Row:
    """Reads only some roles may make (a read-only token of such a person too)."""
    expected = {p: 200 if p in allowed else 403 for p in ("rm", "approver", "operator", "viewer")}
    return Row(path, {**expected, "readonly": 200 if RM in allowed else 403, "anonymous": 401})


def admin_only(ok: int, path: Path = NO_IDS, body: Body = None) -> Row:
    """Changes to people, teams and roles: administrators only (tests/accounts/test_people_api.py
    shows them allowed), so every persona here is refused."""
    return write(set(), ok, path, body)


def signed_in_write(ok: int, path: Path = NO_IDS, body: Body = None) -> Row:
    """Actions on one's own account: any signed-in person, but never a read-only token."""
    return write({"rm", "approver", "operator", "viewer"}, ok, path, body)


def fixed(body: dict[str, Any]) -> Body:
    return lambda world, persona: body


def own_token(world: World, persona: str) -> dict[str, int]:
    return {"id": world.token_ids.get(persona, world.token_ids["rm"])}


def future(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


RM, APPROVER, OPERATOR = "rm", "approver", "operator"
TESTING = ids(release_id="testing")
ROLLING_WAVE = ids(id="rolling_wave")
V1 = "/api/v1/"

MATRIX: dict[tuple[str, str], Row] = {
    ("/api/schema/", "GET"): public(),
    ("/api/docs/", "GET"): public(),
    # People and access
    (V1 + "me/", "GET"): read(),
    (V1 + "users/", "GET"): read(),
    (V1 + "users/", "POST"): admin_only(
        201, body=fixed({"username": "nina", "email": "nina@example.test"})
    ),
    (V1 + "users/<id:id>/", "GET"): read(ids(id="vera")),
    (V1 + "users/<id:id>/", "PATCH"): admin_only(200, ids(id="vera"), fixed({"first_name": "V"})),
    (V1 + "users/<id:id>/deactivate/", "POST"): admin_only(200, ids(id="vera")),
    (V1 + "users/<id:id>/reactivate/", "POST"): admin_only(200, ids(id="vera")),
    (V1 + "users/<id:id>/set-password-link/", "POST"): admin_only(204, ids(id="vera")),
    (V1 + "teams/", "GET"): read(),
    (V1 + "teams/", "POST"): admin_only(201, body=fixed({"name": "ERP", "slug": "erp"})),
    (V1 + "teams/<id:id>/", "GET"): read(ids(id="team")),
    (V1 + "teams/<id:id>/", "PATCH"): admin_only(200, ids(id="team"), fixed({"name": "CRM"})),
    (V1 + "teams/<id:id>/members/", "GET"): read(ids(id="team")),
    (V1 + "teams/<id:id>/members/", "POST"): admin_only(
        201, ids(id="team"), lambda w, p: {"user": w.ids["vera"], "role": "approver"}
    ),
    (V1 + "teams/<id:id>/members/<id:grant_id>/", "DELETE"): admin_only(
        204, ids(id="team", grant_id="team_grant")
    ),
    (V1 + "grants/", "GET"): read(),
    (V1 + "grants/", "POST"): admin_only(
        201, body=lambda w, p: {"user": w.ids["vera"], "role": "approver"}
    ),
    (V1 + "grants/<id:id>/", "GET"): read(ids(id="org_grant")),
    (V1 + "grants/<id:id>/", "DELETE"): admin_only(204, ids(id="org_grant")),
    (V1 + "tokens/", "GET"): read(),
    (V1 + "tokens/", "POST"): signed_in_write(201, body=fixed({"name": "ci"})),
    (V1 + "tokens/<id:id>/", "GET"): read(own_token),
    (V1 + "tokens/<id:id>/", "DELETE"): signed_in_write(204, own_token),
    # Applications and releases
    (V1 + "applications/", "GET"): read(),
    (V1 + "applications/", "POST"): write(
        {RM}, 201, body=fixed({"name": "Payroll", "slug": "payroll"})
    ),
    (V1 + "applications/<id:id>/", "GET"): read(ids(id="application")),
    (V1 + "applications/<id:id>/", "PATCH"): write(
        {RM}, 200, ids(id="application"), fixed({"description": "Sales."})
    ),
    (V1 + "releases/", "GET"): read(),
    (V1 + "releases/", "POST"): write(
        {RM},
        201,
        body=lambda w, p: {"application": w.ids["application"], "name": "CRM 9", "version": "9"},
    ),
    (V1 + "releases/<id:id>/", "GET"): read(ids(id="testing")),
    (V1 + "releases/<id:id>/", "PATCH"): write(
        {RM}, 200, ids(id="testing"), fixed({"name": "CRM 2.0 (spring)"})
    ),
    (V1 + "releases/<id:release_id>/status/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/transition/", "POST"): write(
        {RM}, 202, TESTING, fixed({"to": "cancelled", "reason": "Descoped."})
    ),
    (V1 + "releases/<id:release_id>/moves/", "GET"): read(ids(release_id="planning")),
    (V1 + "moves/<id:id>/", "GET"): read(ids(id="move")),
    (V1 + "releases/<id:release_id>/checklist-items/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/checklist-items/", "POST"): write(
        {RM, OPERATOR},
        201,
        TESTING,
        lambda w, p: {"environment": w.ids["environment"], "area": "data", "title": "Restore"},
    ),
    (V1 + "checklist-items/<id:id>/", "GET"): read(ids(id="checklist_item")),
    (V1 + "checklist-items/<id:id>/", "PATCH"): write(
        {RM, OPERATOR}, 200, ids(id="checklist_item"), fixed({"status": "open"})
    ),
    (V1 + "checklist-items/<id:id>/waive/", "POST"): write(
        {RM, OPERATOR}, 200, ids(id="checklist_item"), fixed({"reason": "Not in scope."})
    ),
    (V1 + "releases/<id:release_id>/test-cases/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/test-cases/", "POST"): write(
        {RM, APPROVER}, 201, TESTING, fixed({"title": "Print an invoice"})
    ),
    (V1 + "test-cases/<id:id>/", "GET"): read(ids(id="test_case")),
    (V1 + "test-cases/<id:id>/", "PATCH"): write(
        {RM, APPROVER}, 200, ids(id="test_case"), fixed({"status": "passed"})
    ),
    (V1 + "test-cases/<id:id>/waive/", "POST"): write(
        {RM, APPROVER}, 200, ids(id="test_case"), fixed({"reason": "Covered by 12."})
    ),
    (V1 + "releases/<id:release_id>/defects/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/defects/", "POST"): write(
        {RM, APPROVER, OPERATOR}, 201, TESTING, fixed({"title": "Slow", "severity": "major"})
    ),
    (V1 + "defects/<id:id>/", "GET"): read(ids(id="defect")),
    (V1 + "defects/<id:id>/close/", "POST"): write(
        {RM, APPROVER, OPERATOR}, 200, ids(id="defect"), fixed({"resolution": "Fixed."})
    ),
    (V1 + "releases/<id:release_id>/review/", "GET"): read(ids(release_id="support")),
    (V1 + "releases/<id:release_id>/review/", "PUT"): write(
        {RM},
        200,
        ids(release_id="support"),
        fixed({"went_well": "Calm.", "went_badly": "Late docs.", "actions": "Docs first."}),
    ),
    (V1 + "releases/<id:release_id>/evidence/", "GET"): read(TESTING),
    # Stakeholders and sign-offs
    (V1 + "stakeholder-roles/", "GET"): read(),
    (V1 + "releases/<id:release_id>/stakeholders/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/stakeholders/", "POST"): write(
        {RM}, 201, TESTING, lambda w, p: {"user": w.ids["vera"], "role": "it_support"}
    ),
    (V1 + "stakeholders/<id:id>/", "GET"): read(ids(id="stakeholder")),
    (V1 + "stakeholders/<id:id>/", "DELETE"): write({RM}, 204, ids(id="stakeholder")),
    (V1 + "releases/<id:release_id>/signoff-policy/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/signoff-policy/", "PUT"): write(
        {RM}, 200, TESTING, fixed({"requirements": [{"role": "qa", "count": 1}]})
    ),
    (V1 + "releases/<id:release_id>/signoffs/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/signoffs/", "POST"): write(
        {APPROVER}, 201, TESTING, fixed({"decision": "approve", "comment": "Looks right."})
    ),
    (V1 + "signoffs/<id:id>/", "GET"): read(ids(id="signoff")),
    # Rollout plan and waves
    (V1 + "releases/<id:release_id>/rollout-plan/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/rollout-plan/", "PUT"): write(
        {RM}, 200, TESTING, fixed({"strategy": "rolling"})
    ),
    (V1 + "releases/<id:release_id>/waves/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/waves/", "POST"): write(
        {RM},
        201,
        TESTING,
        lambda w, p: {"name": "prod-eu 10%", "environment": w.ids["environment"]},
    ),
    (V1 + "waves/<id:id>/", "GET"): read(ids(id="wave")),
    (V1 + "waves/<id:id>/", "PATCH"): write(
        {RM},
        200,
        ids(id="wave"),
        fixed({"bake_minutes": 15, "planned_start_local": "2030-01-07T09:00"}),
    ),
    (V1 + "releases/<id:release_id>/rollout-plan/apply-strategy/", "POST"): write(
        {RM},
        200,
        TESTING,
        lambda w, p: {"strategy": "canary", "environments": [w.ids["environment"]]},
    ),
    (V1 + "releases/<id:release_id>/rollout-plan/dry-run/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/rollout-plan/dry-run/", "POST"): signed_in_write(
        200,
        TESTING,
        lambda w, p: {"waves": [{"environment": w.ids["environment"], "bake_minutes": 10}]},
    ),
    # Operating a rollout: the wave is deploying (simulated). Refusals by state (409) still
    # show the role passed; skipping a deploying wave and confirming a simulated deploy are such.
    (V1 + "waves/<id:id>/start/", "POST"): write({OPERATOR}, 200, ROLLING_WAVE),
    (V1 + "waves/<id:id>/pause/", "POST"): write(
        {OPERATOR}, 200, ROLLING_WAVE, fixed({"reason": "Look."})
    ),
    (V1 + "waves/<id:id>/resume/", "POST"): write({OPERATOR}, 200, ROLLING_WAVE),
    (V1 + "waves/<id:id>/abort/", "POST"): write(
        {OPERATOR}, 200, ROLLING_WAVE, fixed({"reason": "Bad build."})
    ),
    (V1 + "waves/<id:id>/rollback/", "POST"): write(
        {OPERATOR}, 200, ROLLING_WAVE, fixed({"reason": "Errors."})
    ),
    (V1 + "waves/<id:id>/skip/", "POST"): write(
        {OPERATOR}, 409, ROLLING_WAVE, fixed({"reason": "Later."})
    ),
    (V1 + "waves/<id:id>/confirm/", "POST"): write({OPERATOR}, 409, ROLLING_WAVE),
    # Deploy tools authenticate with the environment's deploy secret or the call's report
    # token, never a person's token or session.
    (V1 + "waves/<id:id>/report/", "POST"): Row(
        ROLLING_WAVE, dict.fromkeys(PERSONAS, 401), fixed({"status": "succeeded"})
    ),
    # Slack signs its interaction requests; no person's token or session counts there.
    (V1 + "chat/slack/interactions/", "POST"): Row(
        NO_IDS, dict.fromkeys(PERSONAS, 401), fixed({"payload": "{}"})
    ),
    (V1 + "waves/<id:id>/deploy-calls/", "GET"): read(ROLLING_WAVE),
    (V1 + "waves/<id:id>/checks/", "GET"): read(ROLLING_WAVE),
    (V1 + "waves/<id:id>/checks/", "POST"): write(
        {RM}, 201, ids(id="wave"), fixed({"name": "health", "kind": "manual"})
    ),
    (V1 + "waves/<id:id>/check-results/", "GET"): read(ROLLING_WAVE),
    (V1 + "waves/<id:id>/signoff-requirement/", "GET"): read(ids(id="wave")),
    (V1 + "waves/<id:id>/signoff-requirement/", "PUT"): write(
        {RM}, 200, ids(id="wave"), fixed({"role": "business_owner", "count": 1})
    ),
    (V1 + "waves/<id:id>/signoffs/", "GET"): read(ids(id="wave")),
    (V1 + "waves/<id:id>/signoffs/", "POST"): write(
        {APPROVER},
        409,
        ids(id="wave"),
        fixed({"decision": "approve"}),  # not rolling out
    ),
    (V1 + "checks/<id:id>/confirm/", "POST"): write(
        {OPERATOR},
        409,
        ids(id="check"),
        fixed({"ok": True}),  # the wave is not verifying yet
    ),
    # Announcements
    (V1 + "releases/<id:release_id>/announcements/", "GET"): read(TESTING),
    (V1 + "releases/<id:release_id>/announcements/", "POST"): write(
        {RM}, 201, TESTING, fixed({"title": "Training", "body": "Tuesday 10:00."})
    ),
    (V1 + "announcements/<id:id>/", "GET"): read(ids(id="announcement")),
    (V1 + "announcements/<id:id>/", "PATCH"): write(
        {RM}, 200, ids(id="announcement"), fixed({"title": "New invoice screen"})
    ),
    (V1 + "announcements/<id:id>/", "DELETE"): write({RM}, 204, ids(id="announcement")),
    # Outbound notification webhooks: their URLs may carry credentials, so reads are limited too
    (V1 + "notification-webhooks/", "GET"): restricted_read({RM}),
    (V1 + "notification-webhooks/", "POST"): write(
        {RM},
        201,
        body=fixed({"name": "Chat", "url": "https://chat.example.test/", "secret": "s" * 16}),
    ),
    (V1 + "notification-webhooks/<id:id>/", "GET"): restricted_read({RM}, ids(id="webhook")),
    (V1 + "notification-webhooks/<id:id>/", "PATCH"): write(
        {RM}, 200, ids(id="webhook"), fixed({"active": False})
    ),
    (V1 + "notification-webhooks/<id:id>/", "DELETE"): write({RM}, 204, ids(id="webhook")),
    # Environments, windows, freezes, stop the line
    (V1 + "environments/", "GET"): read(),
    (V1 + "environments/", "POST"): write(
        {RM}, 201, body=fixed({"name": "qa-1", "tier": "staging", "time_zone": "UTC"})
    ),
    (V1 + "environments/<id:id>/", "GET"): read(ids(id="environment")),
    (V1 + "environments/<id:id>/", "PATCH"): write(
        {RM}, 200, ids(id="environment"), fixed({"region": "eu-west"})
    ),
    (V1 + "environments/<id:environment_id>/deployment-windows/", "GET"): read(
        ids(environment_id="environment")
    ),
    (V1 + "environments/<id:environment_id>/deployment-windows/", "POST"): write(
        {RM},
        201,
        ids(environment_id="environment"),
        fixed({"weekdays": [5], "start_time": "08:00", "end_time": "12:00"}),
    ),
    (V1 + "deployment-windows/<id:id>/", "GET"): read(ids(id="window")),
    (V1 + "deployment-windows/<id:id>/", "DELETE"): write({RM}, 204, ids(id="window")),
    (V1 + "freeze-windows/", "GET"): read(),
    (V1 + "freeze-windows/", "POST"): write(
        {RM},
        201,
        body=lambda w, p: {
            "scope": "region",
            "region": "us",
            "start": future(40),
            "end": future(41),
            "reason": "US close",
        },
    ),
    (V1 + "freeze-windows/<id:id>/", "GET"): read(ids(id="freeze")),
    (V1 + "freeze-windows/<id:id>/", "PATCH"): write(
        {RM}, 200, ids(id="freeze"), fixed({"reason": "Quarter-end close"})
    ),
    (V1 + "freeze-windows/<id:id>/", "DELETE"): write({RM}, 204, ids(id="freeze")),
    # Lifting a freeze early by quorum: the platform role or an organisation-wide operator;
    # the world's freeze was not declared for an incident, so it is refused by state (409).
    (V1 + "freeze-windows/<id:id>/lift/", "POST"): write(
        {RM, OPERATOR}, 409, ids(id="freeze"), fixed({"reason": "Incident over."})
    ),
    # Incident sources authenticate with their own token or signature; an unknown one is 401.
    (V1 + "incidents/", "GET"): read(),
    (V1 + "incident-sources/", "GET"): restricted_read({RM}),
    (V1 + "incident-sources/", "POST"): write(
        {RM}, 201, body=fixed({"name": "Prometheus", "slug": "prom", "kind": "alertmanager"})
    ),
    (V1 + "incidents/hooks/<slug:slug>/", "POST"): Row(
        lambda world, persona: {"slug": "no-such-source"},
        dict.fromkeys(PERSONAS, 401),
        fixed({"id": "1", "status": "open"}),
    ),
    (V1 + "stop-the-line/", "GET"): read(),
    (V1 + "stop-the-line/", "PUT"): write(
        {RM, OPERATOR}, 200, body=fixed({"active": True, "reason": "Payments incident."})
    ),
    # The GitHub App authenticates with its webhook secret's signature, never a person's token.
    (V1 + "github/webhook/", "POST"): Row(
        NO_IDS, dict.fromkeys(PERSONAS, 401), fixed({"action": "requested"})
    ),
    # Audit
    (V1 + "audit-events/", "GET"): read(),
    (V1 + "audit-events/export/", "GET"): read(),
    (V1 + "audit-events/<id:id>/", "GET"): read(ids(id="audit_event")),
}


def _walk(patterns: list, prefix: str = "/") -> list[tuple[str, Any]]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append((prefix + str(entry.pattern), entry.callback))
    return found


def served_endpoints() -> set[tuple[str, str]]:
    """Every (route, method) under /api/, read from the URL configuration itself."""
    endpoints = set()
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("/api/"):
            continue
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        assert view_class is not None, f"{route} is not a class-based API view"
        for method in view_class.http_method_names:
            if method in ("head", "options", "trace") or not hasattr(view_class, method):
                continue
            endpoints.add((route, method.upper()))
    return endpoints


def test_every_endpoint_is_in_the_matrix() -> None:
    served = served_endpoints()

    assert sorted(served - set(MATRIX)) == [], "endpoints missing from the permission matrix"
    assert sorted(set(MATRIX) - served) == [], "matrix rows for endpoints that do not exist"


def _url(route: str, params: dict[str, Any]) -> str:
    for name, value in params.items():
        route = route.replace(f"<id:{name}>", str(value)).replace(f"<slug:{name}>", str(value))
    assert "<" not in route, route
    return route


@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[1]} {e[0]}")
def test_each_persona_gets_the_designed_answer(client, world: World, endpoint) -> None:
    route, method = endpoint
    row = MATRIX[endpoint]
    answers = {}
    for persona in PERSONAS:
        # Each request in its own savepoint: a write by one persona never changes another's.
        with transaction.atomic():
            url = _url(route, row.ids(world, persona))
            body = row.body(world, persona) if row.body else {}
            kwargs: dict[str, Any] = dict(world.headers[persona])
            if method != "GET":
                kwargs.update(data=body, content_type="application/json")
            response = getattr(client, method.lower())(url, **kwargs)
            answers[persona] = response.status_code
            if response.status_code >= 400:
                assert response["Content-Type"] == "application/json", (persona, url)
                assert response.json()["detail"], (persona, url)
            transaction.set_rollback(True)

    assert answers == row.expected

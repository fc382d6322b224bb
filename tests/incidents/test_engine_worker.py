"""An incident freeze against running rollouts, with a real worker: the waves it covers halt
within one tick, the others carry on, and no wave starts where it holds."""

import json

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.incidents import services as inc
from apps.notifications.models import Notification
from apps.releases.services import releases_tick
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.runner import rollouts_tick
from tests.builders import advance, planned_release
from tests.celery_worker import wait_for
from tests.factories import ApplicationFactory, EnvironmentFactory
from tests.rollouts.test_engine_worker import drive

from .conftest import bearer, post_hook

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def rolling_out(rita, alice, bob, env, version: str, app: str = "crm") -> Wave:
    """A release of `app` rolling out one wave to `env`, which bakes long enough to stay
    verifying."""
    release = planned_release(rita, qa=alice, business_owner=bob, version=version, app=app)
    (wave,) = ro.plan_apply_strategy(
        release_id=release.pk, strategy="big_bang", environment_ids=[env.pk], actor=rita
    )
    ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=30, deployer="simulated")
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    return wave


def state(wave: Wave) -> str:
    return Wave.objects.get(pk=wave.pk).state


def test_incident_halts_running_waves_in_its_scope_within_one_tick(celery_worker, rita, alice, bob):
    eu = EnvironmentFactory(name="prod-eu", region="eu", tier="production")
    us = EnvironmentFactory(name="prod-us", region="us", tier="production")
    source, token = inc.incident_source_create(
        name="Status", slug="status", kind="generic", actor=rita
    )
    inc.incident_route_add(
        source_id=source.pk, match={"service": "crm"}, scope="region", region="eu", actor=rita
    )
    in_scope = rolling_out(rita, alice, bob, eu, "2.0.0")
    out_of_scope = rolling_out(rita, alice, bob, us, "2.1.0")
    assert drive(lambda: state(in_scope) == state(out_of_scope) == "verifying", timeout=30)

    body = json.dumps(
        {
            "id": "INC-42",
            "status": "open",
            "title": "CRM errors in EU",
            "url": "https://status.example.test/incidents/42",
            "labels": {"service": "crm"},
        }
    ).encode()
    assert post_hook(Client(), "status", body, **bearer(token)).status_code == 202
    rollouts_tick()  # one tick, no more: the worker halts the wave from there
    halted = wait_for(lambda: state(in_scope) == "halted", timeout=10)

    wave = Wave.objects.get(pk=in_scope.pk)
    assert halted, (wave.state, wave.state_reason)
    assert "INC-42" in wave.state_reason
    assert "https://status.example.test/incidents/42" in wave.state_reason
    assert wave.next_step_at is None  # nothing is due until an operator resumes it
    # The wave elsewhere carries on through further ticks.
    drive(lambda: False, timeout=2)
    assert state(out_of_scope) == "verifying"
    event = AuditEvent.objects.get(
        verb="wave.state_changed", object_id=str(in_scope.pk), after__state="halted"
    )
    assert "INC-42" in event.reason
    # The release's people are told (its stakeholders' e-mail), of that wave only.
    told = Notification.objects.filter(event="wave.halted")
    assert told.exists()
    assert {n.payload["wave"]["id"] for n in told} == {in_scope.pk}


def test_no_wave_starts_where_an_incident_freeze_holds(celery_worker, rita, alice, bob):
    eu = EnvironmentFactory(name="prod-eu", region="eu", tier="production")
    source, token = inc.incident_source_create(
        name="Status", slug="status", kind="generic", actor=rita
    )
    inc.incident_route_add(
        source_id=source.pk, match={}, scope="environment", environment_id=eu.pk, actor=rita
    )
    body = json.dumps({"id": "INC-43", "status": "open", "title": "DB failover"}).encode()
    assert post_hook(Client(), "status", body, **bearer(token)).status_code == 202

    wave = rolling_out(rita, alice, bob, eu, "2.0.0")
    waiting = drive(lambda: state(wave) == "waiting", timeout=15)
    releases_tick()

    wave.refresh_from_db()
    assert waiting, (wave.state, wave.state_reason)
    assert "INC-43" in wave.state_reason
    assert wave.started_at is None


def crm_only(rita, eu) -> str:
    """A source whose CRM incidents freeze CRM's waves in `eu` only; its token."""
    ApplicationFactory(name="CRM", slug="crm")
    source, token = inc.incident_source_create(
        name="Status", slug="status", kind="generic", actor=rita, lift_on_resolve=True
    )
    inc.incident_route_add(
        source_id=source.pk,
        match={"service": "crm"},
        scope="environment",
        environment_id=eu.pk,
        application="crm",
        actor=rita,
    )
    return token


def crm_incident(status: str = "open") -> bytes:
    return json.dumps(
        {"id": "INC-44", "status": status, "title": "CRM down", "labels": {"service": "crm"}}
    ).encode()


def test_an_application_incident_halts_its_waves_only(celery_worker, rita, alice, bob):
    eu = EnvironmentFactory(name="prod-eu", region="eu", tier="production")
    crm = rolling_out(rita, alice, bob, eu, "2.0.0", app="crm")
    erp = rolling_out(rita, alice, bob, eu, "7.0.0", app="erp")
    token = crm_only(rita, eu)
    assert drive(lambda: state(crm) == state(erp) == "verifying", timeout=30)

    assert post_hook(Client(), "status", crm_incident(), **bearer(token)).status_code == 202
    rollouts_tick()  # one tick, no more
    halted = wait_for(lambda: state(crm) == "halted", timeout=10)

    wave = Wave.objects.get(pk=crm.pk)
    assert halted, (wave.state, wave.state_reason)
    assert "INC-44" in wave.state_reason
    assert wave.state_reason.startswith("Frozen: CRM only: ")  # whose freeze it is
    # ERP's wave in the same environment carries on through further ticks.
    drive(lambda: False, timeout=2)
    assert state(erp) == "verifying"
    told = Notification.objects.filter(event="wave.halted")
    assert {n.payload["wave"]["id"] for n in told} == {crm.pk}


def test_no_new_wave_of_the_frozen_application_starts_and_lifting_lets_it(
    celery_worker, rita, alice, bob
):
    eu = EnvironmentFactory(name="prod-eu", region="eu", tier="production")
    token = crm_only(rita, eu)
    assert post_hook(Client(), "status", crm_incident(), **bearer(token)).status_code == 202

    crm = rolling_out(rita, alice, bob, eu, "2.0.0", app="crm")
    erp = rolling_out(rita, alice, bob, eu, "7.0.0", app="erp")
    both = drive(lambda: state(crm) == "waiting" and state(erp) == "verifying", timeout=20)

    crm.refresh_from_db()
    assert both, (crm.state, crm.state_reason, state(erp))
    assert "INC-44" in crm.state_reason
    assert crm.started_at is None

    # The source resolves the incident: the freeze lifts and CRM's wave starts as before.
    assert (
        post_hook(Client(), "status", crm_incident("resolved"), **bearer(token)).status_code == 202
    )
    assert drive(lambda: state(crm) == "verifying", timeout=20), Wave.objects.get(pk=crm.pk).state

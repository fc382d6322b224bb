"""Checks, deploy calls and webhooks cannot be pointed at the inside of our network.

Real HTTP servers on loopback stand in for internal services: refused while loopback is not
allowed (at create time for addresses, at connect time for names, on every redirect hop),
reached once `RELEASEDECK_EGRESS_ALLOW` names them. What a viewer reads back is the compared
value only, and every kind of silence reads the same.
"""

import ipaddress
import socket
from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory, override_settings
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.core import egress
from apps.environments.models import Environment
from apps.notifications.models import OutboundWebhook
from apps.rollouts import services as ro
from apps.rollouts.models import CheckResult, DeployCall
from tests.builders import planned_release
from tests.factories import EnvironmentFactory
from tests.rollouts.test_engine_steps import rolling_out, run_engine, waves_of

from .servers import closed_port, http_server, tcp_listener

pytestmark = pytest.mark.django_db

NOTHING_ALLOWED = override_settings(RELEASEDECK_EGRESS_ALLOW=[])


def token_header(user: Any) -> dict[str, str]:
    _, key = api_token_create(actor=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def add_check(client: Any, user: Any, wave_id: int, kind: str, config: dict) -> Any:
    body = {"name": "health", "kind": kind, "config": config}
    return client.post(
        f"/api/v1/waves/{wave_id}/checks/",
        data=body,
        content_type="application/json",
        **token_header(user),
    )


def metric(url: str) -> dict:
    return {"url": url, "field": "rate", "threshold": 1}


@pytest.fixture
def pending_wave(rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    return waves_of(release)[0]


@pytest.fixture
def baking(rita):
    """A wave in its bake (one hour), with no checks yet."""
    env = EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin")
    release = rolling_out(rita, [env], bake_minutes=60)
    return waves_of(release)[0]


def results_seen_by(client: Any, viewer: Any, wave_id: int) -> list[dict]:
    answer = client.get(f"/api/v1/waves/{wave_id}/check-results/", **token_header(viewer))
    assert answer.status_code == 200
    return answer.json()["results"]


# Refused when the check is created


@NOTHING_ALLOWED
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://localhost:6379/",
        "http://api.localhost/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://172.16.3.4:8080/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0:8000/",
        "http://[::1]:8000/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00:ec2::254]/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://127.1/",
        "http://0x7f.0.0.1/",
    ],
)
@pytest.mark.parametrize("kind", ["http", "metric"])
def test_check_at_an_internal_address_is_refused_when_created(
    client, rita, pending_wave, kind, url
):
    config = {"url": url} if kind == "http" else metric(url)
    answer = add_check(client, rita, pending_wave.pk, kind, config)
    assert answer.status_code == 400, answer.content
    assert answer.json()["field"] == "config"
    assert "RELEASEDECK_EGRESS_ALLOW" in answer.json()["detail"]
    assert not pending_wave.checks.exists()


@NOTHING_ALLOWED
def test_check_at_a_public_address_or_a_name_is_accepted(client, rita, pending_wave):
    for url in ("https://health.example.com/status", "http://93.184.216.34/"):
        assert add_check(client, rita, pending_wave.pk, "http", {"url": url}).status_code == 201


@override_settings(RELEASEDECK_EGRESS_ALLOW=["127.0.0.0/8"])
def test_an_allowed_network_may_be_checked(client, rita, pending_wave):
    answer = add_check(client, rita, pending_wave.pk, "http", {"url": "http://127.0.0.1:9/"})
    assert answer.status_code == 201


# Refused when connecting, whatever the address the name gave at create time


@pytest.fixture
def resolver(monkeypatch):
    """Names of our own, resolved in this process: {name: [address answers, one per lookup]}."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        numeric_only = kwargs.get("flags", 0) & socket.AI_NUMERICHOST
        if isinstance(host, str) and host in answers and not numeric_only:
            lookups.append(host)
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_a_name_that_resolves_to_loopback_is_refused_when_the_check_runs(
    client, rita, vera, baking, resolver
):
    answers, _ = resolver
    with http_server(routes={"/health": (200, {"secret": "internal"}, {})}) as (url, asked):
        port = url.rsplit(":", 1)[1]
        answers["status.example.com"] = ["127.0.0.1"]
        config = {"url": f"http://status.example.com:{port}/health"}
        with NOTHING_ALLOWED:
            assert add_check(client, rita, baking.pk, "http", config).status_code == 201
            run_engine(baking.plan.release, timezone.now())
        assert asked == []  # nothing reached the internal server
    (result,) = results_seen_by(client, vera, baking.pk)
    assert (result["ok"], result["value"], result["detail"]) == (False, "no answer", egress.DENIED)


def test_dns_rebinding_cannot_slip_past_the_check(resolver):
    """The name is resolved once and the connection goes to the address that was checked: a
    second answer pointing at loopback is never asked for."""
    answers, lookups = resolver
    with http_server(routes={"/": (200, {}, {})}) as (url, asked):
        port = url.rsplit(":", 1)[1]
        answers["rebind.example.com"] = ["8.8.8.8", "127.0.0.1"]
        with NOTHING_ALLOWED:
            answer = egress.request(f"http://rebind.example.com:{port}/", timeout=0.5)
    assert answer.status is None
    assert lookups == ["rebind.example.com"]
    assert asked == []


def test_a_name_on_the_allow_list_is_reached_by_the_address_it_resolves_to(resolver):
    answers, _ = resolver
    with http_server(routes={"/health": (200, {"version": "2.0.0"}, {})}) as (url, asked):
        port = url.rsplit(":", 1)[1]
        answers["deploy.internal"] = ["127.0.0.1"]
        with override_settings(RELEASEDECK_EGRESS_ALLOW=["*.example.org", "deploy.internal"]):
            answer = egress.request(f"http://deploy.internal:{port}/health", timeout=2)
    assert (answer.status, answer.error) == (200, "")
    assert asked == ["/health"]


def test_an_allow_list_read_from_the_environment_is_a_comma_separated_string(resolver):
    with http_server(routes={"/": (204, {}, {})}) as (url, asked):
        with override_settings(RELEASEDECK_EGRESS_ALLOW="10.0.0.0/8, 127.0.0.1"):
            assert egress.request(f"{url}/", timeout=2).status == 204
        with override_settings(RELEASEDECK_EGRESS_ALLOW="10.0.0.0/8"):
            assert egress.request(f"{url}/", timeout=2).error == egress.DENIED
    assert asked == ["/"]


# Redirects


def test_a_redirect_to_a_refused_address_is_not_followed():
    with http_server("127.0.0.1", routes={"/secret": (200, {"token": "s3cret"}, {})}) as (
        inside,
        inside_asked,
    ):
        routes = {
            "/health": (302, {}, {"Location": f"{inside}/secret"}),
            "/moved": (301, {}, {"Location": "/health-new"}),
            "/health-new": (200, {"version": "2.0.0"}, {}),
        }
        with http_server("127.0.0.2", routes=routes) as (outside, outside_asked):
            with override_settings(RELEASEDECK_EGRESS_ALLOW=["127.0.0.2"]):
                refused = egress.request(f"{outside}/health", timeout=2)
                followed = egress.request(f"{outside}/moved", timeout=2)
    assert (refused.status, refused.body, refused.error) == (None, b"", egress.DENIED)
    assert inside_asked == []
    assert (followed.status, followed.error) == (200, "")
    assert outside_asked == ["/health", "/moved", "/health-new"]


def test_a_post_is_never_redirected():
    with http_server(routes={"/hook": (307, {}, {"Location": "/elsewhere"})}) as (url, asked):
        status, error = egress.post_json(f"{url}/hook", b"{}", {}, timeout=2)
    assert (status, error) == (307, "HTTP 307")
    assert asked == ["/hook"]


# What a viewer reads back


def test_closed_silent_and_non_http_ports_read_the_same(client, rita, vera, baking):
    with (
        tcp_listener(hang_up=True) as hangs_up,
        tcp_listener(hang_up=False) as silent,
    ):
        for port in (closed_port(), hangs_up, silent):
            answer = add_check(
                client, rita, baking.pk, "http", {"url": f"http://127.0.0.1:{port}/"}
            )
            assert answer.status_code == 201
        with override_settings(RELEASEDECK_HTTP_TIMEOUT=0.5):
            run_engine(baking.plan.release, timezone.now())
    results = results_seen_by(client, vera, baking.pk)
    assert len(results) == 3
    assert {(r["ok"], r["value"], r["detail"]) for r in results} == {
        (False, "no answer", egress.NO_ANSWER)
    }


def test_results_keep_the_compared_value_and_nothing_else_of_the_body(client, rita, vera, baking):
    secret = "postgres://admin:hunter2@db.internal/prod"
    routes = {
        "/metrics": (200, {"rate": secret}, {}),
        "/health": (200, {"version": {"dsn": secret}}, {}),
        "/version": (200, {"version": "2.0.0", "dsn": secret}, {}),
    }
    with http_server(routes=routes) as (url, _):
        for kind, config in (
            ("metric", metric(f"{url}/metrics")),
            ("http", {"url": f"{url}/health", "expect_version": "2", "version_field": "version"}),
            (
                "http",
                {"url": f"{url}/version", "expect_version": "2.0.0", "version_field": "version"},
            ),
        ):
            assert add_check(client, rita, baking.pk, kind, config).status_code == 201
        run_engine(baking.plan.release, timezone.now())
    results = sorted(results_seen_by(client, vera, baking.pk), key=lambda r: r["check_id"])
    assert [(r["ok"], r["value"]) for r in results] == [
        (False, "no value"),
        (False, "no version"),
        (True, "2.0.0"),
    ]
    assert results[0]["detail"] == "could not read the number: not a number"
    assert all(secret not in str(r) and "hunter2" not in str(r) for r in results)


def test_a_check_on_an_allowed_loopback_server_passes(client, rita, vera, baking):
    with http_server(routes={"/health": (200, {"version": "2.0.0"}, {})}) as (url, asked):
        config = {"url": f"{url}/health", "expect_version": "2.0.0", "version_field": "version"}
        with override_settings(RELEASEDECK_EGRESS_ALLOW=["127.0.0.1/32"]):
            assert add_check(client, rita, baking.pk, "http", config).status_code == 201
            run_engine(baking.plan.release, timezone.now())
    assert asked == ["/health"]
    (result,) = results_seen_by(client, vera, baking.pk)
    assert (result["ok"], result["value"], result["detail"]) == (
        True,
        "2.0.0",
        "HTTP 200, version 2.0.0",
    )


def test_a_check_whose_address_was_allowed_once_is_refused_when_no_longer(rita, baking):
    with http_server(routes={"/health": (200, {}, {})}) as (url, asked):
        check = ro.check_add(
            wave_id=baking.pk, name="health", kind="http", actor=rita, config={"url": url}
        )
        with NOTHING_ALLOWED:
            run_engine(baking.plan.release, timezone.now())
    assert asked == []
    result = CheckResult.objects.get(wave_check=check)
    assert not result.ok and "RELEASEDECK_EGRESS_ALLOW" in result.detail


# Deploy calls and webhooks


def test_a_webhook_deployer_at_a_refused_address_is_never_called(rita):
    with http_server(routes={"/deploy": (202, {}, {})}) as (url, asked):
        env = EnvironmentFactory(name="prod-eu", deploy_url=f"{url}/deploy", deploy_secret="s")
        release = rolling_out(rita, [env], deployer="webhook")
        now = timezone.now()
        with NOTHING_ALLOWED:
            run_engine(release, now)
            call = DeployCall.objects.get(wave__plan__release=release)
            assert call.last_error == egress.DENIED
    assert asked == []


def test_an_outbound_webhook_at_a_refused_address_is_never_called(rita, alice, bob):
    from apps.notifications.models import Notification
    from apps.notifications.outbox import notification_send
    from apps.releases.services import release_move

    with http_server(routes={"/hook": (204, {}, {})}) as (url, asked):
        OutboundWebhook.objects.create(name="chat", url=f"{url}/hook", secret="s")
        release = planned_release(rita, qa=alice, business_owner=bob)
        release_move(release_id=release.pk, to="preparation", actor=rita)
        row = Notification.objects.get(channel="webhook", event="release.moved")
        with NOTHING_ALLOWED:
            assert notification_send(notification_id=row.pk) == "pending"
        row.refresh_from_db()
        assert (row.last_error, asked) == (egress.DENIED, [])


@NOTHING_ALLOWED
def test_an_environment_refuses_an_internal_deploy_tool(client, rita):
    body = {"name": "prod-us", "tier": "production", "region": "us", "time_zone": "UTC"}

    def send(method: str, url: str, data: dict) -> Any:
        return getattr(client, method)(
            url, data=data, content_type="application/json", **token_header(rita)
        )

    refused = send("post", "/api/v1/environments/", {**body, "deploy_url": "http://10.0.0.1/"})
    assert refused.status_code == 400 and refused.json()["field"] == "deploy_url"
    created = send("post", "/api/v1/environments/", {**body, "deploy_url": "https://cd.example/"})
    assert created.status_code == 201, created.content
    url = f"/api/v1/environments/{created.json()['id']}/"
    patched = send("patch", url, {"deploy_url": "http://[::1]:8080/deploy"})
    assert patched.status_code == 400 and patched.json()["field"] == "deploy_url"
    assert Environment.objects.get(name="prod-us").deploy_url == "https://cd.example/"


@NOTHING_ALLOWED
@pytest.mark.parametrize(
    ("model", "field", "data"),
    [
        (
            Environment,
            "deploy_url",
            {"name": "prod", "tier": "production", "region": "eu", "time_zone": "UTC"},
        ),
        (OutboundWebhook, "url", {"name": "chat", "secret": "s", "active": True}),
    ],
)
def test_the_admin_refuses_an_internal_deploy_tool_or_webhook(root, model, field, data):
    request = RequestFactory().get("/admin/")
    request.user = root
    form_class = admin.site.get_model_admin(model).get_form(request)
    refused = form_class(data={**data, field: "http://169.254.169.254/latest/"})
    assert not refused.is_valid()
    assert "may not reach" in refused.errors[field][0]
    accepted = form_class(data={**data, field: "https://deploy.example.com/hook"})
    assert field not in accepted.errors


def test_the_default_refuses_every_non_public_network():
    for address in ("127.0.0.1", "169.254.169.254", "10.1.2.3", "::1", "fe80::1", "224.0.0.1"):
        assert egress.refused_by_default(ipaddress.ip_address(address)), address
    assert not egress.refused_by_default(ipaddress.ip_address("93.184.216.34"))

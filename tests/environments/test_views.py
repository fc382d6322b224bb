"""The environments page through the Django test client: what it shows, in whose time, and
who may change windows, freezes and environments through it."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Profile
from apps.audit.models import AuditEvent
from apps.environments import services as es
from apps.environments.models import DeploymentWindow, Environment, FreezeWindow
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGE = reverse("environments:page")


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<div class="field-error" id="id_{field_id}_error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


@pytest.fixture
def prod(rita):
    env = EnvironmentFactory(
        name="prod-eu", tier="production", region="eu", time_zone="Europe/Berlin"
    )
    es.deployment_window_add(
        environment_id=env.pk,
        weekdays=[0, 1, 2, 3, 4],
        start_time=time(9, 0),
        end_time=time(17, 0),
        actor=rita,
    )
    return env


@pytest.fixture
def staging():
    return EnvironmentFactory(
        name="staging-us", tier="staging", region="us", time_zone="America/New_York"
    )


def a_freeze(rita, **changes) -> FreezeWindow:
    now = timezone.now()
    data = {
        "scope": "global",
        "start": now - timedelta(hours=1),
        "end": now + timedelta(days=2),
        "reason": "Year-end close",
        "actor": rita,
        **changes,
    }
    return es.freeze_create(**data)


# ---- What the page shows ----


def test_page_lists_environments_with_tier_region_zone_and_windows(client, vera, prod, staging):
    client.force_login(vera)
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "prod-eu" in html and "staging-us" in html
    assert '<span class="badge tier-production">Production</span>' in html
    assert "Europe/Berlin" in html and "America/New_York" in html
    assert '<span class="window-days">Mon–Fri</span>' in html
    assert "09:00–17:00" in html
    # Production is listed before staging.
    assert html.index('data-env="prod-eu"') < html.index('data-env="staging-us"')


def test_window_is_also_shown_in_the_viewer_time(client, vera, prod):
    Profile.objects.create(user=vera, time_zone="America/New_York")
    client.force_login(vera)
    html = client.get(PAGE).content.decode()
    # 09:00–17:00 in Berlin is 03:00–11:00 in New York (both on summer or both on winter time
    # for most of the year; the page converts the next day the window opens).
    assert re.search(r"0[23]:00–1[01]:00 E[SD]T your time", html)


def test_freeze_is_shown_in_the_viewer_and_environment_time(client, vera, rita, prod):
    Profile.objects.create(user=vera, time_zone="Asia/Tokyo")
    start = datetime(2031, 1, 10, 8, 0, tzinfo=UTC)
    es.freeze_create(
        scope="environment",
        environment_id=prod.pk,
        start=start,
        end=start + timedelta(hours=4),
        reason="Payroll run",
        actor=rita,
    )
    client.force_login(vera)
    html = client.get(PAGE).content.decode()
    assert "Payroll run" in html
    assert "Fri 10 Jan 2031, 17:00" in html  # Tokyo, the viewer's zone
    assert "Fri 10 Jan, 09:00 – Fri 10 Jan, 13:00 CET" in html  # Berlin, the environment's


def test_frozen_environment_says_until_when(client, vera, rita, prod, staging):
    a_freeze(rita, scope="region", region="eu", reason="EU data-centre move")
    client.force_login(vera)
    html = client.get(PAGE).content.decode()
    cards = dict(re.findall(r'data-env="([^"]+)".*?data-testid="env-status">(.*?)</p>', html, re.S))
    assert "Frozen" in cards["prod-eu"] and "EU data-centre move" in cards["prod-eu"]
    assert "Frozen" not in cards["staging-us"]
    assert "Open" in cards["staging-us"]  # no windows: open any time


def test_viewer_sees_no_forms(client, vera, rita, prod):
    a_freeze(rita)
    client.force_login(vera)
    html = client.get(PAGE).content.decode()
    main = html[html.index("<main") :]
    assert "<form" not in main.split("</main>")[0]
    assert "Declare a freeze" not in html


@pytest.mark.parametrize("persona", ["rita", "root"])
def test_managers_see_the_forms(client, prod, persona, request):
    client.force_login(request.getfixturevalue(persona))
    html = client.get(PAGE).content.decode()
    assert "Declare a freeze" in html and "Add environment" in html
    assert f'hx-post="{reverse("environments:window_add", args=[prod.pk])}"' in html


def test_person_without_role_cannot_open_the_page(client, charlie, prod):
    client.force_login(charlie)
    assert client.get(PAGE).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_page_rejects_post(client, rita):
    client.force_login(rita)
    assert client.post(PAGE).status_code == 405


# ---- Deployment windows ----


def window_data(env: Environment, days=("0", "2"), start="06:00", end="08:30") -> dict:
    prefix = f"win-{env.pk}"
    return {
        f"{prefix}-weekdays": list(days),
        f"{prefix}-start_time": start,
        f"{prefix}-end_time": end,
    }


def test_adding_a_window_answers_with_the_refreshed_board(client, rita, prod):
    client.force_login(rita)
    url = reverse("environments:window_add", args=[prod.pk])
    response = client.post(url, window_data(prod), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="board"')
    assert "Deployment window added." in html
    assert "06:00–08:30" in html and "Mon, Wed" in html
    window = DeploymentWindow.objects.get(environment=prod, start_time=time(6, 0))
    assert (window.weekdays, window.end_time) == ([0, 2], time(8, 30))
    assert AuditEvent.objects.filter(verb="deployment_window.added", actor=rita).exists()


def test_adding_a_window_without_htmx_redirects_to_the_page(client, rita, prod):
    client.force_login(rita)
    response = client.post(reverse("environments:window_add", args=[prod.pk]), window_data(prod))
    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert DeploymentWindow.objects.filter(environment=prod).count() == 2


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"days": ()}, "weekdays", "This field is required."),
        ({"days": ("9",)}, "weekdays", "Select a valid choice."),
        ({"start": "25:00"}, "start_time", "Enter a valid time."),
        ({"start": "10:00", "end": "09:00"}, "end_time", "The window must end after it starts."),
    ],
    ids=["no-days", "bad-day", "bad-time", "end-before-start"],
)
def test_bad_window_is_a_form_error_in_the_open_form(client, rita, prod, data, field, message):
    client.force_login(rita)
    response = client.post(
        reverse("environments:window_add", args=[prod.pk]), window_data(prod, **data), **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert message in field_error(html, f"win-{prod.pk}-{field}")
    assert re.search(rf'<details class="disclosure" id="win-{prod.pk}" open>', html)
    assert DeploymentWindow.objects.filter(environment=prod).count() == 1


def test_window_for_unknown_environment_is_404(client, rita):
    client.force_login(rita)
    url = reverse("environments:window_add", args=[987654])
    response = client.post(
        url,
        {
            "win-987654-weekdays": ["0"],
            "win-987654-start_time": "06:00",
            "win-987654-end_time": "07:00",
        },
        **HTMX,
    )
    assert response.status_code == 404
    assert "No such environment." in response.content.decode()


def test_removing_a_window(client, rita, prod):
    window = DeploymentWindow.objects.get(environment=prod)
    client.force_login(rita)
    response = client.post(reverse("environments:window_remove", args=[window.pk]), **HTMX)
    assert response.status_code == 200
    assert "Deployment window removed." in response.content.decode()
    assert not DeploymentWindow.objects.exists()


def test_removing_an_unknown_window_is_404_with_the_reason(client, rita):
    client.force_login(rita)
    response = client.post(reverse("environments:window_remove", args=[987654]), **HTMX)
    assert response.status_code == 404
    assert "No such deployment window." in response.content.decode()


# ---- Freezes ----


def freeze_data(**changes) -> dict:
    data = {
        "scope": "global",
        "environment": "",
        "region": "",
        "start": "2031-01-10T09:00",
        "end": "2031-01-10T18:00",
        "reason": "Board meeting",
        **changes,
    }
    return {f"new-freeze-{k}": v for k, v in data.items()}


def test_declaring_a_freeze_reads_times_in_the_viewer_zone(client, rita, prod):
    Profile.objects.create(user=rita, time_zone="Europe/Berlin")
    client.force_login(rita)
    response = client.post(
        reverse("environments:freeze_create"),
        freeze_data(scope="environment", environment=prod.pk),
        **HTMX,
    )
    assert response.status_code == 200
    assert "Freeze declared." in response.content.decode()
    freeze = FreezeWindow.objects.get()
    assert (freeze.scope, freeze.environment, freeze.created_by) == ("environment", prod, rita)
    assert freeze.start == datetime(2031, 1, 10, 8, 0, tzinfo=UTC)


def test_region_freeze_keeps_the_region_and_no_environment(client, rita, prod):
    client.force_login(rita)
    client.post(
        reverse("environments:freeze_create"),
        freeze_data(scope="region", region="eu", environment=prod.pk),
        **HTMX,
    )
    freeze = FreezeWindow.objects.get()
    assert (freeze.scope, freeze.region, freeze.environment) == ("region", "eu", None)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"scope": "environment"}, "environment", "Name the environment this freeze is for."),
        ({"scope": "region"}, "region", "Name the region this freeze is for."),
        ({"scope": "moon"}, "scope", "Select a valid choice."),
        ({"end": "2031-01-10T08:00"}, "end", "A freeze must end after it starts."),
        ({"start": "tomorrow"}, "start", "Enter a valid date/time."),
        ({"reason": ""}, "reason", "This field is required."),
        (
            {"scope": "environment", "environment": "987654"},
            "environment",
            "Select a valid choice.",
        ),
    ],
    ids=["no-env", "no-region", "bad-scope", "end-first", "bad-start", "no-reason", "unknown-env"],
)
def test_bad_freeze_is_a_form_error_and_writes_nothing(client, rita, prod, changes, field, message):
    client.force_login(rita)
    response = client.post(reverse("environments:freeze_create"), freeze_data(**changes), **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in field_error(html, f"new-freeze-{field}") or (
        field == "scope" and message in html
    )
    assert '<details class="disclosure" id="new-freeze" open>' in html
    assert not FreezeWindow.objects.exists()


def test_editing_a_freeze(client, rita, prod):
    now = timezone.now()
    freeze = a_freeze(rita, start=now + timedelta(days=1), end=now + timedelta(days=2))
    client.force_login(rita)
    prefix = f"frz-{freeze.pk}"
    response = client.post(
        reverse("environments:freeze_edit", args=[freeze.pk]),
        {
            f"{prefix}-start": "2031-02-01T00:00",
            f"{prefix}-end": "2031-02-03T00:00",
            f"{prefix}-reason": "Moved to February",
        },
        **HTMX,
    )
    assert response.status_code == 200
    freeze.refresh_from_db()
    assert (freeze.reason, freeze.end) == ("Moved to February", datetime(2031, 2, 3, tzinfo=UTC))


def test_editing_a_freeze_with_end_before_start_changes_nothing(client, rita, prod):
    freeze = a_freeze(rita)
    client.force_login(rita)
    prefix = f"frz-{freeze.pk}"
    response = client.post(
        reverse("environments:freeze_edit", args=[freeze.pk]),
        {
            f"{prefix}-start": "2031-02-03T00:00",
            f"{prefix}-end": "2031-02-01T00:00",
            f"{prefix}-reason": "Oops",
        },
        **HTMX,
    )
    assert response.status_code == 400
    assert "A freeze must end after it starts." in field_error(
        response.content.decode(), f"{prefix}-end"
    )
    freeze.refresh_from_db()
    assert freeze.reason == "Year-end close"


def test_lifting_a_freeze_records_the_reason(client, rita, prod):
    freeze = a_freeze(rita)
    client.force_login(rita)
    response = client.post(
        reverse("environments:freeze_remove", args=[freeze.pk]),
        {f"lift-{freeze.pk}-reason": "Close finished early."},
        **HTMX,
    )
    assert response.status_code == 200
    assert "Freeze lifted." in response.content.decode()
    assert not FreezeWindow.objects.exists()
    assert AuditEvent.objects.get(verb="freeze.removed").reason == "Close finished early."


# ---- Environments ----


def env_data(prefix: str = "new-env", **changes) -> dict:
    data = {
        "name": "prod-ap",
        "tier": "production",
        "region": "ap",
        "time_zone": "Asia/Singapore",
        "health_url": "https://ap.example.test/health",
        **changes,
    }
    return {f"{prefix}-{k}": v for k, v in data.items()}


def test_adding_an_environment(client, rita):
    client.force_login(rita)
    response = client.post(reverse("environments:create"), env_data(), **HTMX)
    assert response.status_code == 200
    env = Environment.objects.get(name="prod-ap")
    assert (env.tier, env.region, env.time_zone) == ("production", "ap", "Asia/Singapore")
    assert 'data-env="prod-ap"' in response.content.decode()


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "is not an IANA time zone"),
        ({"name": "prod ap!"}, "name", "may hold only letters"),
        ({"tier": "qa"}, "tier", "Select a valid choice."),
        ({"health_url": "ftp://x"}, "health_url", "must be an http(s) URL"),
    ],
    ids=["zone", "name", "tier", "url"],
)
def test_bad_environment_is_a_form_error(client, rita, changes, field, message):
    client.force_login(rita)
    response = client.post(reverse("environments:create"), env_data(**changes), **HTMX)
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), f"new-env-{field}")
    assert not Environment.objects.exists()


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "is not an IANA time zone"),
        ({"tier": "qa"}, "tier", "Select a valid choice."),
        ({"name": "prod eu"}, "name", "may hold only letters"),
        ({"health_url": "ftp://example.test/"}, "health_url", "must be an http(s) URL"),
        ({"deploy_url": "ftp://example.test/"}, "deploy_url", "must be an http(s) URL"),
        ({"deploy_secret": "x"}, "deploy_secret", "16 to 128"),
        ({"deploy_secret": " padded-secret-0123456 "}, "deploy_secret", "start or end"),
    ],
    ids=["zone", "tier", "name", "health-url", "deploy-url", "short-secret", "padded-secret"],
)
def test_bad_edit_is_a_form_error_and_writes_nothing(client, rita, prod, changes, field, message):
    client.force_login(rita)
    prefix = f"env-{prod.pk}"
    events = AuditEvent.objects.count()
    current = {"name": "prod-eu", "region": "eu", "time_zone": "Europe/Berlin"}
    data = env_data(prefix, **{**current, **changes})
    response = client.post(reverse("environments:edit", args=[prod.pk]), data, **HTMX)
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), f"{prefix}-{field}")
    assert AuditEvent.objects.count() == events
    prod.refresh_from_db()
    assert (prod.name, prod.time_zone, prod.health_url, prod.deploy_secret) == (
        "prod-eu",
        "Europe/Berlin",
        "",
        "",
    )


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"start": "1969-12-31T23:00"}, "start", "between the years 1970 and 9998"),
        ({"end": "9999-12-31T23:00"}, "end", "between the years 1970 and 9998"),
        ({"reason": "x" * 301}, "reason", "at most 300 characters"),
        ({"scope": "region", "region": "x" * 65}, "region", "at most 64 characters"),
    ],
    ids=["too-early", "too-late", "long-reason", "long-region"],
)
def test_out_of_range_freeze_is_a_form_error_and_writes_nothing(
    client, rita, prod, changes, field, message
):
    client.force_login(rita)
    response = client.post(reverse("environments:freeze_create"), freeze_data(**changes), **HTMX)
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), f"new-freeze-{field}")
    assert not FreezeWindow.objects.exists()


def test_editing_an_environment(client, rita, prod):
    client.force_login(rita)
    prefix = f"env-{prod.pk}"
    response = client.post(
        reverse("environments:edit", args=[prod.pk]),
        env_data(prefix, name="prod-eu", region="eu-west", time_zone="Europe/Dublin"),
        **HTMX,
    )
    assert response.status_code == 200
    prod.refresh_from_db()
    assert (prod.region, prod.time_zone) == ("eu-west", "Europe/Dublin")


def test_renaming_onto_another_environment_is_refused_on_the_name(client, rita, prod, staging):
    client.force_login(rita)
    prefix = f"env-{staging.pk}"
    response = client.post(
        reverse("environments:edit", args=[staging.pk]),
        env_data(prefix, name="prod-eu", region="us", time_zone="America/New_York"),
        **HTMX,
    )
    assert response.status_code == 400
    assert "Another environment has that name." in field_error(
        response.content.decode(), f"{prefix}-name"
    )
    staging.refresh_from_db()
    assert staging.name == "staging-us"


# ---- Forged and wrong requests ----


def write_requests(prod: Environment, freeze: FreezeWindow, window: DeploymentWindow) -> list:
    return [
        (reverse("environments:create"), env_data()),
        (reverse("environments:edit", args=[prod.pk]), env_data(f"env-{prod.pk}", name="x")),
        (reverse("environments:window_add", args=[prod.pk]), window_data(prod)),
        (reverse("environments:window_remove", args=[window.pk]), {}),
        (reverse("environments:freeze_create"), freeze_data()),
        (
            reverse("environments:freeze_edit", args=[freeze.pk]),
            {
                f"frz-{freeze.pk}-reason": "x",
                f"frz-{freeze.pk}-start": "2031-01-01T00:00",
                f"frz-{freeze.pk}-end": "2031-01-02T00:00",
            },
        ),
        (reverse("environments:freeze_remove", args=[freeze.pk]), {}),
    ]


@pytest.mark.parametrize("persona", ["vera", "alice", "oscar", "charlie"])
def test_forged_changes_from_other_roles_are_403_and_write_nothing(
    client, rita, prod, persona, request
):
    freeze = a_freeze(rita)
    window = DeploymentWindow.objects.get(environment=prod)
    before = AuditEvent.objects.count()
    client.force_login(request.getfixturevalue(persona))
    for url, data in write_requests(prod, freeze, window):
        assert client.post(url, data).status_code == 403, url
        assert client.post(url, data, **HTMX).status_code == 403, url
    assert AuditEvent.objects.count() == before
    assert FreezeWindow.objects.get().reason == "Year-end close"
    assert DeploymentWindow.objects.count() == 1
    assert list(Environment.objects.values_list("name", flat=True)) == ["prod-eu"]


def test_write_endpoints_reject_get(client, rita, prod):
    freeze = a_freeze(rita)
    window = DeploymentWindow.objects.get(environment=prod)
    client.force_login(rita)
    for url, _ in write_requests(prod, freeze, window):
        assert client.get(url).status_code == 405, url


def test_anonymous_changes_go_to_login(client, rita, prod):
    freeze = a_freeze(rita)
    window = DeploymentWindow.objects.get(environment=prod)
    for url, data in write_requests(prod, freeze, window):
        response = client.post(url, data)
        assert response.status_code == 302 and reverse("login") in response["Location"]
    assert FreezeWindow.objects.count() == 1


# ---- Live updates ----


def live_url(html: str) -> str:
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match
    return match.group(1).replace("&amp;", "&")


def test_live_unchanged_answers_204_after_one_query(client, vera, prod, poll_costs_one_query):
    client.force_login(vera)
    url = live_url(client.get(PAGE).content.decode())
    assert client.get(url, **HTMX).status_code == 204
    poll_costs_one_query(client, url)


def test_live_shows_a_freeze_declared_elsewhere(client, vera, rita, prod):
    client.force_login(vera)
    url = live_url(client.get(PAGE).content.decode())
    a_freeze(rita, reason="Declared through the API")
    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="board"')
    assert "Declared through the API" in html
    assert client.get(live_url(html), **HTMX).status_code == 204


def test_live_refuses_person_without_role(client, vera, charlie, prod):
    client.force_login(vera)
    url = live_url(client.get(PAGE).content.decode())
    client.force_login(charlie)
    assert client.get(url, **HTMX).status_code == 403


# ---- Query budget ----


def populate(n: int, rita) -> None:
    start = len(Environment.objects.all())
    for i in range(start, n):
        env = EnvironmentFactory(name=f"env-{i:03}", region=f"r{i % 5}", time_zone="Asia/Tokyo")
        DeploymentWindow.objects.create(
            environment=env, weekdays=[0, 1, 2], start_time=time(8), end_time=time(12)
        )
        FreezeWindow.objects.create(
            scope="environment",
            environment=env,
            start=timezone.now() + timedelta(days=i),
            end=timezone.now() + timedelta(days=i, hours=3),
            reason=f"Freeze {i}",
        )


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(PAGE)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("persona", ["vera", "rita"])
def test_page_queries_do_not_grow_with_environments_windows_or_freezes(
    client, rita, persona, request
):
    client.force_login(request.getfixturevalue(persona))
    populate(10, rita)
    few = page_queries(client)
    populate(200, rita)
    assert page_queries(client) == few
    assert few <= 12
    assert "Freeze 199" in client.get(PAGE).content.decode()


# ---- Deploy tool settings, and freezes in force ----


def test_deploy_url_and_secret_are_set_on_the_page_and_the_secret_never_shown(client, rita, prod):
    client.force_login(rita)
    secret = "s3cret-deploy-key-0123"
    prefix = f"env-{prod.pk}"
    data = env_data(
        prefix,
        name="prod-eu",
        region="eu",
        time_zone="Europe/Berlin",
        deploy_url="https://deploy.example.test/hook",
        deploy_secret=secret,
    )

    response = client.post(reverse("environments:edit", args=[prod.pk]), data, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200, html
    prod.refresh_from_db()
    assert (prod.deploy_url, prod.deploy_secret) == ("https://deploy.example.test/hook", secret)
    page = client.get(PAGE).content.decode()
    assert secret not in html and secret not in page
    card = page[page.index('data-env="prod-eu"') :]
    assert 'data-testid="deploy-secret">set<' in card
    assert "https://deploy.example.test/hook" in card
    event = AuditEvent.objects.filter(verb="environment.updated").latest("id")
    assert secret not in str(event.after) and event.after["deploy_secret"] == "set"


def test_an_empty_secret_box_keeps_the_secret_and_the_checkbox_removes_it(client, rita, prod):
    es.environment_update(environment_id=prod.pk, deploy_secret="k" * 20, actor=rita)
    client.force_login(rita)
    prefix = f"env-{prod.pk}"
    base = {"name": "prod-eu", "region": "eu", "time_zone": "Europe/Berlin"}
    url = reverse("environments:edit", args=[prod.pk])

    client.post(url, env_data(prefix, **base, deploy_secret=""), **HTMX)
    prod.refresh_from_db()
    assert prod.deploy_secret == "k" * 20

    client.post(url, env_data(prefix, **base, remove_deploy_secret="on"), **HTMX)
    prod.refresh_from_db()
    assert prod.deploy_secret == ""
    card = client.get(PAGE).content.decode()
    assert 'data-testid="deploy-secret">not set<' in card


def test_a_short_deploy_secret_is_refused_in_place(client, rita, prod):
    client.force_login(rita)
    prefix = f"env-{prod.pk}"
    data = env_data(prefix, name="prod-eu", time_zone="Europe/Berlin", deploy_secret="short")

    response = client.post(reverse("environments:edit", args=[prod.pk]), data, **HTMX)

    assert response.status_code == 400
    assert "16 to 128" in field_error(response.content.decode(), f"{prefix}-deploy_secret")
    assert 'value="short"' not in response.content.decode()  # never rendered back
    prod.refresh_from_db()
    assert prod.deploy_secret == ""


def test_lifting_a_freeze_in_force_needs_a_reason(client, rita, prod):
    freeze = a_freeze(rita)
    client.force_login(rita)

    response = client.post(reverse("environments:freeze_remove", args=[freeze.pk]), {}, **HTMX)

    assert response.status_code == 400
    assert "in force" in response.content.decode()
    assert FreezeWindow.objects.filter(pk=freeze.pk).exists()


def test_lifting_a_future_freeze_needs_no_reason(client, rita, prod):
    now = timezone.now()
    freeze = a_freeze(rita, start=now + timedelta(days=3), end=now + timedelta(days=4))
    client.force_login(rita)

    response = client.post(reverse("environments:freeze_remove", args=[freeze.pk]), {}, **HTMX)

    assert response.status_code == 200
    assert not FreezeWindow.objects.exists()


def test_shortening_a_freeze_in_force_needs_a_reason_and_records_it(client, rita, prod):
    freeze = a_freeze(rita)
    client.force_login(rita)
    prefix = f"frz-{freeze.pk}"
    local = timezone.localtime(freeze.start).strftime("%Y-%m-%dT%H:%M")
    earlier = timezone.localtime(freeze.end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {f"{prefix}-start": local, f"{prefix}-end": earlier, f"{prefix}-reason": freeze.reason}
    url = reverse("environments:freeze_edit", args=[freeze.pk])

    refused = client.post(url, data, **HTMX)
    accepted = client.post(url, {**data, f"{prefix}-change_reason": "Close done."}, **HTMX)

    assert refused.status_code == 400
    assert "say why it is shortened" in field_error(
        refused.content.decode(), f"{prefix}-change_reason"
    )
    assert accepted.status_code == 200
    event = AuditEvent.objects.get(verb="freeze.updated")
    assert event.reason == "Close done."


def test_an_operator_sees_no_environment_or_freeze_forms(client, oscar, rita, prod):
    a_freeze(rita)
    client.force_login(oscar)

    html = client.get(PAGE).content.decode()

    assert "Declare a freeze" not in html and "Lift this freeze" not in html
    assert f'hx-post="{reverse("environments:window_add", args=[prod.pk])}"' not in html

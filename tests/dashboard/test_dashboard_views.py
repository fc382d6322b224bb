"""The dashboard through the Django test client: who sees and presses what, live polling,
and a query count that does not grow with the number of releases."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Profile
from apps.audit.models import AuditEvent
from apps.dashboard import selectors, views
from apps.environments import services as es
from apps.environments.models import FreezeWindow, StopTheLine
from apps.environments.stop_line import stop_the_line_set
from apps.releases import services as rs
from apps.rollouts.models import RolloutPlan, Wave
from apps.rollouts.transitions import wave_transition
from apps.signoffs.models import SignOff, SignoffRequirement
from apps.stakeholders.models import Stakeholder, StakeholderRole
from tests.factories import (
    ApplicationFactory,
    EnvironmentFactory,
    ReleaseFactory,
    UserFactory,
    give,
)

from .scenes import hour, working_week

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
HOME = "/dashboard/"
STOP = "/dashboard/stop-the-line/"


@pytest.fixture
def week(rita, alice, bob, oscar):
    """Several applications, environments and releases in every phase (slow: many services)."""
    return working_week(rita, alice, bob, oscar)


@pytest.fixture
def some(rita):
    """One release of ERP and a freeze: enough for tests about access and polling."""
    es.freeze_create(
        scope="global", start=hour(9), end=hour(11), reason="Year-end close", actor=rita
    )
    return ReleaseFactory(owner=rita, application=ApplicationFactory(name="ERP", slug="erp"))


def poll_url(html: str) -> str:
    match = re.search(r'id="live"[^>]*hx-get="([^"]+)"', html, re.S)
    assert match, "the page has no live poller"
    return match.group(1).replace("&amp;", "&")


def cell(html: str, app: str, env: str) -> str:
    match = re.search(rf'data-testid="cell-{app}-{env}">(.*?)</td>', html, re.S)
    assert match, f"no cell for {app} × {env}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


# ---- Who may open it ----


def test_url_names_resolve():
    assert reverse("dashboard:home") == HOME
    assert reverse("dashboard:stop_line") == STOP


def test_dashboard_sends_anonymous_to_login(client):
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_dashboard_refuses_person_without_role(client, charlie, some):
    client.force_login(charlie)
    response = client.get(HOME)
    assert response.status_code == 403
    assert "ERP" not in response.content.decode()


def test_dashboard_rejects_post(client, vera):
    client.force_login(vera)
    assert client.post(HOME).status_code == 405


def test_viewer_sees_the_dashboard(client, vera):
    client.force_login(vera)
    response = client.get(HOME)
    assert response.status_code == 200
    assert "<h1>Dashboard</h1>" in response.content.decode()


# ---- Matrix and rollouts ----


def test_matrix_shows_deployed_version_and_release_in_flight_with_its_wave_state(
    client, vera, week
):
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    # 5.1.0's staging wave succeeded at 100 %: deployed there, and no longer "in flight".
    assert cell(html, "erp", "staging-eu") == "5.1.0"
    # In prod-eu 5.0.0 runs while the 5.1.0 canary deploys to 10 %.
    assert cell(html, "erp", "prod-eu") == "5.0.0 → In flight: 5.1.0 Deploying · 10%"
    assert cell(html, "erp", "prod-us") == "5.0.0 → In flight: 5.1.0 Pending · 100%"
    assert cell(html, "payroll", "prod-eu") == "3.1.0"
    assert cell(html, "crm", "prod-eu") == "— Nothing deployed"


def test_a_canary_share_that_succeeded_is_not_yet_the_deployed_version(client, vera, week):
    canary = Wave.objects.get(plan__release=week["erp"], name="EU canary")
    for state in ("verifying", "succeeded"):
        wave_transition(wave_id=canary.pk, to=state, actor=None)
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    # The 10 % canary is done: 5.1.0 runs there for 10 % of the traffic, and the next wave on
    # prod-eu (100 %) is what comes there now.
    assert cell(html, "erp", "prod-eu") == "5.0.0 5.1.0 at 10 % → In flight: 5.1.0 Pending · 100%"


def test_rolled_back_release_is_not_deployed(client, rita, vera, week):
    rs.release_move(release_id=week["erp"].pk, to="rolled_back", reason="Bad build.", actor=rita)
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    assert cell(html, "erp", "staging-eu") == "5.0.0"
    assert "In flight" not in cell(html, "erp", "prod-eu")


def reached(html: str) -> str:
    """The rollout card's line of environments and the traffic share reached there."""
    match = re.search(
        r'data-testid="reached">(.*?)</span>\s*<span class="dash-lifecycle"', html, re.S
    )
    assert match, "no reached line"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip()


def test_active_rollouts_show_rollout_progress_and_name_the_lifecycle_figure(client, vera, week):
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    # The bar is the rollout's own progress (1 of 4 waves), not the lifecycle's 65 %.
    assert 'aria-valuenow="25"' in html and 'aria-valuenow="65"' not in html
    assert 'data-testid="rollout-share">25 % of waves<' in html
    assert "1 of 4 waves done" in html
    assert "now <strong>EU canary</strong>" in html
    # The lifecycle figure (rules.progress: rollout 60 + 1 of 4 waves) is named as such.
    assert ">Release lifecycle 65 %<" in html
    assert reached(html) == "Reached staging-eu 100 %"


def test_rollout_card_names_the_traffic_each_environment_reached(client, vera, week):
    canary = Wave.objects.get(plan__release=week["erp"], name="EU canary")

    for state in ("verifying", "succeeded"):
        wave_transition(wave_id=canary.pk, to=state, actor=None)
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    assert reached(html) == "Reached staging-eu 100 % · prod-eu 10 %"
    assert 'data-testid="rollout-share">50 % of waves<' in html


# ---- Sign-offs waiting for me ----


def waiting_list(client, user) -> list[str]:
    client.force_login(user)
    html = client.get(HOME).content.decode()
    match = re.search(r'data-testid="waiting">(.*?)</ul>', html, re.S)
    if not match:
        return []
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
        for item in re.findall(r'<li class="dash-wait-item">(.*?)</li>', match.group(1), re.S)
    ]


def test_signoffs_waiting_for_me_lists_releases_oldest_first_with_age(client, alice, week):
    items = waiting_list(client, alice)
    assert len(items) == 2
    assert items[0].startswith("Payroll 3.2.0 as QA waiting 4 days, 3 hours")
    assert items[1].startswith("CRM 2.0.0 as QA waiting 1 day, 6 hours")
    html = client.get(HOME).content.decode()
    assert f'href="{reverse("signoffs:page", args=[week["crm"].pk])}"' in html


def test_a_release_leaves_my_waiting_list_once_i_sign_it(client, alice, bob, week):
    from apps.signoffs import services as so

    assert [i.split(" as ")[0] for i in waiting_list(client, bob)] == ["Payroll 3.2.0"]
    so.signoff_give(release_id=week["crm"].pk, decision="reject", comment="No.", actor=alice)
    assert [i.split(" as ")[0] for i in waiting_list(client, alice)] == ["Payroll 3.2.0"]


def test_a_stale_signoff_puts_the_release_back_on_my_list(client, rita, bob, week):
    assert "CRM 2.0.0" not in " ".join(waiting_list(client, bob))
    rs.release_update(release_id=week["crm"].pk, scope="Invoices and exports.", actor=rita)
    assert "CRM 2.0.0" in " ".join(waiting_list(client, bob))


def test_people_who_sign_nothing_off_see_no_waiting_list(client, rita, oscar, vera, week):
    for person in (rita, oscar, vera):
        client.force_login(person)
        html = client.get(HOME).content.decode()
        assert re.search(r'<section id="waiting"[^>]*hidden', html, re.S)
        assert "sign-offs waiting for you" not in html


def test_waiting_list_follows_the_permission_rule_for_every_release(client, rita, roles_seeded):
    """The bulk read agrees with eligibility.signoff_roles release by release."""
    from apps.releases.rules import ReleaseFacts, SignoffFact, is_current
    from apps.signoffs.eligibility import signoff_roles

    amy = UserFactory(username="amy")
    give(amy, "approver")
    qa = StakeholderRole.objects.get(slug="qa")
    security = StakeholderRole.objects.get(slug="security")
    now = timezone.now()

    def testing(**extra):
        release = ReleaseFactory(owner=rita, phase="testing", **extra)
        SignoffRequirement.objects.create(release=release, role=qa)
        return release

    named = testing()
    Stakeholder.objects.create(release=named, user=amy, role=qa)
    not_in_policy = testing()
    Stakeholder.objects.create(release=not_in_policy, user=amy, role=security)
    owned = ReleaseFactory(owner=amy, phase="testing")
    SignoffRequirement.objects.create(release=owned, role=qa)
    Stakeholder.objects.create(release=owned, user=amy, role=qa)
    signed = testing()
    Stakeholder.objects.create(release=signed, user=amy, role=qa)
    SignOff.objects.create(
        release=signed, signer=amy, role=qa, decision="approve", fingerprint=signed.fingerprint
    )
    expired = testing(signoff_expiry_days=2)
    Stakeholder.objects.create(release=expired, user=amy, role=qa)
    old = SignOff.objects.create(
        release=expired, signer=amy, role=qa, decision="approve", fingerprint=expired.fingerprint
    )
    SignOff.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=3))
    planning = ReleaseFactory(owner=rita, phase="planning")
    SignoffRequirement.objects.create(release=planning, role=qa)
    Stakeholder.objects.create(release=planning, user=amy, role=qa)

    expected = set()
    for release in (named, not_in_policy, owned, signed, expired, planning):
        if release.phase != "testing" or not signoff_roles(amy, release):
            continue
        facts = ReleaseFacts(
            phase=release.phase,
            now=now,
            fingerprint=release.fingerprint,
            signoff_expiry_days=release.signoff_expiry_days,
        )
        mine = SignOff.objects.filter(release=release, signer=amy, wave__isnull=True)
        if not any(
            is_current(
                SignoffFact(amy.pk, s.role.slug, s.decision, s.fingerprint, s.created_at), facts
            )
            for s in mine
        ):
            expected.add(release.pk)
    got = {item["release"].pk for item in selectors.signoffs_waiting(amy, now)}
    assert got == expected == {named.pk, expired.pk}


# ---- Upcoming waves and freezes ----


def test_upcoming_waves_show_the_viewer_time_and_the_environment_local_time(client, alice, week):
    Profile.objects.create(user=alice, time_zone="Asia/Tokyo")
    wave = Wave.objects.get(plan__release=week["erp"], name="US")
    client.force_login(alice)
    html = client.get(HOME).content.decode()
    tokyo = wave.planned_start.astimezone(ZoneInfo("Asia/Tokyo"))
    new_york = wave.planned_start.astimezone(ZoneInfo("America/New_York"))
    row = re.search(r"<tr>((?:(?!</tr>).)*?US · prod-us(?:(?!</tr>).)*)</tr>", html, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
    assert tokyo.strftime("%a %-d %b, %H:%M") in text
    assert new_york.strftime("%a %-d %b, %H:%M") + " " + new_york.strftime("%Z") in text


def upcoming_rows(html: str) -> list[str]:
    section = re.search(r'<section id="upcoming".*?</section>', html, re.S).group(0)
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)[1:]  # after the header row
    ]


def test_waves_beyond_fourteen_days_and_started_waves_are_not_upcoming(client, vera, week):
    client.force_login(vera)
    rows = upcoming_rows(client.get(HOME).content.decode())
    assert len(rows) == 8
    assert not [r for r in rows if "EU canary" in r]  # deploying already
    assert [r for r in rows if "Payroll 3.2.0" in r and "In a freeze" in r]
    assert [r for r in rows if "HR 1.4.0" in r and "US · prod-us" in r]

    wave = Wave.objects.get(plan__release=week["hr"], name="US")
    Wave.objects.filter(pk=wave.pk).update(planned_start=hour(15))
    rows = upcoming_rows(client.get(HOME).content.decode())
    assert len(rows) == 7
    assert not [r for r in rows if "HR 1.4.0" in r and "US · prod-us" in r]


def test_freezes_now_and_coming_are_listed(client, vera, week):
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    freezes = re.search(r'<section id="freezes".*?</section>', html, re.S).group(0)
    assert "US payroll run" in freezes and "Region us" in freezes
    assert "Year-end close" in freezes and "Everywhere" in freezes
    assert freezes.count("Active now") == 1


# ---- Stop the line ----


def test_viewer_and_approver_see_no_stop_the_line_switch(client, vera, alice):
    for person in (vera, alice):
        client.force_login(person)
        html = client.get(HOME).content.decode()
        assert f'action="{STOP}"' not in html
        assert "Stop the line…" not in html


def test_operator_and_release_manager_see_the_switch(client, oscar, rita):
    for person in (oscar, rita):
        client.force_login(person)
        html = client.get(HOME).content.decode()
        assert f'action="{STOP}"' in html
        assert '<label for="stop-reason">Why stop the line?</label>' in html


def test_viewer_forged_stop_the_line_post_is_refused_403(client, vera):
    client.force_login(vera)
    response = client.post(STOP, {"active": "on", "reason": "Forged"}, **HTMX)
    assert response.status_code == 403
    assert not StopTheLine.objects.filter(active=True).exists()


def test_approver_forged_stop_the_line_post_is_refused_403(client, alice):
    client.force_login(alice)
    assert client.post(STOP, {"active": "on", "reason": "Forged"}).status_code == 403
    assert not StopTheLine.objects.filter(active=True).exists()


def test_stop_the_line_rejects_get(client, oscar):
    client.force_login(oscar)
    assert client.get(STOP).status_code == 405


def test_anonymous_stop_the_line_post_is_sent_to_login(client):
    response = client.post(STOP, {"active": "on", "reason": "x"}, **HTMX)
    assert response.status_code == 403
    assert response["HX-Redirect"].startswith(reverse("login"))
    assert not StopTheLine.objects.filter(active=True).exists()


def test_operator_pulls_the_line_and_running_waves_halt(client, oscar, week):
    client.force_login(oscar)
    response = client.post(STOP, {"active": "on", "reason": "Payments outage"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "dashboard-changed" in response["HX-Trigger-After-Settle"]
    assert 'data-testid="stop-line-banner"' in html
    assert "“Payments outage”" in html
    assert StopTheLine.objects.get().active
    assert Wave.objects.get(plan__release=week["erp"], name="EU canary").state == "halted"
    html = client.get(HOME).content.decode()
    assert "The line is stopped." in html
    assert "Lift…" in html


def test_pulling_the_line_without_a_reason_is_refused_with_the_message(client, oscar):
    client.force_login(oscar)
    response = client.post(STOP, {"active": "on", "reason": "  "}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'role="alert">Say why the line is stopped.</p>' in html
    assert 'aria-invalid="true"' in html
    assert '<details class="dash-confirm" open>' in html
    assert not StopTheLine.objects.filter(active=True).exists()


def test_switch_with_an_unknown_value_is_refused_400(client, oscar):
    client.force_login(oscar)
    response = client.post(STOP, {"active": "maybe"}, **HTMX)
    assert response.status_code == 400
    assert not StopTheLine.objects.filter(active=True).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"active": "on", "reason": "x" * 301}, "at most 300 characters"),
        ({"active": "on", "reason": "Outage\x00"}, "Null characters are not allowed."),
        ({"reason": "Outage"}, "Choose whether to stop the line or lift it."),
    ],
    ids=["long-reason", "nul", "no-choice"],
)
def test_malformed_switch_is_refused_with_the_message_and_changes_nothing(
    client, oscar, data, message
):
    client.force_login(oscar)
    response = client.post(STOP, data, **HTMX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not StopTheLine.objects.filter(active=True).exists()
    assert not AuditEvent.objects.filter(verb__startswith="stop_the_line").exists()


def test_release_manager_lifts_the_line_without_htmx_and_lands_on_the_dashboard(
    client, rita, oscar, week
):
    stop_the_line_set(active=True, reason="Outage", actor=oscar)
    client.force_login(rita)
    response = client.post(STOP, {"active": "off"})
    assert response.status_code == 302
    assert response["Location"] == HOME
    assert not StopTheLine.objects.get().active
    assert Wave.objects.get(plan__release=week["erp"], name="EU canary").state != "halted"


def test_refused_switch_without_htmx_shows_the_page_with_the_error(client, oscar):
    client.force_login(oscar)
    response = client.post(STOP, {"active": "on", "reason": ""})
    assert response.status_code == 400
    assert "Say why the line is stopped." in response.content.decode()


# ---- Live ----


def test_live_unchanged_answers_204_after_one_query(client, vera, some, poll_costs_one_query):
    client.force_login(vera)
    url = poll_url(client.get(HOME).content.decode())
    assert client.get(url, **HTMX).status_code == 204
    poll_costs_one_query(client, url)


def test_live_renders_the_parts_when_something_changed_elsewhere(client, rita, oscar, vera, some):
    client.force_login(vera)
    url = poll_url(client.get(HOME).content.decode())
    stop_the_line_set(active=True, reason="Outage in prod-eu", actor=oscar)

    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="stop-line"' in html and 'hx-swap-oob="true"' in html
    assert "“Outage in prod-eu”" in html
    assert 'id="matrix" class="card card-flush"' in html
    # The fresh poller carries the new marker and the new switch state: quiet again.
    assert "line=on" in poll_url(html)
    assert client.get(poll_url(html), **HTMX).status_code == 204


def test_live_leaves_the_switch_alone_when_only_other_things_changed(client, rita, oscar, some):
    client.force_login(oscar)
    url = poll_url(client.get(HOME).content.decode())
    rs.release_update(release_id=some.pk, name="Leave and sick days", actor=rita)
    response = client.get(url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    # Someone may be typing a reason into the switch's form: it is not replaced.
    assert 'id="stop-line"' not in html
    assert 'id="rollouts"' in html


def test_live_refuses_person_without_role(client, charlie, some):
    client.force_login(charlie)
    response = client.get(reverse("dashboard:live"), {"m": "x"}, **HTMX)
    assert response.status_code == 403
    assert "hx-trigger" not in response.content.decode()


def test_live_pass_of_another_person_does_not_skip_the_role_check(client, vera, charlie):
    client.force_login(vera)
    url = poll_url(client.get(HOME).content.decode())
    client.force_login(charlie)
    assert client.get(url, **HTMX).status_code == 403


def test_live_renews_an_expired_pass_with_a_full_render(client, vera, monkeypatch):
    client.force_login(vera)
    url = poll_url(client.get(HOME).content.decode())
    monkeypatch.setattr(views.live_pass, "max_age", -1)
    response = client.get(url, **HTMX)
    assert response.status_code == 200
    assert 'hx-swap-oob="true"' in response.content.decode()


def test_live_anonymous_htmx_is_sent_to_login(client):
    response = client.get(reverse("dashboard:live"), **HTMX)
    assert response.status_code == 403
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_live_rejects_post(client, vera):
    client.force_login(vera)
    assert client.post(reverse("dashboard:live")).status_code == 405


def test_change_marker_moves_with_every_kind_of_change(rita, oscar, some):
    now = timezone.now()
    seen = [selectors.change_marker(now)]

    def changed() -> bool:
        marker = selectors.change_marker(now)
        fresh = marker not in seen
        seen.append(marker)
        return fresh

    assert not changed()
    rs.release_update(release_id=some.pk, name="Leave requests v2", actor=rita)
    assert changed()
    stop_the_line_set(active=True, reason="Outage", actor=oscar)
    assert changed()
    freeze = FreezeWindow.objects.get(reason="Year-end close")
    es.freeze_remove(freeze_id=freeze.pk, reason="Moved to January", actor=rita)
    assert changed()
    EnvironmentFactory(name="prod-apac", region="apac", time_zone="Asia/Singapore")
    assert changed()
    ApplicationFactory(name="Wiki", slug="wiki")
    assert changed()
    # Replacing a plan deletes its waves and writes new ones, even as many as before.
    from apps.rollouts.services import plan_apply_strategy

    env = EnvironmentFactory(name="prod-eu", region="eu")
    plan_apply_strategy(
        release_id=some.pk, strategy="big_bang", environment_ids=[env.pk], actor=rita
    )
    assert changed()
    plan_apply_strategy(
        release_id=some.pk, strategy="big_bang", environment_ids=[env.pk], actor=rita
    )
    assert changed()
    # And once a minute, so ages and the 14-day horizon move on a page nobody touches.
    assert selectors.change_marker(now + timedelta(minutes=1)) != seen[-1]


def test_change_marker_stays_while_only_check_results_and_deploy_reports_arrive(
    rita, alice, bob, oscar, week
):
    from apps.releases.services import record_change
    from apps.rollouts import delivery
    from apps.rollouts.models import Check

    canary = Wave.objects.get(plan__release=week["erp"], name="EU canary")
    wave_transition(wave_id=canary.pk, to="verifying", actor=None)
    # Checks are planned before a wave runs; this scene's canary had none.
    check = Check.objects.create(
        wave=canary, name="Health endpoint", kind="http", config={"url": "https://erp.test/"}
    )
    now = timezone.now()
    before = selectors.change_marker(now)
    for ok in (True, True, False, True):
        delivery.record_check_result(check_id=check.pk, ok=ok, value="200", detail="HTTP 200")
    with transaction.atomic():
        record_change(release_id=week["erp"].pk, actor=None, verb="deploy.reported_in_progress")
    # The release's revision moved (its own page shows the results); the dashboard's did not.
    assert selectors.change_marker(now) == before
    wave_transition(wave_id=canary.pk, to="halted", actor=oscar, reason="Odd graph")
    assert selectors.change_marker(now) != before


# ---- Query budget ----


def many_releases(n: int, rm, approver, *, start: int = 0) -> None:
    """`n` more releases across phases: rollouts with waves in flight, deployed ones, plans,
    and releases in testing that wait for `approver` (some already signed)."""
    envs = [
        EnvironmentFactory(name=name, tier=tier, region=region, time_zone="Europe/Berlin")
        for name, tier, region in (
            ("staging-eu", "staging", "eu"),
            ("prod-eu", "production", "eu"),
            ("prod-us", "production", "us"),
        )
    ]
    qa = StakeholderRole.objects.get(slug="qa")
    apps = [ApplicationFactory(name=f"App {k}", slug=f"app-{k}") for k in range(4)]
    phases = ["rollout", "testing", "support", "planning"]
    now = timezone.now()
    for i in range(start, start + n):
        phase = phases[i % 4]
        release = ReleaseFactory(owner=rm, phase=phase, application=apps[i % 4], version=f"{i}.0.0")
        plan = RolloutPlan.objects.create(release=release, strategy="canary")
        for position, env in enumerate(envs, start=1):
            state = "pending"
            if phase == "support" or (phase == "rollout" and position == 1):
                state = "succeeded"
            elif phase == "rollout" and position == 2:
                state = "deploying"
            Wave.objects.create(
                plan=plan,
                position=position,
                name=f"wave {position}",
                environment=env,
                state=state,
                planned_start=now + timedelta(days=1 + i % 10, hours=position),
                finished_at=now - timedelta(minutes=i) if state == "succeeded" else None,
            )
        if phase == "testing":
            SignoffRequirement.objects.create(release=release, role=qa)
            Stakeholder.objects.create(release=release, user=approver, role=qa)
            if i % 8 == 1:
                SignOff.objects.create(
                    release=release,
                    signer=approver,
                    role=qa,
                    decision="approve",
                    fingerprint=release.fingerprint,
                )
    FreezeWindow.objects.create(
        scope="global", start=now, end=now + timedelta(days=1), reason=f"Freeze {start}"
    )


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(HOME)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("persona", ["alice", "oscar"])
def test_dashboard_queries_do_not_grow_with_the_number_of_releases(
    client, request, rita, persona, django_assert_max_num_queries
):
    from apps.releases.models import Release

    viewer = request.getfixturevalue(persona)
    many_releases(10, rita, viewer)
    client.force_login(viewer)
    with django_assert_max_num_queries(16):
        small = dashboard_queries(client)

    many_releases(190, rita, viewer, start=10)
    assert Release.objects.count() == 200
    with django_assert_max_num_queries(16):
        large = dashboard_queries(client)
    assert large == small
    html = client.get(HOME).content.decode()
    assert html.count('class="dash-rollout"') == 50


def test_times_name_a_zone_whose_abbreviation_is_only_an_offset(client, rita, alice, bob, oscar):
    working_week(rita, alice, bob, oscar)
    Profile.objects.create(user=rita, time_zone="Asia/Singapore")
    client.force_login(rita)
    html = client.get(HOME).content.decode()
    assert not re.search(r"\+08(?!:00)", html)  # only in machine-readable datetime="…"
    assert re.search(r"updated <time[^>]*>\d\d:\d\d:\d\d Asia/Singapore</time>", html)
    # Letters where tzdata has them: the environments' own local times.
    assert re.search(r'<span class="dash-tz">CES?T</span>', html)


def test_a_sign_off_asked_for_moments_ago_waits_under_a_minute(client, rita, alice, bob):
    from tests.builders import advance, planned_release

    advance(planned_release(rita, qa=alice, business_owner=bob), rita, to="testing")
    [item] = waiting_list(client, alice)
    assert item == "CRM 2.0.0 as QA waiting under a minute"
    assert "0 minutes" not in client.get(HOME).content.decode()


def test_a_freeze_of_one_application_says_so_and_holds_only_its_waves(client, vera, week):
    from apps.dashboard.calendar_events import freeze_scope_label
    from apps.environments.models import Environment

    eu = Environment.objects.get(name="prod-eu")
    freeze = FreezeWindow.objects.create(
        scope="environment",
        environment=eu,
        start=hour(-1),
        end=hour(11),
        reason="Payroll incident",
        application_id=week["payroll"].application_id,
    )
    client.force_login(vera)
    html = client.get(HOME).content.decode()
    freezes = re.search(r'<section id="freezes".*?</section>', html, re.S).group(0)
    rows = upcoming_rows(html)

    assert "Payroll only · Environment prod-eu" in freezes
    assert freeze_scope_label(freeze, {freeze.application_id: "Payroll"}) == (
        "Payroll only · Environment prod-eu"
    )
    assert [r for r in rows if "Payroll 3.2.0" in r and "In a freeze" in r]
    assert not [r for r in rows if "CRM 2.0.0" in r and "In a freeze" in r]  # CRM is not frozen

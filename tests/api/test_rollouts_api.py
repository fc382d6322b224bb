"""Rollout endpoints: planning in local time, the dry run, operating waves, deploy tool reports."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.releases.models import Release
from apps.rollouts.delivery import report_token
from apps.rollouts.models import DeployCall, Wave
from apps.rollouts.transitions import wave_transition
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory

from .conftest import token_header

pytestmark = pytest.mark.django_db


def send(client, method, url, body, user):
    return getattr(client, method)(
        url, data=body, content_type="application/json", **token_header(user)
    )


def test_release_manager_plans_three_time_zones_and_the_dry_run_warns_of_a_freeze(
    client, rita, alice, bob, oscar
):
    release = planned_release(rita, qa=alice, business_owner=bob)
    # A planned window that holds every wave, so only the freeze gives a warning.
    Release.objects.filter(pk=release.pk).update(planned_end=timezone.now() + timedelta(days=30))
    envs = [
        EnvironmentFactory(name="prod-eu", region="eu", time_zone="Europe/Berlin"),
        EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York"),
        EnvironmentFactory(name="prod-apac", region="apac", time_zone="Asia/Singapore"),
    ]
    applied = send(
        client,
        "post",
        f"/api/v1/releases/{release.pk}/rollout-plan/apply-strategy/",
        {"strategy": "rolling", "environments": [e.pk for e in envs]},
        rita,
    )
    assert applied.status_code == 200, applied.json()
    waves = applied.json()
    assert [w["environment"]["name"] for w in waves] == ["prod-eu", "prod-us", "prod-apac"]

    day = (timezone.now() + timedelta(days=10)).date()
    for wave, hour in zip(waves, (9, 9, 9), strict=True):
        patched = send(
            client,
            "patch",
            f"/api/v1/waves/{wave['id']}/",
            {"planned_start_local": f"{day.isoformat()}T{hour:02d}:00", "bake_minutes": 60},
            rita,
        )
        assert patched.status_code == 200, patched.json()
    starts = dict(
        Wave.objects.filter(plan__release=release).values_list("environment__name", "planned_start")
    )
    # The same 09:00 wall-clock time is three different moments.
    assert len(set(starts.values())) == 3
    assert starts["prod-apac"] < starts["prod-eu"] < starts["prod-us"]

    freeze = send(
        client,
        "post",
        "/api/v1/freeze-windows/",
        {
            "scope": "region",
            "region": "us",
            "start": (starts["prod-us"] - timedelta(hours=1)).isoformat(),
            "end": (starts["prod-us"] + timedelta(days=1)).isoformat(),
            "reason": "US quarter close",
        },
        rita,
    )
    assert freeze.status_code == 201, freeze.json()

    dry = client.get(
        f"/api/v1/releases/{release.pk}/rollout-plan/dry-run/", **token_header(rita)
    ).json()
    by_env = {line["environment"]: line for line in dry}
    assert by_env["prod-eu"]["warnings"] == []
    assert len(by_env["prod-us"]["warnings"]) == 1
    assert "prod-us: freeze until" in by_env["prod-us"]["warnings"][0]
    assert "America/New_York (US quarter close)" in by_env["prod-us"]["warnings"][0]

    # Before saving: the same question about waves that do not exist yet.
    proposal = send(
        client,
        "post",
        f"/api/v1/releases/{release.pk}/rollout-plan/dry-run/",
        {
            "waves": [
                {
                    "environment": envs[1].pk,
                    "planned_start_local": f"{day.isoformat()}T09:00",
                    "bake_minutes": 30,
                }
            ]
        },
        rita,
    )
    assert proposal.status_code == 200
    assert "freeze until" in proposal.json()[0]["warnings"][0]
    assert Wave.objects.filter(plan__release=release).count() == 3  # nothing saved


def test_a_local_time_with_an_offset_is_refused_naming_the_field(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    wave = Wave.objects.get(plan__release=release)
    answer = send(
        client,
        "patch",
        f"/api/v1/waves/{wave.pk}/",
        {"planned_start_local": "2030-01-01T09:00+02:00"},
        rita,
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "planned_start_local"


def test_a_bad_field_in_a_later_proposed_wave_is_named(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    env = EnvironmentFactory(name="prod-eu", time_zone="Europe/Berlin")
    good = {"environment": env.pk, "planned_start_local": "2030-01-01T09:00", "bake_minutes": 30}
    bad = {**good, "planned_start_local": "2030-01-01T09:00+02:00"}
    answer = send(
        client,
        "post",
        f"/api/v1/releases/{release.pk}/rollout-plan/dry-run/",
        {"waves": [good, bad]},
        rita,
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "waves.1.planned_start_local"
    assert "offset" in answer.json()["detail"]


def test_wave_create_and_edit_take_both_utc_and_local_planned_starts(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    berlin = EnvironmentFactory(name="prod-eu", time_zone="Europe/Berlin")
    waves = f"/api/v1/releases/{release.pk}/waves/"

    local = send(
        client,
        "post",
        waves,
        {"name": "eu", "environment": berlin.pk, "planned_start_local": "2030-01-07T09:00"},
        rita,
    )
    utc = send(
        client,
        "post",
        waves,
        {"name": "eu 2", "environment": berlin.pk, "planned_start": "2030-01-07T08:00:00Z"},
        rita,
    )
    assert (local.status_code, utc.status_code) == (201, 201), local.json()
    assert local.json()["planned_start"] == utc.json()["planned_start"] == "2030-01-07T08:00:00Z"

    wave_url = f"/api/v1/waves/{local.json()['id']}/"
    moved = send(client, "patch", wave_url, {"planned_start": "2030-01-08T10:00:00+01:00"}, rita)
    assert moved.status_code == 200
    assert moved.json()["planned_start"] == "2030-01-08T09:00:00Z"
    moved = send(client, "patch", wave_url, {"planned_start_local": "2030-01-09T09:00"}, rita)
    assert moved.json()["planned_start"] == "2030-01-09T08:00:00Z"
    cleared = send(client, "patch", wave_url, {"planned_start": None}, rita)
    assert cleared.json()["planned_start"] is None


@pytest.mark.parametrize("method", ["post", "patch"])
def test_both_planned_starts_at_once_are_refused(client, rita, alice, bob, method):
    release = planned_release(rita, qa=alice, business_owner=bob)
    wave = Wave.objects.get(plan__release=release)
    url = {"post": f"/api/v1/releases/{release.pk}/waves/", "patch": f"/api/v1/waves/{wave.pk}/"}
    body = {
        "name": "both",
        "environment": wave.environment_id,
        "planned_start": "2030-01-07T08:00:00Z",
        "planned_start_local": "2030-01-07T09:00",
    }

    answer = send(client, method, url[method], body, rita)

    assert answer.status_code == 400
    assert answer.json()["field"] == "planned_start"
    assert "not both" in answer.json()["detail"]


def _rolling(rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    wave_transition(wave_id=wave.pk, to="deploying", actor=None)
    return release, wave


def test_operator_pauses_and_resumes_a_wave_through_the_api(client, rita, alice, bob, oscar):
    _, wave = _rolling(rita, alice, bob)
    paused = send(
        client, "post", f"/api/v1/waves/{wave.pk}/pause/", {"reason": "Error rate"}, oscar
    )
    assert paused.status_code == 200
    assert paused.json()["state"] == "halted"
    assert "Paused by oscar: Error rate" in paused.json()["state_reason"]
    resumed = send(client, "post", f"/api/v1/waves/{wave.pk}/resume/", {}, oscar)
    assert resumed.json()["state"] == "deploying"
    refused = send(client, "post", f"/api/v1/waves/{wave.pk}/abort/", {}, oscar)
    assert refused.status_code == 400 and refused.json()["field"] == "reason"


def test_starting_a_wave_during_a_freeze_is_refused_with_blockers(client, rita, alice, bob, oscar):
    release = planned_release(rita, qa=alice, business_owner=bob)
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    wave = Wave.objects.get(plan__release=release)
    now = timezone.now()
    send(
        client,
        "post",
        "/api/v1/freeze-windows/",
        {
            "scope": "global",
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=5)).isoformat(),
            "reason": "Incident review",
        },
        rita,
    )
    answer = send(client, "post", f"/api/v1/waves/{wave.pk}/start/", {}, oscar)
    assert answer.status_code == 409
    assert answer.json()["blockers"][0]["code"] == "wave_blocked"
    assert "Incident review" in answer.json()["blockers"][0]["message"]


def test_deploy_tool_reports_are_idempotent_and_contradictions_refused(
    client, rita, alice, bob, oscar
):
    _, wave = _rolling(rita, alice, bob)
    Wave.objects.filter(pk=wave.pk).update(deploy_round=1)
    call = DeployCall.objects.create(
        wave=wave, action="deploy", round=1, key="3f1d0b8e-5d6c-4c0a-9d6e-4f3b2a1c0d9e"
    )
    url = f"/api/v1/waves/{wave.pk}/report/?token={report_token(call)}"
    body = {"status": "succeeded", "key": str(call.key), "message": "rolled to 10 pods"}

    def report(data):
        return client.post(url, data=data, content_type="application/json")

    first = report(body)
    again = report(body)
    contradiction = report({**body, "status": "failed"})
    assert first.status_code == again.status_code == 200
    assert first.json()["state"] == "succeeded"
    assert contradiction.status_code == 409
    # The token is this call's: with another key it authenticates nothing.
    unknown = report({**body, "key": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 401
    # A person's token is not a deploy tool's credential.
    bare = f"/api/v1/waves/{wave.pk}/report/"
    assert send(client, "post", bare, body, oscar).status_code == 401

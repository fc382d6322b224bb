"""The dry run, the scheduler and the release page against the release's planned window and the
clock changes: what a release manager and an API client are told."""

import re
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.environments import services as env_services
from apps.releases import services as rs
from apps.releases.models import Release
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
YEAR = timezone.now().year + 1


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


@pytest.fixture
def release(rita, alice, bob) -> Release:
    """CRM 2.0.0 in planning, planned for 1–3 January, waves on prod-eu then prod-us."""
    release = planned_release(rita, qa=alice, business_owner=bob)
    rs.release_update(
        release_id=release.pk,
        planned_start=utc(YEAR, 1, 1, 8),
        planned_end=utc(YEAR, 1, 3, 18),
        actor=rita,
    )
    us = EnvironmentFactory(name="prod-us", region="us", time_zone="America/New_York")
    ro.wave_add(release_id=release.pk, name="prod-us 100%", environment_id=us.pk, actor=rita)
    release.refresh_from_db()
    return release


def waves(release: Release) -> list[Wave]:
    return list(Wave.objects.filter(plan__release=release).order_by("position"))


def dry_run(client, release: Release) -> list[dict]:
    response = client.get(f"/api/v1/releases/{release.pk}/rollout-plan/dry-run/")
    assert response.status_code == 200
    return response.json()


# ---- A local time in the spring-forward gap is refused; one that happens twice is named ----

GAP = f"{YEAR}-03-{31 - (datetime(YEAR, 3, 31).weekday() + 1) % 7:02d}T02:30"  # last Sunday


def gap_message() -> str:
    day = datetime.fromisoformat(GAP)
    return (
        f"02:30 on {day.day} March {YEAR} does not exist in Europe/Berlin (clocks go forward "
        "from 02:00 to 03:00). Choose a time outside that gap."
    )


def test_the_api_refuses_a_planned_start_in_the_gap(client, release, rita):
    eu = waves(release)[0]
    client.force_login(rita)
    response = client.patch(
        f"/api/v1/waves/{eu.pk}/", {"planned_start_local": GAP}, "application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == gap_message()
    assert response.json()["field"] == "planned_start_local"
    eu.refresh_from_db()
    assert eu.planned_start is None

    proposal = client.post(
        f"/api/v1/releases/{release.pk}/rollout-plan/dry-run/",
        {"waves": [{"environment": eu.environment_id, "planned_start_local": GAP}]},
        "application/json",
    )
    assert proposal.status_code == 400
    assert proposal.json()["detail"] == gap_message()


def test_the_scheduler_refuses_a_planned_start_in_the_gap(client, release, rita):
    eu, us = waves(release)
    client.force_login(rita)
    form = {
        f"w{eu.pk}-planned_start_local": GAP,
        f"w{eu.pk}-percentage": "100",
        f"w{eu.pk}-bake_minutes": "30",
        f"w{eu.pk}-failure_policy": eu.failure_policy,
        f"w{eu.pk}-deployer": eu.deployer,
    }
    response = client.post(f"/releases/{release.pk}/plan/save/", form, **HTMX)
    assert response.status_code == 400
    assert gap_message() in response.content.decode()
    eu.refresh_from_db()
    assert eu.planned_start is None


def test_a_planned_start_that_happens_twice_means_the_first_and_the_dry_run_says_so(
    client, release, rita
):
    eu = waves(release)[0]
    rs.release_update(
        release_id=release.pk,
        planned_start=utc(YEAR, 10, 20),
        planned_end=utc(YEAR, 10, 30),
        actor=rita,
    )
    last_sunday = 31 - (datetime(YEAR, 10, 31).weekday() + 1) % 7
    moved = ro.wave_update(
        wave_id=eu.pk, planned_start_local=datetime(YEAR, 10, last_sunday, 2, 30), actor=rita
    )
    assert moved.planned_start == utc(YEAR, 10, last_sunday, 0, 30)  # CEST, the first
    client.force_login(rita)
    line = dry_run(client, release)[0]
    assert (
        f"prod-eu 100%: the planned start 02:30 on {last_sunday} October {YEAR} happens twice "
        "in Europe/Berlin (clocks go back); this is the first, 02:30 CEST (UTC+02:00)"
    ) in line["warnings"]


# ---- The planned window ----


def test_before_rollout_waves_start_when_the_planned_window_opens_not_now(client, release, rita):
    client.force_login(rita)
    eu, us = dry_run(client, release)
    assert eu["earliest_start"] == f"{YEAR}-01-01T08:00:00Z"
    assert eu["warnings"] == []
    assert us["earliest_start"] == f"{YEAR}-01-01T08:30:00Z"  # after the 30-minute bake

    html = client.get(f"/releases/{release.pk}/plan/").content.decode()
    page = text(html)
    assert "Every wave can start at its planned time" not in page
    assert (
        "No wave has a planned start: the first starts when the planned window opens, each "
        "other one once the wave before it has baked."
    ) in page
    flags = re.findall(r'class="flag flag-ok">([^<]+)<', html)
    assert flags == ["Starts when the planned window opens", "Starts after the previous wave"]
    assert "no wave starts before it opens" in page


def test_a_rollout_ahead_of_its_planned_window_is_flagged(client, rita, alice, bob):
    release = planned_release(rita, qa=alice, business_owner=bob)  # window in 3 days
    release = advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    client.force_login(rita)
    (line,) = dry_run(client, release)
    assert any("before the release's planned window opens" in w for w in line["warnings"])

    page = text(client.get(f"/releases/{release.pk}/").content.decode())
    assert "The planned window" in page
    assert "2 days before its planned window opens" in page


def test_a_freeze_overlapping_the_planned_window_is_flagged(client, release, rita, oscar):
    env_services.freeze_create(
        scope="global",
        start=utc(YEAR, 1, 2, 0),
        end=utc(YEAR, 1, 2, 12),
        reason="Inventory",
        actor=rita,
    )
    client.force_login(rita)
    eu, us = dry_run(client, release)
    day = datetime(YEAR, 1, 2).strftime("%a")
    overlap = (
        f"prod-eu: freeze {day} 02 Jan 01:00 Europe/Berlin – {day} 02 Jan 13:00 Europe/Berlin "
        "(Inventory) overlaps the release's planned window"
    )
    assert overlap in eu["warnings"]
    assert not any("overlaps" in w for w in us["warnings"])  # named once

    page = text(client.get(f"/releases/{release.pk}/").content.decode())
    assert overlap in page
    scheduler = text(client.get(f"/releases/{release.pk}/plan/").content.decode())
    assert overlap in scheduler and "Planned window" in scheduler


def test_a_wave_planned_after_the_window_closes_is_flagged_on_the_release_page(
    client, release, rita
):
    eu = waves(release)[0]
    ro.wave_update(wave_id=eu.pk, planned_start_local=datetime(YEAR, 1, 5, 9), actor=rita)
    client.force_login(rita)
    page = text(client.get(f"/releases/{release.pk}/").content.decode())
    assert "prod-eu 100%: starts" in page and "after the release's planned window closes" in page


def test_a_release_without_conflicts_shows_no_window_notes(client, release, rita):
    client.force_login(rita)
    html = client.get(f"/releases/{release.pk}/").content.decode()
    assert 'data-testid="window-notes"' not in html

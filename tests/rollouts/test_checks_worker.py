"""Checks run at their own interval, not at the tick's: a real worker, beat's tick every 5 s."""

import time

import pytest

from apps.rollouts import services as ro
from apps.rollouts.models import CheckResult, Wave
from apps.rollouts.runner import rollouts_tick
from tests.builders import advance, planned_release
from tests.loopback import loopback_server

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TICK = 5.0  # the production default of RELEASEDECK_TICK_SECONDS


def test_a_check_every_2_seconds_runs_every_2_seconds_between_slow_ticks(
    celery_worker, rita, alice, bob, settings
):
    settings.RELEASEDECK_TICK_SECONDS = TICK
    with loopback_server(lambda *a: (200, {"version": "2.0.0"})) as (url, health):
        release = planned_release(rita, qa=alice, business_owner=bob)
        (wave,) = Wave.objects.filter(plan__release=release)
        ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=1)
        check = ro.check_add(
            wave_id=wave.pk,
            name="health",
            kind="http",
            actor=rita,
            config={"url": f"{url}/health", "expect_status": 200},
            interval_seconds=2,
        )
        advance(release, rita, qa=alice, business_owner=bob, to="rollout")
        started = time.monotonic()
        while time.monotonic() - started < 13:
            rollouts_tick()
            time.sleep(TICK)
    runs = list(
        CheckResult.objects.filter(wave_check=check).order_by("at").values_list("at", flat=True)
    )
    gaps = [(b - a).total_seconds() for a, b in zip(runs, runs[1:], strict=False)]
    assert len(runs) >= 5, gaps
    assert all(1.0 <= gap <= 3.0 for gap in gaps), gaps  # its interval, within a second

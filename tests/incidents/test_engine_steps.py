"""The engine's side of a halting freeze, step by step: the tick finds the running waves it
covers even when nobody told the engine, and their next step halts them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import Conflict
from apps.environments.models import FreezeWindow
from apps.rollouts import queue
from apps.rollouts import services as ro
from apps.rollouts.models import Wave
from apps.rollouts.operations import WaveAction, wave_operate
from apps.rollouts.runner import rollouts_tick, wave_step
from apps.rollouts.transitions import wave_transition
from tests.builders import advance, planned_release
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db


def verifying(rita, alice, bob, env, version: str) -> Wave:
    release = planned_release(rita, qa=alice, business_owner=bob, version=version)
    (wave,) = ro.plan_apply_strategy(
        release_id=release.pk, strategy="big_bang", environment_ids=[env.pk], actor=rita
    )
    ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=30, deployer="simulated")
    advance(release, rita, qa=alice, business_owner=bob, to="rollout")
    for to in ("deploying", "verifying"):
        wave_transition(wave_id=wave.pk, to=to, actor=None)
    wave = Wave.objects.get(pk=wave.pk)
    queue.set_due(wave, timezone.now() + timedelta(minutes=30))
    return wave


def test_tick_halts_covered_running_waves_even_unannounced(rita, alice, bob, oscar):
    eu = EnvironmentFactory(name="prod-eu", region="eu", tier="production")
    us = EnvironmentFactory(name="prod-us", region="us", tier="production")
    frozen = verifying(rita, alice, bob, eu, "2.0.0")
    other = verifying(rita, alice, bob, us, "2.1.0")
    now = timezone.now()
    # Written past the service, so no hook ran: only the tick can find it.
    FreezeWindow.objects.create(
        scope="region",
        region="eu",
        start=now - timedelta(seconds=1),
        end=now + timedelta(hours=1),
        reason="Generic incident INC-1: CRM down",
        halts_running=True,
    )

    counts = rollouts_tick(now=now)

    assert counts["waves"] == 1
    assert Wave.objects.get(pk=frozen.pk).next_step_at == now
    assert Wave.objects.get(pk=other.pk).next_step_at > now
    assert wave_step(wave_id=frozen.pk) == "halted"
    halted = Wave.objects.get(pk=frozen.pk)
    assert halted.state == "halted" and "INC-1" in halted.state_reason
    assert Wave.objects.get(pk=other.pk).state == "verifying"
    # Resuming is refused while the freeze still covers it.
    with pytest.raises(Conflict) as refused:
        wave_operate(wave_id=frozen.pk, action=WaveAction.RESUME, actor=oscar)
    assert refused.value.blockers[0].code == "incident_freeze"


def test_a_freeze_that_does_not_halt_leaves_running_waves_alone(rita, alice, bob):
    eu = EnvironmentFactory(name="prod-eu", region="eu", tier="production")
    wave = verifying(rita, alice, bob, eu, "2.0.0")
    now = timezone.now()
    FreezeWindow.objects.create(
        scope="global",
        start=now - timedelta(seconds=1),
        end=now + timedelta(hours=1),
        reason="Quarter end",
    )

    assert rollouts_tick(now=now)["waves"] == 0
    assert Wave.objects.get(pk=wave.pk).next_step_at > now

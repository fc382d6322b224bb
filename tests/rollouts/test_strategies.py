"""The waves each strategy proposes, and what shadow waves may and may not stand for."""

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, NotAllowed, ServiceError
from apps.releases.models import Release
from apps.releases.selectors import release_facts
from apps.releases.services import release_move, releases_tick
from apps.rollouts import services as ro
from apps.rollouts.models import RolloutPlan, Wave
from apps.rollouts.strategies import BLUE_GREEN_ROLLBACK_WINDOW_MINUTES, WaveSpec, default_waves
from tests.factories import EnvironmentFactory, ReleaseFactory
from tests.rollouts.test_engine_steps import run_engine, waves_of
from tests.rollouts.test_services import (
    answered_without_writing,
    api_refused,
    refused_without_writing,
)

REGIONS = ["prod-eu", "prod-us", "prod-apac"]


# Pure defaults


def test_canary_takes_the_first_environment_in_steps_then_the_rest_at_full_share():
    waves = default_waves("canary", REGIONS)
    assert [(w.environment, w.percentage) for w in waves] == [
        ("prod-eu", 1),
        ("prod-eu", 10),
        ("prod-eu", 50),
        ("prod-eu", 100),
        ("prod-us", 100),
        ("prod-apac", 100),
    ]
    assert [w.bake_minutes for w in waves] == [30, 30, 30, 60, 60, 60]
    assert not any(w.shadow for w in waves)
    assert len({w.name for w in waves}) == len(waves)


def test_blue_green_deploys_the_idle_colour_then_switches_and_keeps_a_rollback_window():
    waves = default_waves("blue_green", ["prod-eu", "prod-us"])
    assert waves == [
        WaveSpec("prod-eu deploy idle colour", "prod-eu", 0, 15),
        WaveSpec(
            "prod-eu switch to new colour", "prod-eu", 100, BLUE_GREEN_ROLLBACK_WINDOW_MINUTES
        ),
        WaveSpec("prod-us deploy idle colour", "prod-us", 0, 15),
        WaveSpec(
            "prod-us switch to new colour", "prod-us", 100, BLUE_GREEN_ROLLBACK_WINDOW_MINUTES
        ),
    ]
    assert BLUE_GREEN_ROLLBACK_WINDOW_MINUTES > 0


def test_rolling_goes_environment_by_environment():
    assert default_waves("rolling", REGIONS) == [
        WaveSpec(f"{env} 100%", env, 100, 30) for env in REGIONS
    ]


def test_big_bang_is_one_wave():
    assert default_waves("big_bang", ["prod-eu"]) == [WaveSpec("prod-eu 100%", "prod-eu", 100, 60)]
    with pytest.raises(ServiceError) as error:
        default_waves("big_bang", REGIONS)
    assert error.value.field == "environments"


def test_shadow_waves_are_flagged_shadow():
    waves = default_waves("shadow", REGIONS)
    assert [(w.environment, w.shadow) for w in waves] == [(env, True) for env in REGIONS]


@pytest.mark.parametrize(
    ("strategy", "environments", "field"),
    [
        ("canary", [], "environments"),
        ("rolling", ["prod-eu", "prod-eu"], "environments"),
        ("trickle", ["prod-eu"], "strategy"),
    ],
)
def test_defaults_refuse_what_makes_no_plan(strategy, environments, field):
    with pytest.raises(ServiceError) as error:
        default_waves(strategy, environments)
    assert error.value.field == field


# Applied to a release through the service


@pytest.fixture
def regions(db):
    return [
        EnvironmentFactory(name=name, region=name.split("-")[1], time_zone=zone)
        for name, zone in zip(
            REGIONS, ["Europe/Berlin", "America/New_York", "Asia/Singapore"], strict=True
        )
    ]


@pytest.fixture
def release(rita):
    return ReleaseFactory(owner=rita)


def apply(release, strategy: str, environments, actor) -> list[Wave]:
    return ro.plan_apply_strategy(
        release_id=release.pk,
        strategy=strategy,
        environment_ids=[e.pk for e in environments],
        actor=actor,
    )


@pytest.mark.parametrize("strategy", ["canary", "blue_green", "rolling", "shadow"])
def test_applied_strategy_stores_its_default_waves_in_order(release, rita, regions, strategy):
    apply(release, strategy, regions, rita)
    stored = [
        WaveSpec(w.name, w.environment.name, w.percentage, w.bake_minutes, w.shadow)
        for w in Wave.objects.filter(plan__release=release).order_by("position")
    ]
    assert stored == default_waves(strategy, REGIONS)
    assert RolloutPlan.objects.get(release=release).strategy == strategy
    event = AuditEvent.objects.filter(verb="plan.defaults_applied").latest("id")
    assert event.after == {"strategy": strategy, "waves": [w.name for w in stored]}


def test_applying_another_strategy_replaces_the_waves(release, rita, regions):
    apply(release, "canary", regions, rita)
    apply(release, "big_bang", regions[:1], rita)
    assert list(
        Wave.objects.filter(plan__release=release).values_list("name", "position", "percentage")
    ) == [("prod-eu 100%", 1, 100)]


@pytest.mark.parametrize(
    ("environment_ids", "field"), [([], "environments"), ([987654], "environments")]
)
def test_apply_strategy_refuses_bad_environments(release, rita, environment_ids, field):
    error = refused_without_writing(
        lambda: ro.plan_apply_strategy(
            release_id=release.pk, strategy="canary", environment_ids=environment_ids, actor=rita
        )
    )
    assert error.field == field


@pytest.mark.parametrize("environments", [[], "prod-eu", [987654]])
def test_apply_strategy_entry_points_refuse_bad_environments(client, release, rita, environments):
    client.force_login(rita)
    api_refused(
        client,
        "post",
        f"/api/v1/releases/{release.pk}/rollout-plan/apply-strategy/",
        {"strategy": "canary", "environments": environments},
        "environments",
    )
    posted = [environments] if isinstance(environments, str) else [str(e) for e in environments]
    answer = answered_without_writing(
        lambda: client.post(
            f"/releases/{release.pk}/plan/strategy/",
            {"strategy": "canary", "environments": posted},
            HTTP_HX_REQUEST="true",
        )
    )
    assert answer.status_code == 400


def test_only_release_managers_apply_a_strategy(release, oscar, regions):
    refused_without_writing(lambda: apply(release, "canary", regions, oscar), NotAllowed)


def test_defaults_are_not_applied_over_waves_that_moved(release, rita, regions):
    waves = apply(release, "rolling", regions, rita)
    Wave.objects.filter(pk=waves[0].pk).update(state="skipped", skip_reason="Not needed")
    refused_without_writing(lambda: apply(release, "canary", regions, rita), Conflict)


# Shadow waves are never user exposure


def rolling_out_with(release: Release) -> Release:
    Release.objects.filter(pk=release.pk).update(phase="rollout")
    release.refresh_from_db()
    return release


def test_release_facts_tell_shadow_waves_apart(release, rita, regions):
    apply(release, "shadow", regions[:1], rita)
    ro.wave_add(release_id=release.pk, name="eu real", environment_id=regions[0].pk, actor=rita)
    assert [(w.name, w.shadow) for w in release_facts(release).waves] == [
        ("prod-eu shadow", True),
        ("eu real", False),
    ]


def test_a_shadow_only_rollout_cannot_complete(release, rita, regions):
    for wave in apply(release, "shadow", regions[:2], rita):
        ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=0)
    rolling_out_with(release)
    run_engine(release, timezone.now())
    assert [w.state for w in waves_of(release)] == ["succeeded", "succeeded"]

    with pytest.raises(Conflict) as refused:
        release_move(release_id=release.pk, to="support", actor=rita)
    assert [b.code for b in refused.value.blockers] == ["shadow_only"]
    releases_tick()
    assert Release.objects.get(pk=release.pk).phase == "rollout"


def test_a_shadow_followed_by_a_real_wave_completes(release, rita, regions):
    for wave in apply(release, "shadow", regions[:1], rita):
        ro.wave_update(wave_id=wave.pk, actor=rita, bake_minutes=0)
    ro.wave_add(
        release_id=release.pk,
        name="prod-eu 100%",
        environment_id=regions[0].pk,
        bake_minutes=0,
        actor=rita,
    )
    rolling_out_with(release)
    run_engine(release, timezone.now())
    assert [(w.shadow, w.state) for w in waves_of(release)] == [
        (True, "succeeded"),
        (False, "succeeded"),
    ]
    assert release_move(release_id=release.pk, to="support", actor=rita).phase == "support"

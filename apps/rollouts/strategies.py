"""Default waves each strategy proposes for a list of environments. Pure; editable afterwards."""

from dataclasses import dataclass

from apps.core.errors import ServiceError


@dataclass(frozen=True)
class WaveSpec:
    name: str
    environment: str
    percentage: int
    bake_minutes: int
    shadow: bool = False


CANARY_STEPS = (1, 10, 50, 100)
# Blue/green keeps the old colour this long after the switch so a rollback is instant.
BLUE_GREEN_ROLLBACK_WINDOW_MINUTES = 60


def default_waves(strategy: str, environments: list[str]) -> list[WaveSpec]:
    if not environments:
        raise ServiceError("Name at least one environment.", field="environments")
    if len(set(environments)) != len(environments):
        raise ServiceError("An environment is named twice.", field="environments")
    first, rest = environments[0], environments[1:]
    if strategy == "canary":
        # The first environment takes the canary steps; the others follow at full share.
        waves = [WaveSpec(f"{first} {p}%", first, p, 30 if p < 100 else 60) for p in CANARY_STEPS]
        waves += [WaveSpec(f"{env} 100%", env, 100, 60) for env in rest]
        return waves
    if strategy == "blue_green":
        waves = []
        for env in environments:
            waves.append(WaveSpec(f"{env} deploy idle colour", env, 0, 15))
            waves.append(
                WaveSpec(
                    f"{env} switch to new colour", env, 100, BLUE_GREEN_ROLLBACK_WINDOW_MINUTES
                )
            )
        return waves
    if strategy == "rolling":
        return [WaveSpec(f"{env} 100%", env, 100, 30) for env in environments]
    if strategy == "big_bang":
        if rest:
            raise ServiceError(
                "A big-bang rollout is one wave: name one environment.", field="environments"
            )
        return [WaveSpec(f"{first} 100%", first, 100, 60)]
    if strategy == "shadow":
        # Mirrors traffic only; the plan needs real waves after these before it can complete.
        return [WaveSpec(f"{env} shadow", env, 100, 60, shadow=True) for env in environments]
    raise ServiceError(f"Unknown strategy {strategy!r}.", field="strategy")

"""What notifications are told of objects of the apps above this one."""

from typing import Protocol

from apps.environments.models import Environment


class WaveFacts(Protocol):
    """What a notification says of a wave: the rollout engine's Wave, described here since
    that app sits above this one."""

    @property
    def pk(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def environment(self) -> Environment: ...

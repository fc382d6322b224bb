"""How the rollout engine hears of changes in the apps below it (connected in `apps.py`)."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from apps.environments.models import StopTheLine

from . import gates, queue
from .operations import follow_stop_the_line


def calendar_changed(**_: Any) -> None:
    queue.wake_waiting()
    # A freeze that halts running waves: those it covers halt at their next step, taken now.
    now = timezone.now()
    queue.due_now(gates.frozen_running(now), now)


def stop_the_line_changed(*, switch: StopTheLine, actor: User, now: datetime, **_: Any) -> None:
    follow_stop_the_line(switch=switch, actor=actor, now=now)

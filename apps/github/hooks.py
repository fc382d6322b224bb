"""What makes an undecided request worth a look before the next sweep: its release moved, or
one of its waves changed state (started, failed, was skipped). Connected in `apps.py`; only
when the integration is set up, so nothing is sent for installations that do not use it."""

from typing import Any

from django.conf import settings
from django.db import transaction

from apps.releases.models import Release
from apps.rollouts.models import Wave

from . import tasks


def _enabled() -> bool:
    return bool(settings.RELEASEDECK_GITHUB_WEBHOOK_SECRET)


def release_moved(*, release: Release, **_: Any) -> None:
    if _enabled():
        release_id = release.pk
        transaction.on_commit(lambda: tasks.reevaluate.delay(release_id=release_id))


def wave_saved(*, instance: Wave, update_fields: Any = None, **_: Any) -> None:
    if not _enabled() or (update_fields is not None and "state" not in update_fields):
        return
    plan_id = instance.plan_id
    transaction.on_commit(lambda: tasks.reevaluate.delay(plan_id=plan_id))

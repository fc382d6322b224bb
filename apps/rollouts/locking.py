"""Locking a wave for a write: its release row first, then the wave, the order every writer
of a release and its waves follows, so that two writers never deadlock."""

from typing import TYPE_CHECKING, TypeAlias, TypedDict

from django.db.models import Exists, OuterRef, QuerySet

from apps.releases.models import Release

from .models import Wave
from .rules import DONE_STATES

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Behind(TypedDict):
    behind: bool


# A wave from `waves_locked`: locked, and annotated with `behind`.
LockedWave: TypeAlias = "WithAnnotations[Wave, _Behind]"


def waves_locked() -> QuerySet[LockedWave]:
    """Waves to lock, each annotated `behind`: whether an earlier wave of its plan is
    unfinished."""
    earlier = Wave.objects.filter(
        plan_id=OuterRef("plan_id"), position__lt=OuterRef("position")
    ).exclude(state__in=DONE_STATES)
    return (
        Wave.objects.select_for_update(of=("self",))
        .select_related("environment", "plan")
        .annotate(behind=Exists(earlier))
    )


def lock(wave_id: int, release: Release | None = None) -> "tuple[Release, LockedWave] | None":
    """Lock the wave's release, then the wave: the order every writer follows. `release` is
    its release when this transaction holds it locked already."""
    if release is None:
        release_id = (
            Wave.objects.filter(pk=wave_id).values_list("plan__release_id", flat=True).first()
        )
        if release_id is None:
            return None
        release = Release.objects.select_for_update().get(pk=release_id)
    wave = waves_locked().filter(pk=wave_id).first()
    if wave is None:
        return None
    if wave.plan.release_id != release.pk:
        return lock(wave_id)
    return release, wave


def is_current(wave: Wave) -> bool:
    """Waves run one after another: every earlier wave has succeeded or was skipped."""
    return not (
        Wave.objects.filter(plan_id=wave.plan_id, position__lt=wave.position)
        .exclude(state__in=DONE_STATES)
        .exists()
    )

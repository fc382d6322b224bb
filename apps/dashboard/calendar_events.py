"""Reads behind the calendar page and the calendar feed: what happens when, as a person may
see it, in three queries whatever the range (a fourth names the applications of freezes
that cover one application only)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from apps.accounts.permissions import Action, can
from apps.environments.models import FreezeWindow
from apps.releases import rules
from apps.releases.models import Application, Release
from apps.releases.selectors import releases_visible_to
from apps.rollouts.models import Wave


@dataclass
class CalendarEvent:
    kind: str  # release | wave | freeze
    key: str  # stable per object: the feed's UID and the page's element id
    start: datetime
    end: datetime
    title: str
    detail: str
    css: str
    release_id: int | None = None
    point: bool = False  # placed on the day it starts only (a wave), not spread over days
    local_tz: str = ""  # the environment's zone, for a wave
    cancelled: bool = False
    updated_at: datetime | None = None
    sequence: int | None = None


def _release_title(release: Release) -> str:
    return f"{release.application.name} {release.version}"


def calendar_events(user: Any, start: datetime, end: datetime) -> list[CalendarEvent]:
    """Releases (planned window), waves (planned or actual start) and freezes that touch
    [start, end), as `user` may see them. Three queries."""
    if not can(user, Action.VIEW):
        return []
    events: list[CalendarEvent] = []
    releases: QuerySet[Release] = releases_visible_to(user).filter(
        planned_start__isnull=False, planned_start__lt=end
    )
    releases = releases.filter(
        Q(planned_end__gt=start) | Q(planned_end__isnull=True, planned_start__gte=start)
    )
    for release in releases:
        begin = cast(datetime, release.planned_start)  # the filter above: never null here
        finish = release.planned_end or begin + timedelta(hours=1)
        events.append(
            CalendarEvent(
                kind="release",
                key=f"release-{release.pk}",
                start=begin,
                end=finish,
                title=_release_title(release),
                detail=f"{release.get_phase_display()} · planned window",
                css=f"phase-{release.phase}",
                release_id=release.pk,
                cancelled=release.phase == rules.CANCELLED,
                updated_at=release.updated_at,
                sequence=release.revision,
            )
        )
    waves = (
        Wave.objects.annotate(when=Coalesce("started_at", "scheduled_at", "planned_start"))
        .filter(when__gte=start, when__lt=end, plan__release__in=releases_visible_to(user))
        .exclude(plan__release__phase=rules.CANCELLED)
        .select_related("environment", "plan__release__application")
        .order_by("when", "pk")
    )
    for wave in waves:
        release = wave.plan.release
        finish = wave.finished_at or wave.when + timedelta(minutes=max(wave.bake_minutes, 15))
        events.append(
            CalendarEvent(
                kind="wave",
                key=f"wave-{wave.pk}",
                start=wave.when,
                end=max(finish, wave.when + timedelta(minutes=1)),
                title=f"{_release_title(release)} · {wave.name}",
                detail=(
                    f"{wave.environment.name}, {wave.percentage}% · {wave.get_state_display()}"
                ),
                css=f"wave-{wave.state}",
                release_id=release.pk,
                point=True,
                local_tz=wave.environment.time_zone,
                updated_at=wave.updated_at,
            )
        )
    freezes = list(
        FreezeWindow.objects.filter(start__lt=end, end__gt=start)
        .select_related("environment")
        .order_by("start", "pk")
    )
    names = application_names(freezes)
    for freeze in freezes:
        events.append(
            CalendarEvent(
                kind="freeze",
                key=f"freeze-{freeze.pk}",
                start=freeze.start,
                end=freeze.end,
                title=f"Freeze: {freeze.reason}",
                detail=freeze_scope_label(freeze, names),
                css="",
                updated_at=freeze.updated_at,
            )
        )
    return sorted(events, key=lambda e: (e.start, e.kind, e.key))


def application_names(freezes: Iterable[FreezeWindow]) -> dict[int, str]:
    """The names of the applications the freezes name, by id, in one query (none if none)."""
    ids = {f.application_id for f in freezes if f.application_id is not None}
    if not ids:
        return {}
    return dict(Application.objects.filter(pk__in=ids).values_list("pk", "name"))


def freeze_scope_label(freeze: FreezeWindow, names: Mapping[int, str] | None = None) -> str:
    if freeze.scope == "global":
        where = "Everywhere"
    elif freeze.scope == "environment" and freeze.environment is not None:
        where = f"Environment {freeze.environment.name}"
    else:
        where = f"Region {freeze.region}"
    if freeze.application_id is None:
        return where
    name = (names or {}).get(freeze.application_id, f"application #{freeze.application_id}")
    return f"{name} only · {where}"

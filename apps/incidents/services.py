"""Writes of incidents: what a source's webhook tells us, the freeze an incident declares,
and lifting that freeze by its quorum. The freeze itself is written by the environments app;
the rollout engine halts the running waves it covers at their next step."""

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.permissions import Action, can, require
from apps.audit.services import audit_record
from apps.core.errors import Blocker, Conflict, NotAllowed, NotFound, ServiceError
from apps.environments import selectors as env_selectors
from apps.environments import services as env_services
from apps.environments.models import Environment, FreezeScope, FreezeWindow
from apps.notifications.outbox import notify_shared
from apps.releases.models import Application

from . import inbound
from .models import (
    FreezeLiftApproval,
    Incident,
    IncidentRoute,
    IncidentSource,
    IncidentState,
    SourceKind,
)

# An open-ended freeze is kept with an end this far out: it holds until it is lifted.
OPEN_ENDED = timedelta(days=3650)

PARSERS = {
    SourceKind.ALERTMANAGER: inbound.alertmanager_events,
    SourceKind.PAGERDUTY: inbound.pagerduty_events,
    SourceKind.GENERIC: inbound.generic_events,
}


@dataclass(frozen=True)
class Received:
    """What one event of a delivery did: opened, resolved, or nothing new (and why)."""

    external_id: str
    did: str
    incident: Incident | None


# --- sources --------------------------------------------------------------------------------


class RouteSpec(TypedDict, total=False):
    """One route as `incident_route_add` takes it (without source and actor)."""

    match: Mapping[str, str]
    scope: str
    environment_id: int | None
    region: str
    application: str


def incident_source_create(
    *,
    name: str,
    slug: str,
    kind: str,
    actor: User,
    secret: str = "",
    lift_on_resolve: bool = False,
    freeze_hours: int | None = None,
    routes: Sequence[RouteSpec] = (),
) -> tuple[IncidentSource, str]:
    """Add a source of incidents, with `routes` in the order given. Returns it and its
    credential, shown this once: a new bearer token for Alertmanager and generic sources (only
    its SHA-256 is kept), or the PagerDuty signing secret, which must be given (PagerDuty
    shows it when the subscription is made)."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    if kind not in SourceKind.values:
        raise ServiceError(f"kind must be one of {', '.join(SourceKind.values)}.", field="kind")
    token = ""
    if kind == SourceKind.PAGERDUTY:
        if len(secret) < 16:
            raise ServiceError("Give the PagerDuty webhook's signing secret.", field="secret")
    else:
        token, secret = secrets.token_urlsafe(32), ""
    with transaction.atomic():
        if IncidentSource.objects.filter(slug=slug).exists():
            raise ServiceError("Another incident source has that slug.", field="slug")
        source = IncidentSource.objects.create(
            name=name,
            slug=slug,
            kind=kind,
            secret=secret,
            token_sha256=inbound.token_digest(token) if token else "",
            lift_on_resolve=lift_on_resolve,
            freeze_hours=freeze_hours,
        )
        audit_record(
            actor=actor,
            verb="incident_source.created",
            obj=source,
            after={
                "name": name,
                "slug": slug,
                "kind": kind,
                "lift_on_resolve": lift_on_resolve,
                "freeze_hours": freeze_hours,
            },
        )
        for route in routes:
            incident_route_add(source_id=source.pk, actor=actor, **route)
    return source, token or secret


def incident_route_add(
    *,
    source_id: int,
    match: Mapping[str, str],
    scope: str,
    actor: User,
    environment_id: int | None = None,
    region: str = "",
    application: str = "",
) -> IncidentRoute:
    """Say what a source's incidents matching `match` freeze: one environment, a region or
    everything, of every application or only of `application` (its slug). Routes are tried
    in the order they were added."""
    require(actor, Action.MANAGE_ENVIRONMENTS)
    if scope not in FreezeScope.values:
        raise ServiceError(f"scope must be one of {', '.join(FreezeScope.values)}.", field="scope")
    if scope == FreezeScope.ENVIRONMENT and (
        environment_id is None or not Environment.objects.filter(pk=environment_id).exists()
    ):
        raise ServiceError("Name the environment this route freezes.", field="environment")
    if scope == FreezeScope.REGION and not region:
        raise ServiceError("Name the region this route freezes.", field="region")
    app = None
    if application:
        app = Application.objects.filter(slug=application).first()
        if app is None:
            raise ServiceError(f"No application has the slug {application!r}.", field="application")
    with transaction.atomic():
        source = IncidentSource.objects.select_for_update().filter(pk=source_id).first()
        if source is None:
            raise NotFound("No such incident source.", field="source")
        route = IncidentRoute.objects.create(
            source=source,
            position=source.routes.count(),
            match=dict(match),
            scope=scope,
            environment_id=environment_id if scope == FreezeScope.ENVIRONMENT else None,
            region=region if scope == FreezeScope.REGION else "",
            application=app,
        )
        audit_record(
            actor=actor,
            verb="incident_route.added",
            obj=route,
            after={
                "source": source.slug,
                "match": route.match,
                "scope": scope,
                "region": region,
                **({"application": app.slug} if app else {}),
            },
        )
    return route


# --- receiving ------------------------------------------------------------------------------


def incident_receive(*, slug: str, body: bytes, headers: Mapping[str, str]) -> list[Received]:
    """Verify a source's webhook delivery and apply each incident it tells of. Who is asking
    comes first: an unknown source or bad credentials is 401 and nothing is written. A
    repeated or late delivery changes nothing (idempotent on the source's incident id)."""
    source = IncidentSource.objects.filter(slug=slug, active=True).first()
    if source is None or not _authentic(source, body, headers):
        raise inbound.NotAuthenticated("Unknown incident source, or bad credentials.")
    events = PARSERS[SourceKind(source.kind)](inbound.load_json(body))
    return [_apply(source, event) for event in events]


def _authentic(source: IncidentSource, body: bytes, headers: Mapping[str, str]) -> bool:
    if source.kind == SourceKind.PAGERDUTY:
        return inbound.pagerduty_ok(body, headers, source.secret)
    return inbound.bearer_ok(headers, source.token_sha256)


def _locked_incident(source: IncidentSource, external_id: str) -> Incident | None:
    return (
        Incident.objects.select_for_update(of=("self",))
        .select_related("freeze")
        .filter(source=source, external_id=external_id)
        .first()
    )


def _apply(source: IncidentSource, event: inbound.Event) -> Received:
    if event.status == "ignored":
        return Received(event.external_id, "ignored", None)
    now = timezone.now()
    for _ in range(2):  # a concurrent delivery of the same new incident: read its row instead
        try:
            with transaction.atomic():
                incident = _locked_incident(source, event.external_id)
                if event.status == "open":
                    return _open(source, incident, event, now)
                return _resolve(source, incident, event, now)
        except IntegrityError:
            continue
    raise Conflict("The incident changed meanwhile; send it again.")


def _about(incident: Incident) -> dict[str, object]:
    return {
        "incident": {
            "id": incident.pk,
            "source": incident.source.slug,
            "external_id": incident.external_id,
            "state": incident.state,
            "title": incident.title,
            "url": incident.url,
        },
        "freeze": _freeze_about(incident.freeze),
    }


def _freeze_about(freeze: FreezeWindow | None) -> dict[str, object] | None:
    if freeze is None:
        return None
    return {
        "id": freeze.pk,
        "scope": freeze.scope,
        "environment": freeze.environment.name if freeze.environment else None,
        "region": freeze.region,
        "application": _application_slug(freeze),
        "start": freeze.start.isoformat(),
        "end": freeze.end.isoformat(),
        "reason": freeze.reason,
    }


def _application_slug(freeze: FreezeWindow) -> str | None:
    """The slug of the one application a freeze covers; None: every application."""
    if freeze.application_id is None:
        return None
    return (
        Application.objects.filter(pk=freeze.application_id).values_list("slug", flat=True).first()
    )


def _name(incident: Incident) -> str:
    return f"{incident.source.name} incident {incident.external_id}"


def _open(
    source: IncidentSource, incident: Incident | None, event: inbound.Event, now: datetime
) -> Received:
    if incident is not None:
        # Open already, or resolved: the same id never freezes again.
        return Received(event.external_id, f"already {incident.state}", incident)
    incident = Incident.objects.create(
        source=source,
        external_id=event.external_id,
        state=IncidentState.OPEN,
        title=event.title,
        url=event.url,
        labels=event.labels,
        opened_at=now,
    )
    audit_record(
        actor=None,
        verb="incident.opened",
        obj=incident,
        after={"source": source.slug, "external_id": event.external_id, "title": event.title},
        reason=event.url,
    )
    route = next(
        (
            r
            for r in source.routes.order_by("position", "pk")
            if inbound.matches(r.match, event.labels)
        ),
        None,
    )
    text = f"{_name(incident)} opened: {event.title or 'no title'}"
    notify_shared(event="incident.opened", text=text, about=_about(incident))
    if route is None:
        return Received(event.external_id, "opened; no route matched, nothing frozen", incident)
    reason = f"{_name(incident)}: {event.title or 'no title'}"
    if route.application is not None:  # every page that lists the freeze says whose it is
        reason = f"{route.application.name} only: {reason}"
    if event.url:
        reason = f"{reason} ({event.url})"
    end = now + (timedelta(hours=source.freeze_hours) if source.freeze_hours else OPEN_ENDED)
    freeze = env_services.freeze_declare_halting(
        scope=route.scope,
        environment_id=route.environment_id,
        region=route.region,
        application_id=route.application_id,
        start=now,
        end=end,
        reason=reason[:300],
    )
    incident.freeze = freeze
    incident.save(update_fields=["freeze", "updated_at"])
    notify_shared(
        event="freeze.created",
        text=f"Freeze declared for {_name(incident)}; running waves in scope halt",
        about=_about(incident),
    )
    return Received(event.external_id, "opened; freeze declared", incident)


def _resolve(
    source: IncidentSource, incident: Incident | None, event: inbound.Event, now: datetime
) -> Received:
    if incident is None:
        # Heard before its "open": kept as resolved, so the late "open" freezes nothing.
        incident = Incident.objects.create(
            source=source,
            external_id=event.external_id,
            state=IncidentState.RESOLVED,
            title=event.title,
            url=event.url,
            labels=event.labels,
            resolved_at=now,
        )
        audit_record(
            actor=None,
            verb="incident.resolved",
            obj=incident,
            after={"source": source.slug, "external_id": event.external_id, "state": "resolved"},
            reason="Resolved before it was heard to open",
        )
        return Received(event.external_id, "resolved before it opened; nothing frozen", incident)
    if incident.state == IncidentState.RESOLVED:
        return Received(event.external_id, "already resolved", incident)
    incident.state, incident.resolved_at = IncidentState.RESOLVED, now
    incident.save(update_fields=["state", "resolved_at", "updated_at"])
    audit_record(
        actor=None,
        verb="incident.resolved",
        obj=incident,
        before={"state": "open"},
        after={"state": "resolved"},
    )
    notify_shared(
        event="incident.resolved", text=f"{_name(incident)} resolved", about=_about(incident)
    )
    freeze = incident.freeze
    if freeze is None or freeze.end <= now:
        return Received(event.external_id, "resolved", incident)
    if not source.lift_on_resolve:
        return Received(event.external_id, "resolved; the freeze stays until lifted", incident)
    freeze = env_services.freeze_end_now(
        freeze_id=freeze.pk, actor=None, reason=f"{_name(incident)} resolved at its source", now=now
    )
    incident.freeze = freeze
    notify_shared(
        event="freeze.lifted",
        text=f"Freeze of {_name(incident)} lifted: resolved at its source",
        about=_about(incident),
    )
    return Received(event.external_id, "resolved; freeze lifted", incident)


# --- lifting by quorum ----------------------------------------------------------------------


@dataclass(frozen=True)
class LiftState:
    """Where lifting a freeze stands: who approved, how many it needs, whether it lifted."""

    freeze: FreezeWindow
    approvers: tuple[str, ...]
    needed: int
    lifted: bool

    @property
    def message(self) -> str:
        if self.lifted:
            return "The freeze is lifted."
        more = self.needed - len(self.approvers)
        return (
            f"{len(self.approvers)} of {self.needed} approvals to lift this freeze; it stays in "
            f"force until {more} more {'person approves' if more == 1 else 'people approve'}."
        )


def may_approve_lift(user: User, freeze: FreezeWindow) -> bool:
    """The platform role, or an organisation-wide operator whose grant covers every tier the
    freeze covers (an incident freeze, like stop the line, holds every team's waves)."""
    if can(user, Action.MANAGE_ENVIRONMENTS):
        return True
    if not can(user, Action.STOP_THE_LINE):
        return False
    tiers = {e.tier for e in env_selectors.environments_covered(freeze)}
    return all(can(user, Action.OPERATE_WAVES, tier=tier) for tier in tiers)


def _lift_state(freeze: FreezeWindow, now: datetime) -> LiftState:
    approvers = tuple(
        FreezeLiftApproval.objects.filter(freeze=freeze)
        .order_by("created_at", "pk")
        .values_list("user__username", flat=True)
    )
    return LiftState(freeze, approvers, env_selectors.lift_quorum(freeze), freeze.end <= now)


def freeze_lift_approve(*, freeze_id: int, actor: User, reason: str) -> LiftState:
    """Approve lifting an incident freeze early. It lifts when as many distinct people as the
    quorum of the environments it covers have approved; until then it stays in force. The
    same person approving twice is refused, and writes nothing."""
    reason = reason.strip()
    with transaction.atomic():
        freeze = (
            FreezeWindow.objects.select_for_update(of=("self",))
            .select_related("environment")
            .filter(pk=freeze_id)
            .first()
        )
        if freeze is None:
            raise NotFound("No such freeze window.", field="freeze")
        if not may_approve_lift(actor, freeze):
            raise NotAllowed(
                "Lifting an incident freeze is approved by the platform role or an "
                "organisation-wide operator of the tiers it covers."
            )
        if not freeze.halts_running:
            raise Conflict("This freeze was not declared for an incident: remove it instead.")
        now = timezone.now()
        if freeze.end <= now:
            return _lift_state(freeze, now)
        if not reason:
            raise ServiceError("Say why the freeze may be lifted.", field="reason")
        if FreezeLiftApproval.objects.filter(freeze=freeze, user=actor).exists():
            state = _lift_state(freeze, now)
            raise Conflict(
                "You have already approved lifting this freeze.",
                blockers=[Blocker("lift_pending", state.message)],
            )
        FreezeLiftApproval.objects.create(freeze=freeze, user=actor, reason=reason[:300])
        state = _lift_state(freeze, now)
        audit_record(
            actor=actor,
            verb="freeze.lift_approved",
            obj=freeze,
            after={"approvals": len(state.approvers), "needed": state.needed},
            reason=reason,
        )
        incident = Incident.objects.select_related("source").filter(freeze=freeze).first()
        about: dict[str, object] = {"freeze": _freeze_about(freeze)}
        if incident is not None:
            about = _about(incident)
        notify_shared(
            event="freeze.lift_approved",
            text=f"{actor.get_username()} approved lifting the freeze “{freeze.reason}” "
            f"({len(state.approvers)} of {state.needed})",
            about=about,
        )
        if len(state.approvers) < state.needed:
            return state
        freeze = env_services.freeze_end_now(
            freeze_id=freeze.pk,
            actor=actor,
            reason=f"Lifted by {', '.join(state.approvers)}: {reason}",
            now=now,
        )
        notify_shared(
            event="freeze.lifted",
            text=f"Freeze “{freeze.reason}” lifted by {', '.join(state.approvers)}",
            about={**about, "freeze": _freeze_about(freeze)},
        )
        return LiftState(freeze, state.approvers, state.needed, True)

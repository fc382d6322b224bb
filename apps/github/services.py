"""Deployment protection requests: the one writer of a request's verdict. Received from the
webhook, decided when the gate holds or is refused, re-found by the sweep while undecided."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.releases.models import Release
from apps.releases.services import record_change

from . import rules, selectors
from .models import AnswerState, DeploymentProtectionRequest, Verdict

# GitHub waits 30 days for a custom deployment protection rule's answer; after that the
# deployment has failed on its side and an answer would be refused.
UNDECIDED_FOR_AT_MOST = timedelta(days=30)


@dataclass(frozen=True)
class ProtectionEvent:
    """What a `deployment_protection_rule` event asks, as the webhook read it."""

    delivery_id: str
    installation_id: int
    repository: str
    environment: str
    sha: str
    ref: str
    callback_url: str


def record_event(
    request: DeploymentProtectionRequest,
    verb: str,
    after: dict[str, object],
    *,
    reason: str = "",
    actor: User | None = None,
) -> None:
    """Every request's events are audited; a matched release's page shows them too."""
    if request.release_id is not None:
        record_change(
            release_id=request.release_id,
            actor=actor,
            verb=verb,
            obj=request,
            after=after,
            reason=reason,
        )
    else:
        audit_record(actor=actor, verb=verb, obj=request, after=after, reason=reason)


def _send_soon(request_id: int) -> None:
    from . import tasks

    transaction.on_commit(lambda: tasks.answer_send.delay(request_id))


def _evaluate_soon(request_id: int) -> None:
    from . import tasks

    transaction.on_commit(lambda: tasks.evaluate.delay(request_id))


def protection_request_receive(
    *, event: ProtectionEvent
) -> tuple[DeploymentProtectionRequest, bool]:
    """Store what GitHub asks, matched to a release and an environment, and look at it after
    commit. The same delivery (or callback) twice is the request already stored: returns it
    and False."""
    found = selectors.releases_naming(event.sha, event.ref, event.repository)
    environment = selectors.environment_for(event.environment)
    same = Q(delivery_id=event.delivery_id) | Q(callback_url=event.callback_url)
    with transaction.atomic():
        existing = DeploymentProtectionRequest.objects.filter(same).first()
        if existing is not None:
            return existing, False
        request = DeploymentProtectionRequest(
            delivery_id=event.delivery_id,
            callback_url=event.callback_url,
            installation_id=event.installation_id,
            repository=event.repository,
            environment_name=event.environment,
            environment=environment,
            sha=event.sha,
            ref=event.ref,
            # Several matches: none is chosen, and the verdict says so.
            release=found[0] if len(found) == 1 else None,
        )
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:  # the same delivery, received twice at once
            stored = DeploymentProtectionRequest.objects.filter(same).first()
            if stored is None:
                raise
            return stored, False
        record_event(
            request,
            "github.protection_requested",
            {
                "repository": event.repository,
                "environment": event.environment,
                "sha": event.sha,
                "ref": event.ref,
                "delivery": event.delivery_id,
            },
        )
        _evaluate_soon(request.pk)
    return request, True


def lock_request(request_id: int) -> DeploymentProtectionRequest | None:
    """The request locked, after its release: the order every writer of a release follows."""
    release_id = (
        DeploymentProtectionRequest.objects.filter(pk=request_id)
        .values_list("release_id", flat=True)
        .first()
    )
    if release_id is not None:
        Release.objects.select_for_update().filter(pk=release_id).first()
    return (
        DeploymentProtectionRequest.objects.select_for_update(of=("self",))
        .select_related("release")
        .filter(pk=request_id)
        .first()
    )


def protection_request_evaluate(*, request_id: int, now: datetime | None = None) -> str:
    """Decide the request if the gate now holds or is refused, and send the answer after commit;
    an undecided one keeps what it waits for. Returns its verdict. Deciding twice is harmless:
    a decided request is left alone."""
    now = now or timezone.now()
    # The sweep asks about every undecided request each tick: one still waiting for the same
    # things is answered from a plain read, without locking its release.
    unlocked = (
        DeploymentProtectionRequest.objects.select_related("release").filter(pk=request_id).first()
    )
    if unlocked is None:
        return "gone"
    if unlocked.verdict != Verdict.PENDING:
        return unlocked.verdict
    first = rules.verdict(selectors.gate_facts(unlocked))
    if first.state == rules.PENDING and unlocked.waiting_for == [
        b.as_dict() for b in first.blockers
    ]:
        return Verdict.PENDING
    with transaction.atomic():
        request = lock_request(request_id)
        if request is None:
            return "gone"
        if request.verdict != Verdict.PENDING:
            return request.verdict
        decision = rules.verdict(selectors.gate_facts(request))
        blockers = [b.as_dict() for b in decision.blockers]
        if decision.state == rules.PENDING:
            if request.waiting_for != blockers:
                request.waiting_for = blockers
                request.save(update_fields=["waiting_for", "updated_at"])
            return Verdict.PENDING
        request.verdict = decision.state
        request.comment = decision.comment
        request.waiting_for = blockers
        request.decided_at = now
        request.answer_state = AnswerState.PENDING
        request.next_attempt_at = now
        request.save(
            update_fields=[
                "verdict",
                "comment",
                "waiting_for",
                "decided_at",
                "answer_state",
                "next_attempt_at",
                "updated_at",
            ]
        )
        record_event(
            request,
            f"github.{decision.state}",
            {
                "verdict": decision.state,
                "environment": request.environment_name,
                "sha": request.sha,
                "ref": request.ref,
                "blockers": blockers,
            },
            reason=decision.comment,
        )
        _send_soon(request.pk)
    return request.verdict


def undecided(now: datetime) -> Q:
    """Requests still waiting for a verdict that GitHub still waits for."""
    return Q(verdict=Verdict.PENDING, created_at__gte=now - UNDECIDED_FOR_AT_MOST)


def protection_requests_reevaluate(
    *, release_id: int | None = None, plan_id: int | None = None, now: datetime | None = None
) -> int:
    """Look again at the undecided requests of a release (or of a rollout plan's release), or of
    every release; returns how many were decided."""
    now = now or timezone.now()
    rows = DeploymentProtectionRequest.objects.filter(undecided(now))
    if release_id is not None:
        rows = rows.filter(release_id=release_id)
    if plan_id is not None:
        rows = rows.filter(release__rollout_plan__id=plan_id)
    decided = 0
    for pk in rows.order_by("pk").values_list("pk", flat=True):
        if protection_request_evaluate(request_id=pk, now=now) != Verdict.PENDING:
            decided += 1
    return decided

"""Answering GitHub: the one writer of a request's answer. Each attempt is claimed in a short
transaction, sent after commit (an installation token, then the callback), and its outcome
recorded; failures retry with backoff, a bounded number of times."""

import json
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core import egress

from . import app_auth
from .models import AnswerState, DeploymentProtectionRequest
from .services import lock_request, record_event

ATTEMPT_MARGIN = timedelta(seconds=5)
# Answers GitHub will never take however often they are sent (the run was cancelled or already
# answered, the URL is wrong); anything else (its own trouble, rate limits, a token refused)
# is tried again.
FINAL_STATUSES = frozenset({400, 404, 410, 422})


def _attempt_expired_before(now: datetime) -> datetime:
    # Two requests (the token and the answer), each of which may take its connect and read
    # timeout, and a margin: past that the worker that claimed the attempt is gone.
    return now - timedelta(seconds=4 * settings.RELEASEDECK_HTTP_TIMEOUT) - ATTEMPT_MARGIN


def answers_due(now: datetime) -> QuerySet[DeploymentProtectionRequest]:
    return DeploymentProtectionRequest.objects.filter(
        Q(answer_state=AnswerState.PENDING, next_attempt_at__lte=now)
        | Q(answer_state=AnswerState.SENDING, attempt_started_at__lt=_attempt_expired_before(now))
    )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2**attempts))


def answer_body(request: DeploymentProtectionRequest) -> bytes:
    return json.dumps(
        {
            "environment_name": request.environment_name,
            "state": request.verdict,
            "comment": request.comment,
        }
    ).encode()


def _post(request: DeploymentProtectionRequest) -> tuple[int | None, str]:
    """Send the answer; (GitHub's status, the error) — status None when nothing answered."""
    try:
        token = app_auth.installation_token(request.installation_id)
    except app_auth.GithubUnavailable as exc:
        return None, str(exc)
    answer = egress.request(
        request.callback_url,
        method="POST",
        body=answer_body(request),
        headers=app_auth.headers(token),
        timeout=settings.RELEASEDECK_HTTP_TIMEOUT,
    )
    if answer.status is None:
        return None, answer.error
    if 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, f"HTTP {answer.status}"


def answer_send(*, request_id: int, now: datetime | None = None) -> str:
    """Claim the request's next attempt if it is due, answer GitHub after commit, record what
    came back. Returns the answer's state, or why nothing was sent."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            DeploymentProtectionRequest.objects.select_for_update(skip_locked=True)
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            return "busy"
        if request.answer_state == AnswerState.SENDING:
            started = request.attempt_started_at
            if started is not None and started >= _attempt_expired_before(now):
                return "attempt open"
        elif request.answer_state != AnswerState.PENDING:
            return "not due"
        elif request.next_attempt_at is not None and request.next_attempt_at > now:
            return "not due"
        request.answer_state = AnswerState.SENDING
        request.attempts += 1
        request.attempt_started_at = now
        request.next_attempt_at = None
        request.save(
            update_fields=[
                "answer_state",
                "attempts",
                "attempt_started_at",
                "next_attempt_at",
                "updated_at",
            ]
        )
        attempts = request.attempts
    status, error = _post(request)
    return _record_attempt(request_id, attempts, status, error, ended=max(now, timezone.now()))


def _record_attempt(
    request_id: int, attempts: int, status: int | None, error: str, *, ended: datetime
) -> str:
    with transaction.atomic():
        request = lock_request(request_id)
        if request is None:
            return "gone"
        if request.attempts != attempts or request.answer_state != AnswerState.SENDING:
            return "superseded"  # this attempt outlived its time and another took over
        ok = not error
        request.response_status = status
        request.last_error = error[:2000]
        if ok:
            request.answer_state = AnswerState.SENT
            request.answered_at = ended
        elif (status in FINAL_STATUSES) or attempts >= settings.RELEASEDECK_GITHUB_ATTEMPTS:
            request.answer_state = AnswerState.FAILED
        else:
            request.answer_state = AnswerState.PENDING
            request.next_attempt_at = ended + _backoff(attempts)
        request.save(
            update_fields=[
                "answer_state",
                "answered_at",
                "next_attempt_at",
                "response_status",
                "last_error",
                "updated_at",
            ]
        )
        record_event(
            request,
            "github.answer_sent" if ok else "github.answer_failed",
            {
                "verdict": request.verdict,
                "attempt": attempts,
                "status": status,
                "error": error,
                "state": request.answer_state,
            },
            reason="" if ok else f"Attempt {attempts}: {error}",
        )
    return request.answer_state

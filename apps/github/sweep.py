"""The periodic sweep: the beat's tick re-finds what a lost message or a dead worker left."""

from datetime import datetime

from django.utils import timezone

from . import tasks
from .delivery import answers_due
from .services import protection_requests_reevaluate


def github_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic tick: decide what can be decided, and send the answers that are due (a lost
    message, a retry whose backoff has passed, an attempt whose worker died)."""
    now = now or timezone.now()
    # Answers decided below are sent by their own message; these are the ones left behind.
    due = list(answers_due(now).values_list("pk", flat=True))
    decided = protection_requests_reevaluate(now=now)
    for pk in due:
        tasks.answer_send.delay(pk)
    return {"decided": decided, "answers": len(due)}

"""Reads for the notification pages."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from .models import DeliveryState, Notification, OutboundWebhook

RECENT = timedelta(days=7)


@dataclass(frozen=True)
class WebhookRow:
    """A webhook with how its deliveries of the last `RECENT` went."""

    hook: OutboundWebhook
    sent: int
    waiting: int
    failed: int
    last_sent_at: datetime | None
    last_error: str  # the newest error of a delivery not yet sent, or ""


def webhook_board(now: datetime | None = None) -> list[WebhookRow]:
    """Every webhook with its recent deliveries counted, in one query."""
    since = (now or timezone.now()) - RECENT
    recent = Q(deliveries__created_at__gte=since)
    unsent_errors = (
        Notification.objects.filter(webhook=OuterRef("pk"), created_at__gte=since)
        .exclude(state=DeliveryState.SENT)
        .exclude(last_error="")
        .order_by("-updated_at")
        .values("last_error")[:1]
    )
    hooks = OutboundWebhook.objects.annotate(
        sent=Count("deliveries", filter=recent & Q(deliveries__state=DeliveryState.SENT)),
        waiting=Count("deliveries", filter=recent & Q(deliveries__state=DeliveryState.PENDING)),
        failed=Count("deliveries", filter=recent & Q(deliveries__state=DeliveryState.FAILED)),
        last_sent_at=Max("deliveries__sent_at"),
        newest_error=Subquery(unsent_errors),
    ).order_by("name", "pk")
    return [
        WebhookRow(
            hook=hook,
            sent=hook.sent,
            waiting=hook.waiting,
            failed=hook.failed,
            last_sent_at=hook.last_sent_at,
            last_error=hook.newest_error or "",
        )
        for hook in hooks
    ]

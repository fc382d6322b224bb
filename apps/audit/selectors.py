from .models import AuditEvent


def latest_event_id() -> int:
    """Every change of state appends an audit event, so the newest id is a global change counter
    that open pages can poll for the price of one index lookup."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

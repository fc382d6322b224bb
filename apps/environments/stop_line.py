"""The stop-the-line switch: one writer. The rollout engine hears of each change through
`signals.stop_the_line_changed` and halts or resumes its waves in the same transaction."""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import Action, require
from apps.audit.services import audit_record
from apps.core.errors import ServiceError

from . import signals
from .models import StopTheLine


def stop_the_line_set(*, active: bool, actor: User, reason: str = "") -> StopTheLine:
    """Pull the switch that halts every running wave at once, or lift it to let them carry
    on. Waves follow it whatever the puller's role (release managers may pull it too): the
    switch's permission is the one that counts."""
    require(actor, Action.STOP_THE_LINE)
    if active and not reason:
        raise ServiceError("Say why the line is stopped.", field="reason")
    now = timezone.now()
    with transaction.atomic():
        StopTheLine.objects.get_or_create(pk=1)
        switch = StopTheLine.objects.select_for_update().get(pk=1)
        if switch.active == active:
            return switch
        before = {"active": switch.active, "reason": switch.reason}
        switch.active, switch.reason, switch.changed_by, switch.changed_at = (
            active,
            reason,
            actor,
            now,
        )
        switch.save()
        audit_record(
            actor=actor,
            verb="stop_the_line.on" if active else "stop_the_line.off",
            obj=switch,
            before=before,
            after={"active": active, "reason": reason},
            reason=reason,
        )
        signals.stop_the_line_changed.send(sender=StopTheLine, switch=switch, actor=actor, now=now)
    return switch

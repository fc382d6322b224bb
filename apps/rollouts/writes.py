"""Where a step's audit events and notifications go (see `Writes`)."""

from dataclasses import dataclass, field

from apps.audit.services import AuditBatch
from apps.notifications.outbox import Recipients, Sends, notify
from apps.releases.models import Release

from .models import Wave


@dataclass
class Writes:
    """Where a step's audit events and notifications go: straight to the chain and the outbox
    (the default, for a single step), or into an engine run's batches (see AuditBatch, Sends).
    One `Writes` serves one transaction: it keeps who its notifications go to."""

    batch: AuditBatch | None = None
    sends: Sends | None = None
    recipients: Recipients = field(default_factory=Recipients)

    def notify(self, release: Release, event: str, *, wave: Wave | None = None, text: str) -> None:
        """Tell the release's people; the caller holds the rows locked, so they are current."""
        notify(
            release=release,
            event=event,
            wave=wave,
            text=text,
            phase=release.phase,
            wave_state=wave.state if wave is not None else None,
            sends=self.sends,
            recipients=self.recipients,
        )

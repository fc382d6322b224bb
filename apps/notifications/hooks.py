"""What notifications does when a lower app says something happened."""

from apps.releases.models import Release

from .outbox import notify


def release_moved_tell(*, release: Release, reason: str, **_: object) -> None:
    """Tell the release's people it changed phase (`releases.signals.release_moved`)."""
    notify(release=release, event="release.moved", text=reason)

"""Reads about who is named on a release."""

from typing import Any

from .models import Stakeholder


def is_qa_stakeholder(user: Any, release: Any) -> bool:
    """Whether `user` is named on `release` in the qa role: such a person may close its blocking
    defects without being a release manager (`Action.CLOSE_BLOCKING_DEFECT`)."""
    return Stakeholder.objects.filter(release=release, user=user, role__slug="qa").exists()

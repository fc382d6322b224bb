"""Release endpoints of the REST API."""

from .applications import ApplicationDetailView, ApplicationListView
from .releases import (
    MoveDetailView,
    MoveListView,
    ReleaseDetailView,
    ReleaseListView,
    TransitionView,
)
from .shared import ReleaseScopedMixin
from .status import ReleaseStatusSerializer, ReleaseStatusView
from .uat import (
    ChecklistDetailView,
    ChecklistListView,
    ChecklistWaiveView,
    DefectCloseView,
    DefectDetailView,
    DefectListView,
    ReviewView,
    TestCaseDetailView,
    TestCaseListView,
    TestCaseWaiveView,
)

__all__ = [
    "ApplicationDetailView",
    "ApplicationListView",
    "ChecklistDetailView",
    "ChecklistListView",
    "ChecklistWaiveView",
    "DefectCloseView",
    "DefectDetailView",
    "DefectListView",
    "MoveDetailView",
    "MoveListView",
    "ReleaseDetailView",
    "ReleaseListView",
    "ReleaseScopedMixin",
    "ReleaseStatusSerializer",
    "ReleaseStatusView",
    "ReviewView",
    "TestCaseDetailView",
    "TestCaseListView",
    "TestCaseWaiveView",
    "TransitionView",
]

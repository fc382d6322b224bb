"""Rollout endpoints of the REST API: the plan, its waves, their sign-offs, checks and deploy
calls."""

from .checks import CheckConfirmView, CheckListView, CheckResultListView
from .deploy_calls import DeployCallListView, WaveReportView
from .plans import ApplyStrategyView, DryRunView, PlanView
from .wave_signoffs import WaveSignOffListView
from .waves import (
    WAVE_ACTION_VIEWS,
    WaveDetailView,
    WaveEditView,
    WaveListView,
    WaveRequirementView,
)

__all__ = [
    "WAVE_ACTION_VIEWS",
    "ApplyStrategyView",
    "CheckConfirmView",
    "CheckListView",
    "CheckResultListView",
    "DeployCallListView",
    "DryRunView",
    "PlanView",
    "WaveDetailView",
    "WaveEditView",
    "WaveListView",
    "WaveReportView",
    "WaveRequirementView",
    "WaveSignOffListView",
]

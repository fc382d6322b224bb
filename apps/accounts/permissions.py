"""The one answer to "may this user do this?", asked by pages, API, tasks and admin alike."""

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.db.models import prefetch_related_objects

from apps.core.errors import NotAllowed

from .roles import Role


class Action(StrEnum):
    VIEW = "view"
    CREATE_RELEASE = "create_release"
    EDIT_RELEASE = "edit_release"
    MOVE_PHASE = "move_phase"
    OVERRIDE_GATE = "override_gate"
    MANAGE_STAKEHOLDERS = "manage_stakeholders"
    SET_POLICY = "set_policy"
    SIGN_OFF = "sign_off"
    UPDATE_CHECKLIST = "update_checklist"
    RECORD_TEST = "record_test"
    MANAGE_DEFECTS = "manage_defects"
    CLOSE_BLOCKING_DEFECT = "close_blocking_defect"
    WRITE_REVIEW = "write_review"
    MANAGE_ANNOUNCEMENTS = "manage_announcements"
    PLAN_ROLLOUT = "plan_rollout"
    OPERATE_WAVES = "operate_waves"
    MANAGE_ENVIRONMENTS = "manage_environments"
    STOP_THE_LINE = "stop_the_line"
    MANAGE_WEBHOOKS = "manage_webhooks"


RM, APPROVER, OPERATOR, VIEWER = (
    Role.RELEASE_MANAGER.value,
    Role.APPROVER.value,
    Role.OPERATOR.value,
    Role.VIEWER.value,
)

# Which user roles may take each action. Sign-off has further per-release conditions below.
ACTION_ROLES: dict[Action, frozenset[str]] = {
    Action.VIEW: frozenset({RM, APPROVER, OPERATOR, VIEWER}),
    Action.CREATE_RELEASE: frozenset({RM}),
    Action.EDIT_RELEASE: frozenset({RM}),
    Action.MOVE_PHASE: frozenset({RM}),
    Action.OVERRIDE_GATE: frozenset(),  # administrators only
    Action.MANAGE_STAKEHOLDERS: frozenset({RM}),
    Action.SET_POLICY: frozenset({RM}),
    Action.SIGN_OFF: frozenset({APPROVER}),
    Action.UPDATE_CHECKLIST: frozenset({RM, OPERATOR}),
    Action.RECORD_TEST: frozenset({RM, APPROVER}),
    # Opening and closing ordinary defects. A blocker or critical one holds the testing →
    # rollout gate: closing it is CLOSE_BLOCKING_DEFECT, so those it gates cannot clear it.
    Action.MANAGE_DEFECTS: frozenset({RM, APPROVER, OPERATOR}),
    # Release managers; on a given release also its qa stakeholders (see `can`).
    Action.CLOSE_BLOCKING_DEFECT: frozenset({RM}),
    Action.WRITE_REVIEW: frozenset({RM}),
    Action.MANAGE_ANNOUNCEMENTS: frozenset({RM}),
    Action.PLAN_ROLLOUT: frozenset({RM}),
    Action.OPERATE_WAVES: frozenset({OPERATOR}),
    # Environments, their deployment windows and time zones, and freezes: operators work
    # inside these limits, so they do not set them.
    Action.MANAGE_ENVIRONMENTS: frozenset({RM}),
    Action.STOP_THE_LINE: frozenset({RM, OPERATOR}),
    # Reads too: a receiver's URL often carries its own credentials (chat incoming webhooks).
    Action.MANAGE_WEBHOOKS: frozenset({RM}),
}


def user_roles(user: Any) -> frozenset[str]:
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    # Read once per user object: Django's prefetch cache keeps the groups with it, so every
    # later check in the same request needs no query (and changing them through
    # `user.groups` empties it).
    prefetch_related_objects([user], "groups")
    return frozenset(group.name for group in user.groups.all())


# An action whose answer on a given release depends on more than roles is decided by a check
# that the app owning those facts registers in its AppConfig.ready(): accounts sits below the
# apps whose rows it would have to read.
ReleaseCheck = Callable[[Any, Any], bool]
RELEASE_CHECKED = frozenset({Action.SIGN_OFF})
# An action the roles allow that a release may also grant to someone without them (a qa
# stakeholder closing a blocking defect of that release).
RELEASE_GRANTED = frozenset({Action.CLOSE_BLOCKING_DEFECT})
_release_checks: dict[Action, ReleaseCheck] = {}
_release_grants: dict[Action, ReleaseCheck] = {}


def register_release_check(action: Action, check: ReleaseCheck) -> None:
    """Let `check(user, release)` decide `action` on a release (for RELEASE_CHECKED actions)."""
    if action not in RELEASE_CHECKED:
        raise ValueError(f"{action} is decided by roles alone.")
    _release_checks[action] = check


def register_release_grant(action: Action, grant: ReleaseCheck) -> None:
    """Let `grant(user, release)` also allow `action` on a release to someone whose roles do not
    (for RELEASE_GRANTED actions)."""
    if action not in RELEASE_GRANTED:
        raise ValueError(f"{action} is decided by roles alone.")
    _release_grants[action] = grant


def can(user: Any, action: Action, release: Any = None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if action in RELEASE_CHECKED and release is not None:
        return _release_checks[action](user, release)
    if user.is_superuser:
        return True
    if bool(user_roles(user) & ACTION_ROLES[action]):
        return True
    grant = _release_grants.get(action)
    return grant is not None and release is not None and grant(user, release)


def require(user: Any, action: Action, release: Any = None) -> None:
    """Raise NotAllowed unless `user` may take `action` (on `release`)."""
    if not can(user, action, release):
        raise NotAllowed(_refusal(user, action, release))


def _refusal(user: Any, action: Action, release: Any) -> str:
    if user is None or not user.is_authenticated:
        return "Sign in first."
    if action is Action.SIGN_OFF and release is not None:
        if user.pk in (release.owner_id, release.created_by_id):
            return "You own or created this release, so you cannot sign it off."
        return "Only a stakeholder whose role the sign-off policy names can sign this release off."
    if action is Action.CLOSE_BLOCKING_DEFECT:
        return (
            "A blocker or critical defect is closed by a release manager or by a qa "
            "stakeholder of this release."
        )
    needed = ", ".join(sorted(ACTION_ROLES[action])) or "administrator"
    return f"You need one of these roles to {action.value.replace('_', ' ')}: {needed}."


def page_require(user: Any, action: Action, release: Any = None) -> None:
    """`require` for pages: a refusal becomes Django's 403 with the same message."""
    from django.core.exceptions import PermissionDenied

    try:
        require(user, action, release)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None

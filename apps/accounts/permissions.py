"""The one answer to "may this person do this, here?", asked by pages, API, tasks and admin alike.

A person holds roles through grants (models.RoleGrant): in a team, which then acts on the
releases of that team's applications, or organisation-wide, which acts everywhere. An
operator's grant may be limited to environment tiers. An administrator (an organisation-wide
grant, or Django's superuser) may do everything.
"""

from collections.abc import Callable, Collection
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db.models import Q, prefetch_related_objects

from apps.core.errors import NotAllowed, NotFound

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
    MANAGE_PEOPLE = "manage_people"


RM, APPROVER, OPERATOR, VIEWER, PLATFORM, ADMINISTRATOR = (
    Role.RELEASE_MANAGER.value,
    Role.APPROVER.value,
    Role.OPERATOR.value,
    Role.VIEWER.value,
    Role.PLATFORM.value,
    Role.ADMINISTRATOR.value,
)

# Which roles may take each action. Sign-off has further per-release conditions below.
ACTION_ROLES: dict[Action, frozenset[str]] = {
    Action.VIEW: frozenset({RM, APPROVER, OPERATOR, VIEWER, PLATFORM}),
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
    # Environments, their deployment windows and time zones, and freezes are shared by every
    # team: the platform role sets them; operators and release managers work inside them.
    Action.MANAGE_ENVIRONMENTS: frozenset({PLATFORM}),
    # The switch halts every team's waves, so it is pulled by the platform role or an
    # organisation-wide operator (an SRE group), never by one team's people.
    Action.STOP_THE_LINE: frozenset({OPERATOR, PLATFORM}),
    # Reads too: a receiver's URL often carries its own credentials (chat incoming webhooks).
    Action.MANAGE_WEBHOOKS: frozenset({RM}),
    Action.MANAGE_PEOPLE: frozenset(),  # administrators only
}
# Actions about shared things: only an organisation-wide grant of the role counts.
ORG_ACTIONS = frozenset(
    {Action.MANAGE_WEBHOOKS, Action.MANAGE_PEOPLE, Action.OVERRIDE_GATE, Action.STOP_THE_LINE}
)


def _active(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def grants(user: Any) -> list[Any]:
    """The person's role grants. Read once per user object: Django's prefetch cache keeps them
    with it, so every later check in the same request needs no query (and changing them
    through `user.role_grants` empties it)."""
    if not _active(user):
        return []
    prefetch_related_objects([user], "role_grants")
    return list(user.role_grants.all())


def user_roles(user: Any) -> frozenset[str]:
    """Every role the person holds anywhere (in some team or organisation-wide)."""
    return frozenset(grant.role for grant in grants(user))


def is_administrator(user: Any) -> bool:
    if not _active(user):
        return False
    return user.is_superuser or any(
        g.role == ADMINISTRATOR and g.team_id is None for g in grants(user)
    )


def team_of(target: Any) -> int | None:
    """The id of the team that owns what `target` belongs to (an application, a release, a
    wave, or a row of a release); None when no team owns it."""
    kind = type(target)
    if hasattr(kind, "team_id"):
        return target.team_id
    if hasattr(kind, "application"):
        return target.application.team_id
    if hasattr(kind, "release"):
        return target.release.application.team_id
    return None


def restricted_visibility() -> bool:
    """Whether people see only their teams' releases (settings.RELEASEDECK_VISIBILITY)."""
    return settings.RELEASEDECK_VISIBILITY == "team"


def holds(
    user: Any,
    roles: Collection[str],
    target: Any = None,
    *,
    tier: str | None = None,
    org_wide: bool = False,
) -> bool:
    """Whether `user` holds one of `roles` where it acts on `target`: organisation-wide, or in
    the team that owns it. Without a target, a grant in any team counts (is there anything
    this person may do so?); `org_wide` counts only organisation-wide grants. A grant limited
    to tiers counts for `tier` only if it names it."""
    team: int | None = None
    if target is not None and not org_wide:
        team = team_of(target)
    for grant in grants(user):
        if grant.role not in roles:
            continue
        if tier is not None and grant.tiers and tier not in grant.tiers:
            continue
        if grant.team_id is None:
            return True
        if org_wide:
            continue
        if target is None or grant.team_id == team:
            return True
    return False


def teams_holding(user: Any, roles: Collection[str]) -> set[int] | None:
    """The ids of the teams in which `user` holds one of `roles`; None when they hold one
    organisation-wide (or are an administrator), so it acts on every team."""
    if is_administrator(user):
        return None
    teams: set[int] = set()
    for grant in grants(user):
        if grant.role in roles:
            if grant.team_id is None:
                return None
            teams.add(grant.team_id)
    return teams


def visible_teams(user: Any) -> set[int] | None:
    """The teams whose releases `user` may see; None for all of them (visibility is
    organisation-wide, or they have an organisation-wide role)."""
    if not restricted_visibility():
        return None if can(user, Action.VIEW) else set()
    return teams_holding(user, ACTION_ROLES[Action.VIEW])


def visible_q(user: Any, team_field: str) -> Q:
    """A filter for rows `user` may see, given the path from the rows to their team; matches
    everything when visibility is organisation-wide. Rows of no team are seen only by those
    who see every team."""
    teams = visible_teams(user)
    if teams is None:
        return Q()
    return Q(**{f"{team_field}__in": teams})


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


def can(user: Any, action: Action, target: Any = None, *, tier: str | None = None) -> bool:
    """May `user` take `action` (on `target`: an application, release, wave or a row of a
    release; in an environment of `tier`)?"""
    if not _active(user):
        return False
    if action in RELEASE_CHECKED and target is not None:
        return _release_checks[action](user, target)
    if is_administrator(user):
        return True
    roles = ACTION_ROLES[action]
    if action is Action.VIEW and not restricted_visibility():
        target = None  # everyone with a role reads everything
    if holds(user, roles, target, tier=tier, org_wide=action in ORG_ACTIONS):
        return True
    grant = _release_grants.get(action)
    return grant is not None and target is not None and grant(user, target)


def require(user: Any, action: Action, target: Any = None, *, tier: str | None = None) -> None:
    """Raise NotAllowed unless `user` may take `action` (on `target`, in `tier`); NotFound when
    visibility is restricted and `user` may not even see `target`, which then tells them
    nothing of it."""
    if not can(user, action, target, tier=tier):
        if (
            target is not None
            and target.pk is not None  # a row being made is refused, not hidden
            and restricted_visibility()
            and _active(user)
            and not can(user, Action.VIEW, target)
        ):
            raise NotFound(f"No such {target._meta.verbose_name}.")
        raise NotAllowed(_refusal(user, action, target, tier))


def _refusal(user: Any, action: Action, target: Any, tier: str | None) -> str:
    if user is None or not user.is_authenticated:
        return "Sign in first."
    if action is Action.SIGN_OFF and target is not None:
        if user.pk in (target.owner_id, target.created_by_id):
            return "You own or created this release, so you cannot sign it off."
        return "Only a stakeholder whose role the sign-off policy names can sign this release off."
    if action is Action.CLOSE_BLOCKING_DEFECT:
        return (
            "A blocker or critical defect is closed by a release manager or by a qa "
            "stakeholder of this release."
        )
    roles = ACTION_ROLES[action]
    verb = action.value.replace("_", " ")
    needed = ", ".join(sorted(roles)) or "administrator"
    if not roles:
        return f"Only an administrator may {verb}."
    if action in ORG_ACTIONS:
        if holds(user, roles):
            return f"To {verb} you need one of these roles organisation-wide: {needed}."
        return f"You need one of these roles organisation-wide to {verb}: {needed}."
    if tier is not None and holds(user, roles, target):
        return f"Your {needed} role does not cover {tier} environments."
    if target is not None and holds(user, roles):
        return f"You need one of these roles in the team that owns this to {verb}: {needed}."
    return f"You need one of these roles to {verb}: {needed}."


def page_require(user: Any, action: Action, target: Any = None, *, tier: str | None = None) -> None:
    """`require` for pages: a refusal becomes Django's 403 with the same message, and a target
    hidden from the person Django's 404."""
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    try:
        require(user, action, target, tier=tier)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None
    except NotFound as exc:
        raise Http404(exc.message) from None

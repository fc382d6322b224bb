"""Single sign-on's settings, read when they are used (so a test can change them) and checked
once at startup (AccountsConfig.ready), where a wrong role map stops the process with a message
that says what to fix. Pure: no ORM, no network."""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .roles import ORG_ONLY, TIERED, Role

# The values of apps.environments.models.Tier; accounts sits below environments, so a test holds
# the two equal instead of importing it.
TIERS = ("development", "staging", "production")


@dataclass(frozen=True)
class MappedRole:
    """One role a provider group gives: in the team of that slug, or organisation-wide (None)."""

    role: str
    team: str | None = None
    tiers: tuple[str, ...] = ()


RoleMap = dict[str, tuple[MappedRole, ...]]


@dataclass(frozen=True)
class SsoConfig:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str
    groups_claim: str
    role_map: RoleMap
    name: str


def _target(group: str, value: object) -> MappedRole:
    where = f"RELEASEDECK_OIDC_ROLE_MAP: group {group!r}"
    tiers: tuple[str, ...] = ()
    if isinstance(value, str):
        role, _, team = value.partition("@")
    elif isinstance(value, dict):
        unknown = set(value) - {"role", "team", "tiers"}
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown keys {sorted(unknown)}.")
        raw_role, raw_team = value.get("role"), value.get("team") or ""
        raw_tiers = value.get("tiers", [])
        if not isinstance(raw_role, str) or not isinstance(raw_team, str):
            raise ImproperlyConfigured(f"{where}: 'role' and 'team' are strings.")
        role, team = raw_role, raw_team
        if not isinstance(raw_tiers, list) or not all(isinstance(t, str) for t in raw_tiers):
            raise ImproperlyConfigured(f"{where}: 'tiers' is a list of tier names.")
        tiers = tuple(sorted(set(raw_tiers)))
    else:
        raise ImproperlyConfigured(
            f'{where}: a target is "role", "role@team-slug" or an object '
            '{"role": ..., "team": ..., "tiers": [...]}.'
        )
    role, team = role.strip(), team.strip()
    if role not in Role.values:
        raise ImproperlyConfigured(
            f"{where}: unknown role {role!r}; one of {', '.join(Role.values)}."
        )
    if team and role in ORG_ONLY:
        raise ImproperlyConfigured(
            f"{where}: {role} is held organisation-wide only, so it cannot name team {team!r}."
        )
    if tiers and role not in TIERED:
        raise ImproperlyConfigured(f"{where}: only {', '.join(sorted(TIERED))} may name tiers.")
    bad = [t for t in tiers if t not in TIERS]
    if bad:
        raise ImproperlyConfigured(f"{where}: unknown tiers {bad}; tiers are {', '.join(TIERS)}.")
    return MappedRole(role=role, team=team or None, tiers=tiers)


def parse_role_map(text: str) -> RoleMap:
    """The group → roles mapping from its JSON text: an object whose keys are the provider's
    group names and whose values are one target or a list of them. Raises ImproperlyConfigured
    saying what is wrong."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"RELEASEDECK_OIDC_ROLE_MAP is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(
            "RELEASEDECK_OIDC_ROLE_MAP is a JSON object of group name → role target(s)."
        )
    mapping: RoleMap = {}
    for group, value in data.items():
        targets = value if isinstance(value, list) else [value]
        mapping[group] = tuple(_target(group, target) for target in targets)
    return mapping


def wanted_roles(
    role_map: RoleMap, groups: Iterable[str]
) -> dict[tuple[str, str | None], tuple[str, ...]]:
    """What the groups give, one entry per (role, team slug) with its tiers. Two groups giving
    the same role in the same place give the union of their tiers; one giving it without tiers
    (every tier) wins."""
    wanted: dict[tuple[str, str | None], tuple[str, ...]] = {}
    for group in set(groups):
        for target in role_map.get(group, ()):
            key = (target.role, target.team)
            if key in wanted and (not wanted[key] or not target.tiers):
                wanted[key] = ()
            else:
                wanted[key] = tuple(sorted({*wanted.get(key, ()), *target.tiers}))
    return wanted


def password_login() -> bool:
    """Whether people may sign in with a password (RELEASEDECK_PASSWORD_LOGIN)."""
    return bool(settings.RELEASEDECK_PASSWORD_LOGIN)


def sso_config() -> SsoConfig | None:
    """Single sign-on's configuration; None when it is off (no issuer or no client id)."""
    issuer = settings.RELEASEDECK_OIDC_ISSUER.strip().rstrip("/")
    client_id = settings.RELEASEDECK_OIDC_CLIENT_ID.strip()
    if not issuer or not client_id:
        return None
    return SsoConfig(
        issuer=issuer,
        client_id=client_id,
        client_secret=settings.RELEASEDECK_OIDC_CLIENT_SECRET,
        scopes=settings.RELEASEDECK_OIDC_SCOPES,
        groups_claim=settings.RELEASEDECK_OIDC_GROUPS_CLAIM,
        role_map=parse_role_map(settings.RELEASEDECK_OIDC_ROLE_MAP),
        name=settings.RELEASEDECK_OIDC_NAME or "single sign-on",
    )


def check_sso_settings() -> None:
    """Raise ImproperlyConfigured when single sign-on is half set up or its role map is wrong."""
    parse_role_map(settings.RELEASEDECK_OIDC_ROLE_MAP)
    issuer = settings.RELEASEDECK_OIDC_ISSUER.strip()
    client_id = settings.RELEASEDECK_OIDC_CLIENT_ID.strip()
    if bool(issuer) != bool(client_id):
        raise ImproperlyConfigured(
            "Single sign-on needs both RELEASEDECK_OIDC_ISSUER and RELEASEDECK_OIDC_CLIENT_ID."
        )
    if issuer and not issuer.startswith(("https://", "http://")):
        raise ImproperlyConfigured("RELEASEDECK_OIDC_ISSUER is the provider's https:// URL.")
    if "openid" not in settings.RELEASEDECK_OIDC_SCOPES.split():
        raise ImproperlyConfigured("RELEASEDECK_OIDC_SCOPES must include openid.")
    if not password_login() and not issuer:
        raise ImproperlyConfigured(
            "RELEASEDECK_PASSWORD_LOGIN is off but single sign-on is not configured: nobody "
            "could sign in. Set RELEASEDECK_OIDC_ISSUER and RELEASEDECK_OIDC_CLIENT_ID."
        )

"""What a sign-in through the identity provider changes: the person's roles follow their groups."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from apps.audit.services import audit_record

from .models import GrantSource, RoleGrant, Team
from .people import grant_snapshot
from .sso_config import RoleMap, wanted_roles

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    granted: tuple[RoleGrant, ...]
    revoked: tuple[RoleGrant, ...]


def sso_grants_sync(*, user: User, groups: Iterable[str], role_map: RoleMap) -> SyncResult:
    """Make `user`'s single sign-on grants what `groups` give through `role_map`: grant what is
    missing, revoke what no group gives any more. Grants made by hand are never touched, and a
    role already held by hand is not granted again. A mapped team that does not exist is
    skipped with a warning. Every change is an audit event by the person signing in."""
    wanted = wanted_roles(role_map, groups)
    slugs = {team for _, team in wanted if team is not None}
    with transaction.atomic():
        # Serialises two sign-ins of the same person, which would otherwise both create.
        User.objects.select_for_update().filter(pk=user.pk).first()
        teams = {team.slug: team for team in Team.objects.filter(slug__in=slugs)}
        for slug in sorted(slugs - set(teams)):
            logger.warning(
                "single sign-on maps a group to team %r, which does not exist; skipped", slug
            )
        wanted_by_place = {
            (role, teams[slug].pk if slug is not None else None): tiers
            for (role, slug), tiers in wanted.items()
            if slug is None or slug in teams
        }
        held = list(RoleGrant.objects.filter(user=user).select_related("team", "user"))
        manual = {(g.role, g.team_id) for g in held if g.source != GrantSource.SSO}
        revoked: list[RoleGrant] = []
        kept: set[tuple[str, int | None]] = set()
        for grant in held:
            if grant.source != GrantSource.SSO:
                continue
            place = (grant.role, grant.team_id)
            tiers = wanted_by_place.get(place)
            if tiers is not None and tuple(sorted(grant.tiers)) == tiers:
                kept.add(place)
                continue
            audit_record(actor=user, verb="role.revoked", obj=grant, before=grant_snapshot(grant))
            grant.delete()
            revoked.append(grant)
        granted: list[RoleGrant] = []
        by_id = {team.pk: team for team in teams.values()}
        for (role, team_id), tiers in sorted(
            wanted_by_place.items(), key=lambda item: (item[0][0], item[0][1] or 0)
        ):
            if (role, team_id) in kept or (role, team_id) in manual:
                continue
            grant = RoleGrant.objects.create(
                user=user,
                role=role,
                team=by_id.get(team_id) if team_id is not None else None,
                tiers=list(tiers),
                source=GrantSource.SSO,
            )
            audit_record(actor=user, verb="role.granted", obj=grant, after=grant_snapshot(grant))
            granted.append(grant)
    return SyncResult(granted=tuple(granted), revoked=tuple(revoked))


def sso_signed_in(
    *,
    user: User,
    subject: str,
    groups: Iterable[str],
    role_map: RoleMap,
    created: bool,
    address: str,
) -> SyncResult:
    """Record a sign-in through the identity provider and bring the person's roles in line with
    their groups, in one transaction. Only the groups the role map names are recorded: a
    directory's other groups say nothing about ReleaseDeck and can be many."""
    groups = set(groups)
    with transaction.atomic():
        audit_record(
            actor=user,
            verb="login.sso",
            obj=user,
            after={
                "username": user.get_username(),
                "subject": subject,
                "groups": sorted(groups & set(role_map)),
                "created": created,
                "address": address,
            },
        )
        return sso_grants_sync(user=user, groups=groups, role_map=role_map)

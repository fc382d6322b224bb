"""Reads behind a wave's own sign-off. Counted by the rule a release's policy uses
(`releases.rules.signoff_tally`): today's content, the release's expiry, and a signer who still
holds the role on the release."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.releases import rules
from apps.releases.models import Release
from apps.stakeholders.models import Stakeholder, StakeholderRole

from .models import SignOff, SignoffRequirement


def wave_facts(
    release: Release, *, now: datetime, wave_ids: list[int] | None = None
) -> dict[int, rules.ReleaseFacts]:
    """For each wave of `release` with its own requirement, the facts its tally reads: that
    requirement as the policy and the verdicts given for that wave. Three queries at most."""
    requirements = SignoffRequirement.objects.filter(release=release, wave__isnull=False)
    if wave_ids is not None:
        requirements = requirements.filter(wave_id__in=wave_ids)
    policy: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for wave_id, role, count in requirements.values_list("wave_id", "role__slug", "count"):
        policy[wave_id].append((role, count))
    if not policy:
        return {}
    held = set(Stakeholder.objects.filter(release=release).values_list("user_id", "role__slug"))
    verdicts: dict[int, list[rules.SignoffFact]] = defaultdict(list)
    for wave_id, signer, role, decision, fingerprint, created in SignOff.objects.filter(
        release=release, wave_id__in=list(policy)
    ).values_list("wave_id", "signer_id", "role__slug", "decision", "fingerprint", "created_at"):
        verdicts[wave_id].append(
            rules.SignoffFact(
                signer_id=signer,
                role=role,
                decision=decision,
                fingerprint=fingerprint,
                created_at=created,
                role_held=(signer, role) in held,
            )
        )
    return {
        wave_id: rules.ReleaseFacts(
            phase=release.phase,
            now=now,
            fingerprint=release.fingerprint,
            policy=tuple(sorted(lines)),
            signoff_expiry_days=release.signoff_expiry_days,
            signoffs=tuple(verdicts[wave_id]),
        )
        for wave_id, lines in policy.items()
    }


@dataclass(frozen=True)
class WaveAsk:
    """What one wave's own sign-off asks of one person."""

    wave_id: int
    tally: rules.SignoffTally
    roles: tuple[str, ...]  # the roles this person may sign it as
    decided: bool  # they gave a verdict that still counts


def wave_asks(
    user: Any, release: Release, facts: dict[int, rules.ReleaseFacts]
) -> dict[int, WaveAsk]:
    """Per wave with a requirement: its tally, and whether `user` may still sign it (by the rule
    of eligibility.signoff_roles: a stakeholder of a named role, never the owner or creator)."""
    from apps.accounts.permissions import APPROVER, holds, is_administrator

    may_sign = (
        user.is_authenticated
        and user.pk not in (release.owner_id, release.created_by_id)
        and (holds(user, {APPROVER}, release) or is_administrator(user))
    )
    mine = (
        set(
            Stakeholder.objects.filter(release=release, user=user).values_list(
                "role__slug", flat=True
            )
        )
        if may_sign and facts
        else set()
    )
    asks = {}
    for wave_id, wave in facts.items():
        roles = tuple(sorted(mine & {role for role, _ in wave.policy}))
        decided = any(s.signer_id == user.pk and rules.is_current(s, wave) for s in wave.signoffs)
        asks[wave_id] = WaveAsk(wave_id, rules.signoff_tally(wave), roles, decided)
    return asks


def wave_missing_sentences(name: str, tally: rules.SignoffTally) -> list[str]:
    """What a wave's own sign-off still lacks, as the wave's waiting reasons."""
    missing = []
    if tally.rejected:
        missing.append(f"{name}: a stakeholder rejected this wave")
    labels = (
        dict(StakeholderRole.objects.filter(slug__in=tally.missing).values_list("slug", "name"))
        if tally.missing
        else {}
    )
    for role, count in tally.missing.items():
        phrase = rules.role_phrase(labels.get(role) or role.replace("_", " "))
        plural = "" if count == 1 else "s"
        missing.append(f"{name}: needs {count} more {phrase} approval{plural} before it starts")
    return missing

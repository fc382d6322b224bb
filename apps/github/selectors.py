"""Reads behind a deployment protection verdict: which release names a commit, which
environment GitHub means, and the facts the verdict rule reads."""

import re
from collections.abc import Iterable
from dataclasses import replace

from django.conf import settings
from django.db.models.functions import Lower

from apps.audit.models import AuditEvent
from apps.environments.models import Environment
from apps.releases.models import Release
from apps.rollouts.models import Wave
from apps.signoffs.models import Decision, SignOff

from . import rules
from .models import DeploymentProtectionRequest

# A release names its commit in its build reference: `git:<sha>` (the full sha, or at least 7
# of its first hex digits) or `git:<tag or branch>`. The build reference is part of the content
# a sign-off is bound to, so a new commit makes earlier sign-offs stale.
PREFIX = "git:"
MIN_SHA = 7
_HEX = re.compile(r"^[0-9a-f]{7,64}$")


def _mapping(value: str | dict[str, str]) -> dict[str, str]:
    """`a=b,c=d` (or a dict, from a settings file) as a dict."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    found = {}
    for pair in value.split(","):
        key, sep, target = pair.partition("=")
        if sep and key.strip() and target.strip():
            found[key.strip()] = target.strip()
    return found


def commit_names(sha: str, ref: str) -> set[str]:
    """Every build reference that names this sha or ref, lowercased."""
    names = set()
    sha = sha.strip().lower()
    if _HEX.match(sha):
        names |= {PREFIX + sha[:n] for n in range(MIN_SHA, len(sha) + 1)}
    ref = ref.strip()
    if ref:
        short = ref.removeprefix("refs/tags/").removeprefix("refs/heads/")
        names |= {PREFIX + ref.lower(), PREFIX + short.lower()}
    return names


def names_commit(release: Release, sha: str, ref: str) -> bool:
    return release.build_ref.strip().lower() in commit_names(sha, ref)


def releases_naming(sha: str, ref: str, repository: str) -> list[Release]:
    """The releases whose build reference names the commit, newest first; only the mapped
    application's when RELEASEDECK_GITHUB_REPOSITORIES maps the repository to one."""
    names = commit_names(sha, ref)
    if not names:
        return []
    releases = (
        Release.objects.annotate(build=Lower("build_ref"))
        .filter(build__in=sorted(names))
        .select_related("application")
        .order_by("-created_at", "-pk")
    )
    application = _mapping(settings.RELEASEDECK_GITHUB_REPOSITORIES).get(repository)
    if application:
        releases = releases.filter(application__slug=application)
    return list(releases[:10])


def environment_for(name: str) -> Environment | None:
    """The environment GitHub's environment `name` stands for: as RELEASEDECK_GITHUB_ENVIRONMENTS
    maps it, else the one of the same name."""
    target = _mapping(settings.RELEASEDECK_GITHUB_ENVIRONMENTS).get(name, name)
    return Environment.objects.filter(name__iexact=target.strip()).first()


def release_label(release: Release) -> str:
    return f"{release.name} ({release.version})"


def _who(rows: Iterable[SignOff], *, comments: bool = False) -> tuple[str, ...]:
    said = []
    for row in rows:
        name = row.signer.get_full_name() or row.signer.get_username()
        text = f"{name} ({row.role.name})"
        if comments and row.comment:
            text += f": {row.comment}"
        said.append(text)
    return tuple(said)


def _verdicts(release: Release, decision: str, wave: Wave | None) -> list[SignOff]:
    rows = SignOff.objects.filter(
        release=release, decision=decision, fingerprint=release.fingerprint
    ).select_related("signer", "role")
    rows = rows.filter(wave=wave) if wave is not None else rows.filter(wave__isnull=True)
    return list(rows.order_by("created_at", "pk"))


def _phase_reason(release: Release) -> str:
    """Why the release is in its phase, as the move into it was recorded."""
    return (
        AuditEvent.objects.filter(
            release_id=release.pk,
            verb__in=["release.moved", "release.override_moved"],
            after__phase=release.phase,
        )
        .order_by("-pk")
        .values_list("reason", flat=True)
        .first()
        or ""
    )


def gate_facts(request: DeploymentProtectionRequest) -> rules.GateFacts:
    """What the verdict on `request` reads, now."""
    base = rules.GateFacts(
        commit=request.sha[:12] or request.ref or "this commit",
        environment=request.environment_name,
        environment_known=request.environment_id is not None,
    )
    release = request.release
    if release is None or request.environment_id is None:
        if release is not None:  # the environment is unknown, which the verdict says
            return replace(base, release=release_label(release))
        found = releases_naming(request.sha, request.ref, request.repository)
        labels = tuple(release_label(r) for r in found)
        return replace(base, ambiguous=labels if len(labels) > 1 else ())
    waves = list(
        Wave.objects.filter(plan__release=release, environment_id=request.environment_id).order_by(
            "position"
        )
    )
    wave_facts = []
    for n, wave in enumerate(waves):
        first_live = n == next((i for i, w in enumerate(waves) if w.state != "skipped"), -1)
        wave_facts.append(
            rules.WaveFact(
                name=wave.name,
                state=wave.state,
                state_reason=wave.state_reason,
                # Who signed matters only for the wave the answer is about.
                approvals=_who(_verdicts(release, Decision.APPROVE, wave)) if first_live else (),
                rejections=(
                    _who(_verdicts(release, Decision.REJECT, wave), comments=True)
                    if first_live
                    else ()
                ),
            )
        )
    return replace(
        base,
        release=release_label(release),
        names_commit=names_commit(release, request.sha, request.ref),
        phase=release.phase,
        phase_reason=_phase_reason(release) if release.phase in rules.ENDED_RELEASE else "",
        waves=tuple(wave_facts),
        approvals=_who(_verdicts(release, Decision.APPROVE, None)),
    )

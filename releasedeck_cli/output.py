"""What the commands print: a short text for people, or with --json the API's answer as is."""

import json
import sys
from typing import Any

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def blockers_text(blockers: list[dict[str, Any]]) -> str:
    return "\n".join(f"  - {b.get('message', '')} [{b.get('code', '?')}]" for b in blockers)


def note(text: str) -> None:
    """Progress for people, on stderr so stdout stays the answer."""
    click.echo(text, err=True)


def release_text(release: dict[str, Any]) -> str:
    app = release.get("application") or {}
    owner = (release.get("owner") or {}).get("username", "")
    lines = [
        f"Release {release['id']}: {release['name']} ({app.get('name', '')})",
        f"  version   {release['version']}",
        f"  build     {release.get('build_ref') or '-'}",
        f"  phase     {release['phase']} since {release.get('phase_entered_at')}",
        f"  owner     {owner or '-'}",
        f"  planned   {release.get('planned_start') or '-'} → {release.get('planned_end') or '-'}",
    ]
    if release.get("scope"):
        lines.append("  scope     " + release["scope"].replace("\n", "\n            "))
    return "\n".join(lines)


def status_text(status: dict[str, Any]) -> str:
    s = status.get("signoffs") or {}
    lines = [
        f"Release {status['id']}: {status['name']} {status['version']} ({status['application']})",
        f"  phase     {status['phase']} ({status.get('progress', 0)} %)",
        f"  sign-offs {s.get('approved', 0)}/{s.get('required', 0)} approved, "
        f"{s.get('rejected', 0)} rejected, {s.get('stale', 0)} stale",
    ]
    if status.get("blockers"):
        lines.append("  blockers (next move):")
        lines.append(blockers_text(status["blockers"]))
    for wave in status.get("waves") or []:
        lines.append(
            f"  wave {wave['id']:>5}  {wave['name']:<24} {wave['environment']:<16} "
            f"{wave['percentage']:>3} %  {wave['state']}"
        )
    return "\n".join(lines)


def is_tty() -> bool:
    return sys.stdout.isatty()

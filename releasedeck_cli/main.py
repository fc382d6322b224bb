"""The `releasedeck` command line: log in, create and inspect releases, wait on a gate, sign
off, report a deploy and export the audit trail."""

import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click

from . import __version__, config, gate, output
from .client import Api, answer, json_body, sign
from .errors import EXIT_CODES_HELP, CliError, Exit

PHASES = [
    "planning",
    "preparation",
    "testing",
    "rollout",
    "support",
    "completed",
    "cancelled",
    "rolled_back",
]

ENVIRONMENT_HELP = """\b
Environment:
  RELEASEDECK_URL            server, e.g. https://releasedeck.example.com
  RELEASEDECK_TOKEN          API token (overrides the config file)
  RELEASEDECK_DEPLOY_SECRET  an environment's deploy secret, for `wave report`
  RELEASEDECK_REPORT_URL     a deploy call's report_url, for `wave report`
  XDG_CONFIG_HOME            where releasedeck/config.toml lives (~/.config)"""


class Cli(click.Group):
    """Expected failures end with their message and exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            if ctx.meta.get("json"):
                output.emit_json(exc.as_json())
            click.echo(f"releasedeck: {exc.message}", err=True)
            if exc.blockers:
                click.echo(output.blockers_text(exc.blockers), err=True)
            ctx.exit(int(exc.code))


def _remember_json(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["json"] = True
    return value


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        callback=_remember_json,
        help="Print the machine-readable answer (JSON) on stdout.",
    )(f)


@click.group(cls=Cli, epilog=EXIT_CODES_HELP + "\n\n" + ENVIRONMENT_HELP)
@click.option("--url", metavar="URL", help="Server URL (else RELEASEDECK_URL, else login's).")
@click.option("--token", metavar="TOKEN", help="API token (else RELEASEDECK_TOKEN, else login's).")
@click.version_option(__version__, prog_name="releasedeck")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Drive ReleaseDeck from a pipeline through its REST API."""
    ctx.obj = {"url": url, "token": token}


def connect(ctx: click.Context) -> Api:
    opts = ctx.find_root().obj or {}
    settings = config.load(opts.get("url"), opts.get("token"))
    api = Api(settings.url, settings.token)
    ctx.call_on_close(api.close)
    return api


def _echo(as_json: bool, data: Any, text: str | Callable[[], str]) -> None:
    """The answer as JSON, or as text for people (built only then, from what the API sent)."""
    if as_json:
        output.emit_json(data)
    else:
        click.echo(text() if callable(text) else text)


# Login


@cli.command()
@click.option("--url", "login_url", metavar="URL", help="Server URL; asked for if not given.")
@click.option("--token", "login_token", metavar="TOKEN", help="API token; asked for if not given.")
@json_option
@click.pass_context
def login(
    ctx: click.Context, login_url: str | None, login_token: str | None, as_json: bool
) -> None:
    """Check a server URL and API token with the server and store them (mode 0600).

    The token is asked for without echoing it (or read from stdin when piped); a --token on
    the command line is visible to others on the machine while it runs.
    """
    opts = ctx.find_root().obj or {}
    stored = config.read_file()
    url = login_url or opts.get("url") or os.environ.get(config.URL_VARIABLE)
    token = login_token or opts.get("token") or os.environ.get(config.TOKEN_VARIABLE)
    try:
        if not url:
            url = click.prompt("Server URL", default=stored.get("url"))
        if not token:
            token = click.prompt("API token", hide_input=True)
    except click.Abort:
        raise CliError("Give --url and --token, or answer the questions.", Exit.USAGE) from None
    url = config.normalise_url(str(url))
    api = Api(url, str(token))
    ctx.call_on_close(api.close)
    me = api.get("/me/")
    path = config.save(config.Settings(url=url, token=str(token)))
    user = me.get("user") or {}
    roles = ", ".join(user.get("roles") or []) or "no roles"
    _echo(
        as_json,
        {"url": url, "me": me, "config": str(path)},
        f"Signed in to {url} as {user.get('username')} ({roles}). Saved in {path}.",
    )


# Releases


@cli.group()
def release() -> None:
    """Create and look at releases."""


def _application(api: Api, ref: str) -> dict[str, Any]:
    if ref.isdigit():
        return dict(api.get(f"/applications/{ref}/"))
    found = api.get("/applications/", slug=ref).get("results") or []
    if not found:
        raise CliError(f"No application with slug {ref!r}.", Exit.REFUSED, status=404)
    return dict(found[0])


@release.command("create")
@click.option("--application", "-a", required=True, help="Application id or slug.")
@click.option("--version", "-v", "version", required=True, help="Version, e.g. 2.1.0.")
@click.option("--name", help="Release name; `<application> <version>` by default.")
@click.option("--build", "build_ref", default="", help="Build reference, e.g. git:3f2c1ab.")
@click.option("--scope", default="", help="What the release changes.")
@click.option("--planned-start", metavar="ISO", help="Planned start, e.g. 2026-12-01T08:00Z.")
@click.option("--planned-end", metavar="ISO", help="Planned end.")
@json_option
@click.pass_context
def release_create(
    ctx: click.Context,
    application: str,
    version: str,
    name: str | None,
    build_ref: str,
    scope: str,
    planned_start: str | None,
    planned_end: str | None,
    as_json: bool,
) -> None:
    """Create a release (it starts in planning) and print its id."""
    api = connect(ctx)
    app = _application(api, application)
    body: dict[str, Any] = {
        "application": app["id"],
        "name": name or f"{app['name']} {version}",
        "version": version,
        "build_ref": build_ref,
        "scope": scope,
    }
    if planned_start:
        body["planned_start"] = planned_start
    if planned_end:
        body["planned_end"] = planned_end
    _, created = api.post("/releases/", body)
    _echo(as_json, created, str(created["id"]))


@release.command("show")
@click.argument("release_id", metavar="RELEASE", type=int)
@json_option
@click.pass_context
def release_show(ctx: click.Context, release_id: int, as_json: bool) -> None:
    """A release's details."""
    data = connect(ctx).get(f"/releases/{release_id}/")
    _echo(as_json, data, lambda: output.release_text(data))


@release.command("status")
@click.argument("release_id", metavar="RELEASE", type=int)
@json_option
@click.pass_context
def release_status(ctx: click.Context, release_id: int, as_json: bool) -> None:
    """Phase, the next move's blockers, sign-off counts and waves."""
    data = connect(ctx).get(f"/releases/{release_id}/status/")
    _echo(as_json, data, lambda: output.status_text(data))


# Gates


class Duration(click.ParamType):
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float | int):
            return float(value)
        try:
            return gate.parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@cli.group("gate")
def gate_group() -> None:
    """Wait for a release to pass a gate."""


@gate_group.command("wait")
@click.argument("release_id", metavar="RELEASE", type=int)
@click.option("--to", "target", required=True, type=click.Choice(PHASES), help="Target phase.")
@click.option(
    "--timeout", type=Duration(), default="30m", show_default=True, help="e.g. 90s, 30m, 2h."
)
@click.option(
    "--interval", type=Duration(), default="5s", show_default=True, help="How often to look."
)
@click.option(
    "--no-request",
    is_flag=True,
    help="Only watch the status; never ask for the move (for tokens that may not move phases).",
)
@click.option("--fail-fast", is_flag=True, help="Exit 1 at the first refusal instead of waiting.")
@json_option
@click.pass_context
def gate_wait(
    ctx: click.Context,
    release_id: int,
    target: str,
    timeout: float,
    interval: float,
    no_request: bool,
    fail_fast: bool,
    as_json: bool,
) -> None:
    """Exit 0 once RELEASE is in the target phase.

    When the target is the next phase, asks for the move through the API whenever the gate
    holds and watches the status while a worker carries it out; a phase further ahead it only
    watches for. While the gate has blockers (a sign-off missing, a defect open) it
    keeps waiting; a rejection, or a move not possible from the current phase, ends the wait at
    once (exit 1). When the time runs out it exits 4. Either way it prints the blockers.
    """
    api = connect(ctx)

    def show(blockers: list[dict[str, Any]]) -> None:
        output.note(f"Waiting for release {release_id} to reach {target}; blocked by:")
        output.note(output.blockers_text(blockers))

    outcome = gate.wait(
        api,
        release_id,
        target,
        timeout=timeout,
        interval=max(interval, 0.1),
        request=not no_request,
        keep_waiting=not fail_fast,
        on_blockers=show,
        on_retry=lambda exc: output.note(f"{exc.message} Trying again."),
    )
    data = {
        "release": release_id,
        "to": target,
        "result": outcome.result,
        "phase": outcome.phase,
        "blockers": outcome.blockers,
        "move": outcome.move,
    }
    if outcome.result == "reached":
        text = f"Release {release_id} is in {target}."
    elif outcome.result == "refused":
        text = f"Release {release_id} cannot move to {target} (it is in {outcome.phase}):\n"
        text += output.blockers_text(outcome.blockers)
    else:
        text = f"Timed out: release {release_id} is still in {outcome.phase}, not {target}."
        if outcome.blockers:
            text += "\n" + output.blockers_text(outcome.blockers)
    _echo(as_json, data, text)
    ctx.exit(int(outcome.exit_code))


# Sign-offs


@cli.group()
def signoff() -> None:
    """Approve or reject a release's current content."""


def _signoff_command(decision: str) -> click.Command:
    @click.command(decision)
    @click.argument("release_id", metavar="RELEASE", type=int)
    @click.option("--comment", "-m", default="", help="Why (required to reject).")
    @click.option("--role", help="The stakeholder role, if you hold several on this release.")
    @json_option
    @click.pass_context
    def command(
        ctx: click.Context, release_id: int, comment: str, role: str | None, as_json: bool
    ) -> None:
        body: dict[str, Any] = {"decision": decision, "comment": comment}
        if role:
            body["role"] = role
        status, data = connect(ctx).post(f"/releases/{release_id}/signoffs/", body)
        verb = "Approved" if decision == "approve" else "Rejected"
        again = " (given before)" if status == 200 else ""
        _echo(
            as_json,
            data,
            f"{verb} release {release_id} as {data.get('role')}: sign-off {data['id']}{again}.",
        )

    command.help = f"{decision.capitalize()} RELEASE as its stakeholder."
    return command


signoff.add_command(_signoff_command("approve"))
signoff.add_command(_signoff_command("reject"))


# Waves


@cli.group()
def wave() -> None:
    """Report a deploy's outcome to a wave."""


OPEN_CALL_STATES = ("pending", "sending", "sent")


def _open_call_key(ctx: click.Context, wave_id: int, action: str) -> str:
    """The key of the call the wave waits on, read with the signed-in person's token."""
    try:
        api = connect(ctx)
    except CliError as exc:
        raise CliError(
            f"Give --key (the `key` of the deploy request), or log in so it can be looked up: "
            f"{exc.message}",
            Exit.USAGE,
        ) from exc
    calls = api.get(f"/waves/{wave_id}/deploy-calls/").get("results") or []
    for call in calls:
        if call.get("action") == action and call.get("state") in OPEN_CALL_STATES:
            if not call.get("key"):
                raise CliError(
                    "Your token may not see deploy call keys (operators may): give --key.",
                    Exit.AUTH,
                )
            return str(call["key"])
    raise CliError(f"Wave {wave_id} waits on no {action} call.", Exit.REFUSED)


def _from_report_url(report_url: str) -> tuple[str, int, str]:
    """(server URL, wave id, token) from a call's report_url."""
    parts = urlsplit(report_url)
    match = re.fullmatch(r"(.*)/api/v1/waves/([0-9]+)/report/?", parts.path)
    token = (parse_qs(parts.query).get("token") or [""])[0]
    if not (parts.scheme in ("http", "https") and parts.netloc and match and token):
        raise CliError(
            "--report-url must be a deploy call's report_url "
            "(…/api/v1/waves/<id>/report/?token=…).",
            Exit.USAGE,
        )
    return f"{parts.scheme}://{parts.netloc}{match.group(1)}", int(match.group(2)), token


@wave.command("report")
@click.argument("wave_id", metavar="[WAVE]", type=int, required=False)
@click.option(
    "--state",
    required=True,
    type=click.Choice(["succeeded", "failed", "in_progress"]),
    help="What happened to the deploy.",
)
@click.option("--message", default="", help="A sentence for the people watching.")
@click.option("--key", help="The deploy request's `key`; looked up when logged in as an operator.")
@click.option(
    "--action", type=click.Choice(["deploy", "rollback"]), default="deploy", show_default=True
)
@click.option(
    "--report-url",
    envvar="RELEASEDECK_REPORT_URL",
    help="The deploy request's report_url: authenticates this one call.",
)
@click.option(
    "--deploy-secret",
    envvar="RELEASEDECK_DEPLOY_SECRET",
    help="The environment's deploy secret: the report is signed with it.",
)
@json_option
@click.pass_context
def wave_report(
    ctx: click.Context,
    wave_id: int | None,
    state: str,
    message: str,
    key: str | None,
    action: str,
    report_url: str | None,
    deploy_secret: str | None,
    as_json: bool,
) -> None:
    """Report the outcome of a deploy ReleaseDeck asked for (webhook waves).

    A deploy tool's report, not a person's: it is authenticated by the call's --report-url or
    signed with the environment's --deploy-secret, never by your login token.
    """
    params: dict[str, str] = {}
    if report_url:
        url, url_wave, params["token"] = _from_report_url(report_url)
        if wave_id is not None and wave_id != url_wave:
            raise CliError(f"The report URL is for wave {url_wave}, not {wave_id}.", Exit.USAGE)
        wave_id = url_wave
    elif deploy_secret:
        if wave_id is None:
            raise CliError("Name the WAVE (or give --report-url).", Exit.USAGE)
        opts = ctx.find_root().obj or {}
        url = config.normalise_url(
            opts.get("url")
            or os.environ.get(config.URL_VARIABLE)
            or config.read_file().get("url")
            or ""
        )
    else:
        raise CliError(
            "Authenticate the report with --report-url or --deploy-secret "
            "(or RELEASEDECK_REPORT_URL / RELEASEDECK_DEPLOY_SECRET).",
            Exit.USAGE,
        )
    key = key or _open_call_key(ctx, wave_id, action)
    body = json_body({"status": state, "message": message, "key": key, "action": action})
    headers = sign(body, deploy_secret) if not report_url and deploy_secret else {}
    headers.setdefault("Content-Type", "application/json")
    api = Api(url, None)
    ctx.call_on_close(api.close)
    with api.errors():
        response = api.http.post(
            f"/waves/{wave_id}/report/", content=body, headers=headers, params=params
        )
    call = answer(response)
    _echo(as_json, call, f"Reported {state} on wave {wave_id} ({action} call {call.get('id')}).")


# Audit


def _moment(text: str | None) -> str | None:
    """An ISO 8601 moment as given, or one that long ago: 7d, 12h, 30m."""
    if not text:
        return None
    try:
        seconds = gate.parse_duration(text)
    except ValueError:
        return text
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


@cli.group()
def audit() -> None:
    """The audit trail."""


@audit.command("export")
@click.option("--since", metavar="WHEN", help="ISO 8601 moment, or an age such as 7d or 12h.")
@click.option("--until", metavar="WHEN", help="ISO 8601 moment, or an age.")
@click.option("--release", "release_id", type=int, help="Only this release's events.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option(
    "--output",
    "-o",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write; stdout by default.",
)
@json_option
@click.pass_context
def audit_export(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    release_id: int | None,
    fmt: str,
    output_path: Path | None,
    as_json: bool,
) -> None:
    """Download events, oldest first, as the server's JSON document (with its signed
    checkpoint) or as CSV. With -o and --json, prints where it went and its size."""
    api = connect(ctx)
    params = {"as": fmt, "at_after": _moment(since), "at_before": _moment(until)}
    params["release"] = str(release_id) if release_id else None
    with api.stream("/audit-events/export/", **params) as response:
        if output_path is None:
            stdout = sys.stdout.buffer
            with api.errors():
                for chunk in response.iter_bytes():
                    stdout.write(chunk)
            stdout.flush()
            return
        # Written beside the target and renamed, so a broken download never looks complete.
        partial = output_path.with_name(output_path.name + ".part")
        size = 0
        try:
            with partial.open("wb") as f, api.errors():
                for chunk in response.iter_bytes():
                    f.write(chunk)
                    size += len(chunk)
            partial.replace(output_path)
        except OSError as exc:
            raise CliError(f"Cannot write {output_path}: {exc}", Exit.USAGE) from exc
        finally:
            partial.unlink(missing_ok=True)
    _echo(
        as_json,
        {"file": str(output_path), "bytes": size, "format": fmt},
        f"Wrote {size} bytes of {fmt} to {output_path}.",
    )


def _document_exit_codes(group: click.Group) -> None:
    """Every command's --help ends with the exit codes, as the top-level help does."""
    for command in group.commands.values():
        command.epilog = command.epilog or EXIT_CODES_HELP
        if isinstance(command, click.Group):
            _document_exit_codes(command)


_document_exit_codes(cli)


def run() -> None:
    cli(prog_name="releasedeck")

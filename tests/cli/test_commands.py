"""The command line against answers from httpx.MockTransport: arguments, output and exit
codes. No server, no database."""

import json
import stat
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from releasedeck_cli import gate, main
from releasedeck_cli.client import Api

URL = "http://releasedeck.test"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("RELEASEDECK_URL", "RELEASEDECK_TOKEN", "RELEASEDECK_DEPLOY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RELEASEDECK_REPORT_URL", raising=False)
    return tmp_path


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], list[httpx.Request]]:
    """Answer the client's requests with `handler`; returns the list of requests seen."""

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        monkeypatch.setattr(main, "Api", partial(Api, transport=httpx.MockTransport(record)))
        return seen

    return install


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    base = {"RELEASEDECK_URL": URL, "RELEASEDECK_TOKEN": "k3y"}
    return CliRunner().invoke(main.cli, list(args), env={**base, **(env or {})})


ME = {"user": {"id": 1, "username": "rita", "roles": ["release_manager"]}}


def test_login_stores_url_and_token_readable_by_the_owner_only(home, serve):
    seen = serve(lambda r: httpx.Response(200, json=ME))
    result = CliRunner().invoke(main.cli, ["login", "--url", URL + "/", "--token", "s3cret"])
    assert result.exit_code == 0, result.output
    path = home / "config" / "releasedeck" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == f'url = "{URL}"\ntoken = "s3cret"\n'
    assert seen[0].url == URL + "/api/v1/me/"
    assert seen[0].headers["Authorization"] == "Token s3cret"
    assert "as rita" in result.stdout


def test_login_asks_for_what_it_was_not_given(home, serve):
    serve(lambda r: httpx.Response(200, json=ME))
    result = CliRunner().invoke(main.cli, ["login"], input=f"{URL}\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output  # the token is not echoed
    assert (home / "config" / "releasedeck" / "config.toml").exists()


def test_login_with_a_bad_token_stores_nothing_and_exits_3(home, serve):
    serve(lambda r: httpx.Response(401, json={"detail": "Invalid token."}))
    result = CliRunner().invoke(main.cli, ["login", "--url", URL, "--token", "nope"])
    assert result.exit_code == 3
    assert "Invalid token." in result.stderr
    assert "Traceback" not in result.output
    assert not (home / "config" / "releasedeck" / "config.toml").exists()


def test_environment_overrides_the_config_file(home, serve):
    seen = serve(lambda r: httpx.Response(200, json=ME))
    CliRunner().invoke(main.cli, ["login", "--url", "http://old.test", "--token", "old"])
    result = run("release", "status", "7", "--json")
    assert seen[-1].url.host == "releasedeck.test"
    assert seen[-1].headers["Authorization"] == "Token k3y"
    assert result.exit_code == 0


def test_no_configuration_is_a_usage_error(home):
    result = CliRunner().invoke(main.cli, ["release", "show", "1"])
    assert result.exit_code == 2
    assert "releasedeck login" in result.stderr


def test_usage_errors_exit_2(home):
    assert run("release", "show", "not-a-number").exit_code == 2
    assert run("gate", "wait", "1", "--to", "nowhere").exit_code == 2
    assert run("gate", "wait", "1", "--to", "rollout", "--timeout", "soon").exit_code == 2
    assert run("wave", "report", "3", "--state", "succeeded").exit_code == 2


def test_help_documents_the_exit_codes(home):
    result = run("--help")
    assert "Exit codes:" in result.stdout
    assert "4  timed out waiting" in result.stdout


def test_release_create_resolves_the_application_slug(home, serve):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/applications/":
            assert request.url.params["slug"] == "crm"
            return httpx.Response(200, json={"results": [{"id": 4, "name": "CRM", "slug": "crm"}]})
        return httpx.Response(201, json={"id": 31, **json.loads(request.content)})

    seen = serve(answer)
    result = run("release", "create", "-a", "crm", "--version", "2.1.0", "--build", "git:abc")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "31"
    assert json.loads(seen[-1].content) == {
        "application": 4,
        "name": "CRM 2.1.0",
        "version": "2.1.0",
        "build_ref": "git:abc",
        "scope": "",
    }


def test_a_refusal_prints_the_api_message_and_exits_1(home, serve):
    body = {"detail": "version: This field may not be blank.", "field": "version"}
    serve(lambda r: httpx.Response(400, json=body))
    result = run("signoff", "approve", "5", "--json")
    assert result.exit_code == 1
    assert "version: This field may not be blank." in result.stderr
    assert json.loads(result.stdout) == {
        "error": "version: This field may not be blank.",
        "exit_code": 1,
        "status": 400,
    }


def test_a_server_error_or_a_page_that_is_not_the_api_exits_5(home, serve):
    serve(lambda r: httpx.Response(502, text="<html>Bad gateway</html>"))
    result = run("release", "show", "1")
    assert result.exit_code == 5
    assert "502" in result.stderr
    serve(lambda r: httpx.Response(200, text="<html>login</html>"))
    assert run("release", "show", "1").exit_code == 5


def test_a_server_that_cannot_be_reached_is_explained(home, serve):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    serve(refuse)
    result = run("release", "status", "1")
    assert result.exit_code == 5
    assert f"Cannot connect to {URL}" in result.stderr
    assert "Traceback" not in result.output


def test_signoff_reject_sends_the_comment(home, serve):
    seen = serve(lambda r: httpx.Response(201, json={"id": 9, "role": "qa", "decision": "reject"}))
    result = run("signoff", "reject", "5", "--comment", "Invoices broken")
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0].content) == {"decision": "reject", "comment": "Invoices broken"}
    assert "Rejected release 5 as qa" in result.stdout


# gate wait


class Script:
    """A release whose status and transition answers follow a script."""

    def __init__(self, statuses: list[dict[str, Any]], transition: list[httpx.Response]) -> None:
        self.statuses = statuses
        self.transition = transition
        self.moves: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/status/"):
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return httpx.Response(200, json=status)
        if path.endswith("/transition/"):
            return self.transition.pop(0) if len(self.transition) > 1 else self.transition[0]
        if path.startswith("/api/v1/moves/"):
            return httpx.Response(200, json=self.moves.pop(0))
        return httpx.Response(404, json={"detail": "Not found."})


def status(phase: str, *blockers: str) -> dict[str, Any]:
    return {
        "id": 5,
        "phase": phase,
        "blockers": [{"code": b, "message": f"{b}."} for b in blockers],
    }


SIGNOFF_MISSING = httpx.Response(
    409,
    json={
        "detail": "The release cannot move to rollout now.",
        "blockers": [{"code": "signoff_missing", "message": "1 approval from QA."}],
    },
)


def test_gate_wait_asks_for_the_move_once_the_blockers_clear(home, serve):
    script = Script(
        [
            status("testing", "signoff_missing"),
            status("testing"),
            status("testing"),
            status("rollout"),
        ],
        [SIGNOFF_MISSING, httpx.Response(202, json={"id": 8, "state": "pending"})],
    )
    script.moves = [{"id": 8, "state": "done"}]
    seen = serve(script)
    result = run("gate", "wait", "5", "--to", "rollout", "--interval", "0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["result"] == "reached"
    posts = [r for r in seen if r.method == "POST"]
    assert [json.loads(p.content) for p in posts] == [{"to": "rollout"}, {"to": "rollout"}]
    assert "1 approval from QA. [signoff_missing]" in result.stderr


def test_gate_wait_times_out_with_exit_4_and_the_blockers(home, serve):
    serve(Script([status("testing", "signoff_missing")], [SIGNOFF_MISSING]))
    result = run("gate", "wait", "5", "--to", "rollout", "--timeout", "0.3", "--interval", "0.1")
    assert result.exit_code == 4
    assert "Timed out" in result.stdout
    assert "signoff_missing" in result.stdout


def test_gate_wait_stops_at_a_rejection_with_exit_1(home, serve):
    rejected = httpx.Response(
        409,
        json={
            "detail": "The release cannot move to rollout now.",
            "blockers": [{"code": "signoff_rejected", "message": "A stakeholder rejected this."}],
        },
    )
    serve(Script([status("testing", "signoff_rejected")], [rejected]))
    result = run("gate", "wait", "5", "--to", "rollout", "--timeout", "1h")
    assert result.exit_code == 1
    assert "A stakeholder rejected this." in result.stdout


def test_gate_wait_fail_fast_gives_up_at_the_first_refusal(home, serve):
    serve(Script([status("testing", "signoff_missing")], [SIGNOFF_MISSING]))
    result = run("gate", "wait", "5", "--to", "rollout", "--fail-fast")
    assert result.exit_code == 1


def test_gate_wait_without_requests_only_watches(home, serve):
    seen = serve(Script([status("testing"), status("rollout")], [SIGNOFF_MISSING]))
    result = run("gate", "wait", "5", "--to", "rollout", "--no-request", "--interval", "0")
    assert result.exit_code == 0
    assert all(r.method == "GET" for r in seen)


def test_gate_wait_refuses_a_phase_the_release_has_passed(home, serve):
    serve(Script([status("cancelled")], [SIGNOFF_MISSING]))
    result = run("gate", "wait", "5", "--to", "rollout")
    assert result.exit_code == 1


def test_gate_wait_retries_a_move_the_worker_refused(home, serve):
    script = Script(
        [status("testing"), status("testing"), status("testing"), status("rollout")],
        [httpx.Response(202, json={"id": 8, "state": "pending"})],
    )
    script.moves = [{"id": 8, "state": "refused", "blockers": [{"code": "defect_open"}]}]
    seen = serve(script)
    result = run("gate", "wait", "5", "--to", "rollout", "--interval", "0")
    assert result.exit_code == 0, result.output
    assert len([r for r in seen if r.method == "POST"]) == 2


@pytest.mark.parametrize(
    "text, seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)]
)
def test_durations(text, seconds):
    assert gate.parse_duration(text) == seconds


# wave report


def test_wave_report_through_the_report_url_sends_no_login_token(home, serve):
    seen = serve(lambda r: httpx.Response(200, json={"id": 3, "state": "succeeded"}))
    report_url = f"{URL}/api/v1/waves/12/report/?token=abc"
    result = run(
        "wave", "report", "--report-url", report_url, "--key", "k-1", "--state", "succeeded"
    )
    assert result.exit_code == 0, result.output
    request = seen[0]
    assert request.url == report_url
    assert "Authorization" not in request.headers
    assert json.loads(request.content) == {
        "status": "succeeded",
        "message": "",
        "key": "k-1",
        "action": "deploy",
    }


def test_wave_report_signed_with_the_deploy_secret_finds_the_open_call(home, serve):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            calls = [
                {"id": 2, "action": "deploy", "state": "sent", "key": "k-2"},
                {"id": 1, "action": "deploy", "state": "succeeded", "key": "k-1"},
            ]
            return httpx.Response(200, json={"results": calls})
        return httpx.Response(200, json={"id": 2, "state": "failed"})

    seen = serve(answer)
    result = run(
        "wave", "report", "12", "--state", "failed", env={"RELEASEDECK_DEPLOY_SECRET": "s3"}
    )
    assert result.exit_code == 0, result.output
    post = seen[-1]
    assert json.loads(post.content)["key"] == "k-2"
    assert post.headers["X-ReleaseDeck-Signature"].startswith("sha256=")
    assert "Authorization" not in post.headers


def test_wave_report_with_a_mismatched_wave_is_a_usage_error(home):
    url = f"{URL}/api/v1/waves/12/report/?token=abc"
    result = run("wave", "report", "13", "--report-url", url, "--key", "k", "--state", "failed")
    assert result.exit_code == 2


# audit export


def test_audit_export_writes_the_file_whole(home, serve, tmp_path):
    seen = serve(lambda r: httpx.Response(200, text="id,at\n1,2026-12-01\n"))
    target = tmp_path / "audit.csv"
    result = run("audit", "export", "--format", "csv", "--since", "7d", "-o", str(target), "--json")
    assert result.exit_code == 0, result.output
    assert target.read_text() == "id,at\n1,2026-12-01\n"
    assert json.loads(result.stdout) == {"file": str(target), "bytes": 19, "format": "csv"}
    assert seen[0].url.params["as"] == "csv"
    assert "at_after" in seen[0].url.params
    assert not list(tmp_path.glob("*.part"))


def test_audit_export_refused_leaves_no_file(home, serve, tmp_path):
    serve(lambda r: httpx.Response(403, json={"detail": "You may not read the audit trail."}))
    target = tmp_path / "audit.json"
    result = run("audit", "export", "-o", str(target))
    assert result.exit_code == 3
    assert "may not read" in result.stderr
    assert not target.exists()
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_every_command_documents_the_exit_codes(home):
    for args in (["gate", "wait"], ["wave", "report"], ["signoff", "reject"], ["login"]):
        result = run(*args, "--help")
        assert "Exit codes:" in result.stdout, args


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_any_token_reads_back_from_the_config_file(value):
    import tomllib

    from releasedeck_cli.config import toml_string

    assert tomllib.loads(f"token = {toml_string(value)}\n") == {"token": value}


def test_a_transient_server_error_during_a_wait_is_tried_again(home, serve):
    answers = [httpx.Response(503, json={"detail": "Try again shortly."})]

    def flaky(request: httpx.Request) -> httpx.Response:
        if answers:
            return answers.pop()
        return httpx.Response(200, json=status("rollout"))

    serve(flaky)
    result = run("gate", "wait", "5", "--to", "rollout", "--interval", "0")
    assert result.exit_code == 0, result.output
    assert "Try again shortly. Trying again." in result.stderr


def test_a_token_that_may_not_move_phases_is_told_about_no_request(home, serve):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(403, json={"detail": "You may not move this release."})
        return httpx.Response(200, json=status("testing"))

    serve(answer)
    result = run("gate", "wait", "5", "--to", "rollout")
    assert result.exit_code == 3
    assert "--no-request" in result.stderr


def test_login_reads_a_piped_token_and_without_one_is_a_usage_error(home, serve):
    serve(lambda r: httpx.Response(200, json=ME))
    piped = CliRunner().invoke(main.cli, ["login", "--url", URL], input="s3cret\n")
    assert piped.exit_code == 0, piped.output
    assert 'token = "s3cret"' in (home / "config" / "releasedeck" / "config.toml").read_text()
    closed = CliRunner().invoke(main.cli, ["login", "--url", URL], input="")
    assert closed.exit_code == 2
    assert "--token" in closed.stderr


def test_a_wait_asks_for_the_status_with_its_etag_and_takes_304_as_unchanged(home, serve):
    answers = [
        httpx.Response(200, json=status("testing", "signoff_missing"), headers={"ETag": '"a"'}),
        httpx.Response(304),
        httpx.Response(200, json=status("rollout"), headers={"ETag": '"b"'}),
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return SIGNOFF_MISSING
        return answers.pop(0)

    seen = serve(answer)
    result = run("gate", "wait", "5", "--to", "rollout", "--interval", "0")
    assert result.exit_code == 0, result.output
    gets = [r for r in seen if r.method == "GET"]
    assert [r.headers.get("If-None-Match") for r in gets] == [None, '"a"', '"a"']


def test_a_phase_further_ahead_is_watched_for_and_asked_for_once_next(home, serve):
    script = Script(
        [status("preparation"), status("testing"), status("rollout")],
        [httpx.Response(202, json={"id": 8, "state": "pending"})],
    )
    seen = serve(script)
    result = run("gate", "wait", "5", "--to", "rollout", "--interval", "0")
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url.path.split("/")[-2]) for r in seen] == [
        ("GET", "status"),
        ("GET", "status"),
        ("POST", "transition"),
        ("GET", "status"),
    ]

"""One command, no settings: database, demo data and static files, then the web server, a Celery
worker and Celery beat as child processes, until Ctrl-C (or SIGTERM) stops them all."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings

from apps.demo.seed import DEMO_PASSWORD, TOKEN_USER, demo_token_renew, logins_table, seed_demo
from apps.releases.models import Release

STOP_GRACE_SECONDS = 20
WEB_START_TIMEOUT_SECONDS = 60
PREFIX_WIDTH = 6
# A child that dies within this long of starting waits before its next start, twice as long
# each time up to the cap, so one that cannot start does not spin.
STEADY_SECONDS = 30
RESTART_DELAY_CAP_SECONDS = 30

# Runs in place of each child and execs the real command: asks Linux to send the child SIGTERM
# when rundemo dies, so nothing is left behind. A launcher rather than `preexec_fn`, because a
# child is restarted while the output relays' threads run, where `preexec_fn` is unsafe. Had
# rundemo died before the request took effect, the child has a new parent and ends at once.
LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "    if os.getppid() != int(sys.argv[1]):\n"
    "        sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.restarts = 0
        self.quick_deaths = 0  # in a row, each within STEADY_SECONDS of its start
        self.restart_at: float | None = None  # when a dead child is due to start again
        self.relay: threading.Thread | None = None
        self.start()

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.restart_at = None
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(os.getpid()), *self.argv],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: a signal sent to rundemo's group (Ctrl-C, `timeout`) reaches
            # rundemo alone, which then stops each child in order. Signalled directly, Celery's
            # pool processes can die holding a queue lock and hang the worker's shutdown.
            process_group=0,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def exited(self) -> bool:
        """Whether the child has ended. If so, whatever it left in its process group (a killed
        Celery worker's pool processes) is killed before the child is reaped, while the group
        id cannot have been reused."""
        if self.process.returncode is not None:
            return True
        try:
            ended = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.process.poll() is not None
        if ended is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return True


class Command(BaseCommand):
    help = (
        "Run the demo on embedded stores: migrate, seed, collect static files, then start the "
        "web server, a Celery worker and Celery beat, and print the address and the logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port of the web server (default: $PORT, else 8000).",
        )
        parser.add_argument("--host", default="127.0.0.1", help="Address the web server binds to.")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"] or int(os.environ.get("PORT", "8000"))
        host = options["host"]
        self._lock = threading.Lock()
        self._stop = threading.Event()

        # The demo's rollout checks its own web server: through loopback when it listens there.
        bound = host.strip("[]")
        check_host = "127.0.0.1" if bound in ("", "0.0.0.0", "::") else bound
        self._egress_allow = [*settings.RELEASEDECK_EGRESS_ALLOW, check_host]
        netloc = f"[{check_host}]" if ":" in check_host else check_host
        check_url = f"http://{netloc}:{port}/"
        try:
            self._prepare(check_url)
        except KeyboardInterrupt:
            raise CommandError("Interrupted.", returncode=130) from None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        children = self._start(host, port)
        try:
            self._wait_for_web(children, f"http://{host}:{port}/accounts/login/")
            if not self._stop.is_set():
                self._banner(f"http://{host}:{port}/")
                self._watch(children)
        finally:
            self._stop_all(children)

    # Before the processes start.

    def _prepare(self, base_url: str) -> None:
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        database = settings.DATABASES["default"]
        where = database["NAME"] if "sqlite" in database["ENGINE"] else database["ENGINE"]
        self._say(f"Preparing the database ({where}) ...")
        call_command("migrate", interactive=False, verbosity=0)
        self._say("Seeding the demo organisation ...")
        # Checks may go to the address the web server binds to, in this process as in the worker.
        with override_settings(RELEASEDECK_EGRESS_ALLOW=self._egress_allow):
            result = seed_demo(base_url=base_url)
        # Keys are stored hashed: a fresh one each start is the only one that can be printed.
        self._token = result.token or demo_token_renew()
        self._say(
            f"  {len(result.created_releases)} release(s) created, "
            f"{len(result.existing_releases)} already there."
        )
        self._say("Collecting static files ...")
        call_command("collectstatic", interactive=False, verbosity=0, skip_checks=True)

    def _start(self, host: str, port: int) -> list[Child]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.local"
            ),
            "PYTHONUNBUFFERED": "1",
            "RELEASEDECK_EGRESS_ALLOW": ",".join(self._egress_allow),
        }
        python = sys.executable
        commands = {
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "-c", "2"],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "info",
                "-s",
                str(settings.CELERY_BEAT_SCHEDULE_FILENAME),
            ],
            "web": [
                python,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
                # Its default path in $HOME would be shared by every demo the user runs.
                "--no-control-socket",
            ],
        }
        self._say("Starting the web server, a Celery worker and Celery beat ...")
        children = []
        try:
            for name, argv in commands.items():
                children.append(Child(name, argv, env, Path(settings.BASE_DIR)))
        except BaseException:
            self._stop_all(children)
            raise
        for child in children:
            self._start_relay(child)
        return children

    # While they run.

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop.set()

    def _start_relay(self, child: Child) -> None:
        child.relay = threading.Thread(
            target=self._relay, args=(child, child.process.stdout), daemon=True
        )
        child.relay.start()

    def _relay(self, child: Child, stream: IO[bytes]) -> None:
        """Print a child's output line by line, prefixed with its name; bytes pass through as
        they are, so no locale can make the relay fail and the child block on a full pipe."""
        prefix = f"{child.name:<{PREFIX_WIDTH}} | ".encode()
        for raw in iter(stream.readline, b""):
            self._write(prefix + raw.rstrip(b"\n") + b"\n")
        stream.close()

    def _say(self, text: str) -> None:
        self._write((text + "\n").encode(sys.stdout.encoding or "utf-8", errors="replace"))

    def _write(self, data: bytes) -> None:
        with self._lock:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

    def _wait_for_web(self, children: list[Child], url: str) -> None:
        """Until the web server answers. Children that die meanwhile are restarted as they are
        later, except the web server itself: that is a setting to fix (a port in use)."""
        web = next(c for c in children if c.name == "web")
        deadline = time.monotonic() + WEB_START_TIMEOUT_SECONDS
        while not self._stop.is_set():
            if web.exited():
                raise CommandError(
                    f"The web server stopped before it answered (exit code "
                    f"{web.process.returncode}); see its output above."
                )
            self._restart_dead([c for c in children if c is not web])
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any answer means the server is up
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"The web server did not answer at {url} in time.")
            self._stop.wait(0.25)

    def _watch(self, children: list[Child]) -> None:
        while not self._stop.wait(0.5):
            self._restart_dead(children)

    def _restart_dead(self, children: list[Child]) -> None:
        """A child that died is started again (after a pause if it died young): the demo keeps
        running, and the engine finds every step it had not finished on its next tick."""
        now = time.monotonic()
        for child in children:
            if child.restart_at is None and child.exited():
                lived = now - child.started_at
                child.quick_deaths = child.quick_deaths + 1 if lived < STEADY_SECONDS else 0
                delay = 0.0
                if child.quick_deaths:
                    delay = min(RESTART_DELAY_CAP_SECONDS, 2.0 ** (child.quick_deaths - 1))
                child.restart_at = now + delay
                self._say(
                    f"{child.name} stopped unexpectedly (exit code {child.process.returncode}) "
                    f"after {lived:.0f} s; restarting it"
                    + (f" in {delay:.0f} s." if delay else ".")
                )
            if child.restart_at is not None and now >= child.restart_at:
                if child.relay is not None:
                    child.relay.join(timeout=5)
                child.restarts += 1
                child.start()
                self._start_relay(child)
                self._say(
                    f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})."
                )

    def _banner(self, url: str) -> None:
        releases = Release.objects.select_related("application").order_by("pk")
        in_flight = releases.filter(phase="rollout").order_by("-pk").first()
        lines = [
            "",
            f"ReleaseDeck is running at {url}",
            f"Sign in as any of these (password for everyone: {DEMO_PASSWORD}):",
            logins_table(),
            f"API token for {TOKEN_USER}: {self._token}",
            "  (a new key at every start; the previous demo key no longer works)",
        ]
        if in_flight is not None:
            lines.append(
                f'  curl -H "Authorization: Token {self._token}" '
                f"{url}api/v1/releases/{in_flight.pk}/status/"
            )
        lines.append("Releases:")
        width = max((len(f"{r.application} {r.version}") for r in releases), default=0)
        lines += [
            f"  {r.phase:<12} {f'{r.application} {r.version}':<{width}}  {url}releases/{r.pk}/"
            for r in releases
        ]
        lines += [f"Data lives in {settings.VAR_DIR}; delete it to start afresh.", ""]
        lines.append("Press Ctrl-C to stop.")
        self._say("\n".join(lines))

    # Stopping.

    def _stop_all(self, children: list[Child]) -> None:
        """SIGTERM every child (a graceful stop for gunicorn and Celery); past the grace period,
        SIGKILL the child's whole process group."""
        if any(c.alive for c in children):
            self._say("Stopping ...")
        for child in children:
            if child.alive:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"{child.name} did not stop in time; killing it.")
                # Not reaped yet, so the group id cannot have been reused.
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        for child in children:
            if child.relay is not None:
                child.relay.join(timeout=5)
        if children:
            self._say("Stopped.")

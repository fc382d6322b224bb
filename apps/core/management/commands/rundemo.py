"""One command, no settings: database, demo data and static files, then the web server, a Celery
worker and Celery beat as child processes, until Ctrl-C (or SIGTERM) stops them all."""

import ctypes
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

from apps.core.demo import DEMO_PASSWORD, TOKEN_USER, demo_token_renew, logins_table, seed_demo
from apps.releases.models import Release

STOP_GRACE_SECONDS = 20
WEB_START_TIMEOUT_SECONDS = 60
PREFIX_WIDTH = 6


try:
    # Resolved here, not in the forked child, where only async-signal-safe work belongs.
    _prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
except (AttributeError, OSError):
    _prctl = None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if rundemo itself dies, so nothing is left behind."""
    PR_SET_PDEATHSIG = 1
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # type: ignore[misc]


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: a signal sent to rundemo's group (Ctrl-C, `timeout`) reaches
            # rundemo alone, which then stops each child in order. Signalled directly, Celery's
            # pool processes can die holding a queue lock and hang the worker's shutdown.
            process_group=0,
            preexec_fn=_die_with_parent if _prctl is not None else None,
        )
        self.relay: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


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

        try:
            self._prepare()
        except KeyboardInterrupt:
            raise CommandError("Interrupted.", returncode=130) from None
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        children = self._start(host, port)
        try:
            dead = self._wait_for_web(children, f"http://{host}:{port}/accounts/login/")
            if dead is None and not self._stop.is_set():
                self._banner(f"http://{host}:{port}/")
                dead = self._watch(children)
        finally:
            self._stop_all(children)
        if dead is not None:
            raise CommandError(
                f"{dead.name} stopped unexpectedly (exit code {dead.process.returncode}); "
                "stopped the others too."
            )

    # Before the processes start.

    def _prepare(self) -> None:
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        database = settings.DATABASES["default"]
        where = database["NAME"] if "sqlite" in database["ENGINE"] else database["ENGINE"]
        self._say(f"Preparing the database ({where}) ...")
        call_command("migrate", interactive=False, verbosity=0)
        self._say("Seeding the demo organisation ...")
        result = seed_demo()
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
        # Relays start once every child is forked: forking beside running threads is unsafe.
        for child in children:
            child.relay = threading.Thread(target=self._relay, args=(child,), daemon=True)
            child.relay.start()
        return children

    # While they run.

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop.set()

    def _relay(self, child: Child) -> None:
        """Print a child's output line by line, prefixed with its name; bytes pass through as
        they are, so no locale can make the relay fail and the child block on a full pipe."""
        stream: IO[bytes] = child.process.stdout  # type: ignore[assignment]
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

    def _first_dead(self, children: list[Child]) -> Child | None:
        return next((c for c in children if not c.alive), None)

    def _wait_for_web(self, children: list[Child], url: str) -> Child | None:
        deadline = time.monotonic() + WEB_START_TIMEOUT_SECONDS
        while not self._stop.is_set():
            dead = self._first_dead(children)
            if dead is not None:
                return dead
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return None
            except urllib.error.HTTPError:
                return None  # any answer means the server is up
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"The web server did not answer at {url} in time.")
            self._stop.wait(0.25)
        return None

    def _watch(self, children: list[Child]) -> Child | None:
        while not self._stop.wait(0.5):
            dead = self._first_dead(children)
            if dead is not None:
                return dead
        return None

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

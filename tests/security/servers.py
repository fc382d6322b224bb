"""Servers on loopback for the egress tests: an HTTP server on a chosen loopback address that
can redirect, and bare TCP listeners that hang up or never answer."""

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def http_server(
    host: str = "127.0.0.1", routes: dict[str, tuple[int, Any, dict[str, str]]] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Answers each path from `routes` (status, JSON body, headers), 404 otherwise; yields the
    base URL and the paths it was asked for."""
    routes = routes or {}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            asked.append(self.path)
            status, body, headers = routes.get(self.path, (404, {"detail": "no"}, {}))
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def tcp_listener(*, hang_up: bool) -> Iterator[int]:
    """A port that accepts connections and then hangs up at once (like a database port that
    does not speak HTTP) or keeps silent; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            if hang_up:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""A real HTTP receiver on a free loopback port, and webhook settings for tests."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook


class Receiver:
    """Records every POST; answers from a script of (status, delay seconds), then 200 "ok"."""

    def __init__(self):
        self.received: list[dict] = []
        self.script: deque[tuple[int, float]] = deque()
        self.default = (200, 0.0)
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status, delay = receiver.script.popleft() if receiver.script else receiver.default
                if delay:
                    receiver._release.wait(delay)  # a slow receiver (released at teardown)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "text/plain")
                    self.end_headers()
                    self.wfile.write(f"answer {status}".encode())
                except OSError:
                    pass  # the client gave up (timeout)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def answer(self, *answers: tuple[int, float] | int) -> None:
        for answer in answers:
            self.script.append(answer if isinstance(answer, tuple) else (answer, 0.0))

    def events(self, path: str | None = None) -> list[str]:
        return [json.loads(r["body"])["type"] for r in self.received if path is None or r["path"] == path]

    def verified(self, secret: str, path: str | None = None) -> list[dict]:
        """Every received body, verified with the standardwebhooks library (raises on a bad signature)."""
        return [
            Webhook(secret).verify(r["body"], r["headers"]) for r in self.received if path is None or r["path"] == path
        ]

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = ["127.0.0.0/8"]
    settings.WEBHOOKS_TIMEOUT = 2.0
    settings.WEBHOOKS_PUBLIC_BASE_URL = "https://mlgov.example"
    return settings

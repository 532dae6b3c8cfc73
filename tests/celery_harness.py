"""A real Celery worker for tests (fixture ``celery_worker`` in tests/conftest.py): a solo-pool worker
process on a Redis database and a queue unique to the run (the broker is shared), against the test
database; the in-process app is pointed at it and restored afterwards."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parents[1]


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + db["NAME"]))


def _configure(app, **conf) -> None:
    """Point the in-process app at another broker: close and drop the connection and producer pools it
    cached (left open, they break later forks of the test process, e.g. multiprocessing pools)."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.update(**conf)


def _wait_until_ready(broker_url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    from governance.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the worker exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        replies = app.control.ping(timeout=1.0)
        if replies:
            return
    pytest.fail(f"the worker did not answer a ping in {timeout} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class Worker:
    proc: subprocess.Popen
    log: Path
    broker_url: str
    queue: str

    def tail(self) -> str:
        return self.log.read_text()[-4000:]


@dataclass
class CeleryWorkers:
    """``start(**env)`` runs a worker (extra environment for it as keyword arguments) and waits for its
    ping; every worker is stopped and the app restored when the test ends."""

    settings: object
    tmp_path: Path
    broker_url: str = field(default_factory=lambda: f"redis://127.0.0.1:6379/{random.randint(1, 15)}")
    queue: str = field(default_factory=lambda: f"mlgov-test-{os.getpid()}-{random.randint(0, 1 << 30)}")
    workers: list[Worker] = field(default_factory=list)
    saved: dict | None = None

    def start(self, **env: str) -> Worker:
        from governance.celery import app

        if self.saved is None:
            self.saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "task_default_queue")}
            _configure(app, broker_url=self.broker_url, task_always_eager=False, task_default_queue=self.queue)
        log = self.tmp_path / f"worker-{len(self.workers)}.log"
        full_env = {
            **os.environ,
            "CELERY_BROKER_URL": self.broker_url,
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(self.settings.MEDIA_ROOT),
            "AUDIT_SIGNING_KEY_FILE": self.settings.AUDIT_SIGNING_KEY_FILE,
            "PYTHONPATH": str(ROOT),
            **env,
        }
        command = [sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool=solo", "--loglevel=INFO"]
        command += ["-Q", self.queue, "-n", f"{self.queue}-{len(self.workers)}@%h"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(log, "w") as out:
            proc = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        worker = Worker(proc, log, self.broker_url, self.queue)
        self.workers.append(worker)
        _wait_until_ready(self.broker_url, proc, log)
        return worker

    def close(self) -> None:
        from governance.celery import app

        if self.saved is not None:
            _configure(app, **self.saved)
        for worker in self.workers:
            _stop(worker.proc)

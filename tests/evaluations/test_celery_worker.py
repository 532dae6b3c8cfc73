"""A real Celery worker on a real Redis broker computes a queued evaluation against the test database."""

from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
from django.conf import settings as django_settings

from audit.models import AuditEvent
from governance.evaluations.inputs import parse_inline
from governance.evaluations.models import Evaluation
from governance.evaluations.performance import compute_performance
from tests.conftest import make_api_client, require_service
from tests.factories import accounts as account_factories
from tests.factories import registry as registry_factories

ROOT = Path(__file__).resolve().parents[2]


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


def start_worker(queue: str, name: str, env: dict, log: Path) -> subprocess.Popen:
    """A real Celery worker process (solo pool) consuming ``queue`` only, logging to ``log``."""
    args = ["worker", "--pool=solo", "--loglevel=INFO", "-Q", queue, "-n", f"{name}-{queue}@%h"]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "governance", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_queued_evaluation_on_a_real_worker(settings, tmp_path):
    require_service("redis", "127.0.0.1", 6379)
    from django.apps import apps

    from governance.celery import app

    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(apps, None)
    broker_url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    queue = f"mlgov-ev-test-{os.getpid()}-{random.randint(0, 1 << 30)}"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "AUDIT_SIGNING_KEY_FILE": settings.AUDIT_SIGNING_KEY_FILE,
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager", "task_default_queue")}
    proc = None
    try:
        _configure(app, broker_url=broker_url, task_always_eager=False, task_default_queue=queue)
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "governance",
                    "worker",
                    "--pool=solo",
                    "--loglevel=INFO",
                    "-Q",
                    queue,
                    "-n",
                    f"{queue}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_until_ready(broker_url, proc, log)

        pipeline = account_factories.service_account()
        version = registry_factories.model_version()
        settings.EVALUATION_SYNC_MAX_ROWS = 1000
        rng = np.random.default_rng(7)
        n = 20_000
        y = rng.integers(0, 2, n)
        score = np.clip(0.35 * y + rng.uniform(0, 0.65, n), 0, 1)
        data = {"y_true": y.tolist(), "y_score": score.tolist()}
        resp = make_api_client(pipeline).post(
            "/api/v1/evaluations/",
            {
                "model_version": version.pk,
                "kind": "performance",
                "dataset": "large",
                "data": data,
                "params": {"n_boot": 20},
                "thresholds": [{"metric": "auc", "comparator": ">=", "threshold": 0.7}],
            },
            format="json",
        )
        assert resp.status_code == 202, resp.json()
        assert resp.json()["status"] in ("queued", "running", "done")
        pk = resp.json()["id"]

        deadline = time.monotonic() + 120
        evaluation = Evaluation.objects.get(pk=pk)
        while evaluation.status not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            evaluation = Evaluation.objects.get(pk=pk)
        assert evaluation.status == "done", (evaluation.status, evaluation.failure_reason, log.read_text()[-4000:])

        trail = list(
            AuditEvent.objects.filter(object_type="evaluation", object_id=str(pk))
            .order_by("seq")
            .values_list("action", "actor_id")
        )
        assert [a for a, _ in trail] == ["evaluation.create", "evaluation.start", "evaluation.complete"]
        assert trail[1][1] == trail[2][1] == "celery:evaluations.run"

        expected = compute_performance(parse_inline("performance", data), params={"n_boot": 20})
        assert evaluation.metrics == expected["metrics"]
        assert evaluation.checks[0]["passed"] is (expected["auc"] >= 0.7)
        assert evaluation.result["confidence_intervals"] == expected["confidence_intervals"]
        assert evaluation.input_rows == n and evaluation.started_at <= evaluation.finished_at
    finally:
        _configure(app, **saved)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

"""A real Celery worker on a real Redis broker computes a queued evaluation against the test database."""

from __future__ import annotations

import importlib
import time

import numpy as np
import pytest

from audit.models import AuditEvent
from governance.evaluations.inputs import parse_inline
from governance.evaluations.models import Evaluation
from governance.evaluations.performance import compute_performance
from tests.conftest import make_api_client
from tests.factories import accounts as account_factories
from tests.factories import registry as registry_factories


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
def test_queued_evaluation_on_a_real_worker(settings, celery_workers):
    from django.apps import apps

    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(apps, None)
    worker = celery_workers.start()
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
    assert evaluation.status == "done", (evaluation.status, evaluation.failure_reason, worker.tail())

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

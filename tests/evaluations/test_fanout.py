"""Fan-out (issue 15.3): a large evaluation split by row ranges over two real Celery workers (a chord on
a real Redis broker with its result backend) gives the single-worker result; a bad row in a late range
fails it with the row number and stores nothing but the failure."""

from __future__ import annotations

import importlib
import os
import random
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from governance.evaluations import outofcore
from governance.evaluations.models import Evaluation
from governance.evaluations.services import run
from tests.conftest import make_api_client, require_service
from tests.evaluations.test_celery_worker import _configure, _database_url, _wait_until_ready, start_worker
from tests.evaluations_core.test_outofcore import assert_same
from tests.factories import accounts as account_factories
from tests.factories import evaluations as f
from tests.factories import registry as registry_factories

PARTS = 4


def _post(api, version, kind, content, columns):
    import json

    return api.post(
        "/api/v1/evaluations/",
        {
            "model_version": str(version.pk),
            "kind": kind,
            "dataset": "monthly",
            "file": SimpleUploadedFile("table.parquet", content),
            "columns": json.dumps(columns),
        },
        format="multipart",
    )


def _wait(pk: int, logs, timeout: float = 240.0) -> Evaluation:
    deadline = time.monotonic() + timeout
    while True:
        ev = Evaluation.objects.get(pk=pk)
        if ev.status in ("done", "failed"):
            return ev
        if time.monotonic() > deadline:
            pytest.fail(f"evaluation {pk} is still {ev.status}\n" + "\n".join(log.read_text()[-3000:] for log in logs))
        time.sleep(0.3)


def _single_worker(ev: Evaluation) -> dict:
    """What one worker computes from the same stored file (the path without fan-out)."""
    spec = ev.result["input"]
    out, rows = outofcore.compute(
        ev.kind,
        ev.input_file.path,
        file_format="parquet",
        columns=spec["columns"],
        params=run.out_of_core_params(ev),
        reference=run.input_reference(ev, spec),
        min_group_size=30,
        threads=1,
    )
    return out


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_large_evaluation_split_over_two_workers_equals_the_single_worker_result(settings, tmp_path, g):
    require_service("redis", "127.0.0.1", 6379)
    from django.apps import apps

    from governance.celery import app

    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(apps, None)
    url = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
    queue = f"mlgov-fanout-test-{os.getpid()}-{random.randint(0, 1 << 30)}"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "AUDIT_SIGNING_KEY_FILE": settings.AUDIT_SIGNING_KEY_FILE,
        "EVALUATION_FANOUT_CHUNKS": str(PARTS),
        "EVALUATION_FANOUT_MIN_ROWS": "1000",
        "EVALUATION_OUT_OF_CORE_MIN_ROWS": "1000",
        "EVALUATION_OUT_OF_CORE_THREADS": "1",
    }
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager", "task_default_queue")}
    workers = []
    try:
        _configure(app, broker_url=url, result_backend=url, task_always_eager=False, task_default_queue=queue)
        workers = [start_worker(queue, name, env, log) for name, log in zip(("a", "b"), logs, strict=True)]
        for proc, log in zip(workers, logs, strict=True):
            _wait_until_ready(url, proc, log)
        settings.EVALUATION_SYNC_MAX_ROWS = 1000
        pipeline = account_factories.service_account()
        version = registry_factories.model_version()
        f.reference_sample(version, pipeline)
        api = make_api_client(pipeline)
        cols, mapping = f.drift_table(g, slice(700, 1000))
        drift_rows = {name: list(values) * 100 for name, values in cols.items()}  # 30,000 rows
        fair, fair_columns = f.fairness_table(g, slice(0, 1000))
        fair_rows = {name: list(values) * 40 for name, values in fair.items()}  # 40,000 rows
        bad = dict(fair_rows)
        bad["label"] = list(bad["label"])
        bad["label"][37_123] = 3  # in the last of the four ranges
        inputs = {
            "drift": ("drift", f.table_bytes(drift_rows, "parquet"), mapping),
            "fairness": ("fairness", f.table_bytes(fair_rows, "parquet"), fair_columns),
            "bad": ("fairness", f.table_bytes(bad, "parquet"), fair_columns),
        }
        done = {}
        for name, (kind, content, columns) in inputs.items():  # one at a time: both workers are free
            resp = _post(api, version, kind, content, columns)
            assert resp.status_code == 202, resp.json()
            done[name] = _wait(resp.json()["id"], logs)

        for kind in ("drift", "fairness"):
            ev = done[kind]
            assert ev.status == "done", (ev.failure_reason, [log.read_text()[-3000:] for log in logs])
            assert ev.result["fanout"]["parts"] == PARTS
            assert len(ev.result["fanout"]["workers"]) == 2, ev.result["fanout"]  # both workers took parts
            single = _single_worker(ev)
            assert_same(single["metrics"], ev.metrics)
            detail = "features" if kind == "drift" else "by_group"
            assert_same(single[detail], ev.result[detail])
            trail = list(
                AuditEvent.objects.filter(object_type="evaluation", object_id=str(ev.pk))
                .order_by("seq")
                .values_list("action", flat=True)
            )
            assert trail == ["evaluation.create", "evaluation.start", "evaluation.complete"]
        assert not list((settings.MEDIA_ROOT / "evaluation-partials").rglob("*.npz"))  # parts deleted

        ev = done["bad"]
        assert ev.status == "failed"
        assert ev.failure_reason == (
            "columns.y_true: labels must be binary 0/1 (found values other than 0 and 1; the first at row 37124)"
        ), ev.failure_reason
        assert ev.metrics == {} and ev.checks == [] and ev.input_sha256 == ""
    finally:
        _configure(app, **saved)
        for proc in workers:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except Exception:
                proc.kill()
                proc.wait(timeout=10)

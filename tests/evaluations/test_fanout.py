"""Fan-out (issue 15.3): a large evaluation split by row ranges over two real Celery workers (a chord on
a real Redis broker with its result backend) gives the single-worker result, for Parquet and CSV inputs
and the fairness, drift and performance kinds; a bad row in a late range fails it with its file-wide row
number and stores nothing but the failure; a CSV too small to split is computed on one worker and says
why."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from audit.state import verify_state
from governance.evaluations import outofcore
from governance.evaluations.models import Evaluation
from governance.evaluations.services import run
from tests.celery_harness import _configure
from tests.conftest import make_api_client
from tests.evaluations_core.test_outofcore import assert_same
from tests.factories import accounts as account_factories
from tests.factories import evaluations as f
from tests.factories import registry as registry_factories

PARTS = 4


def _post(api, version, kind, content, columns, file_format="parquet", params=None):
    import json

    data = {
        "model_version": str(version.pk),
        "kind": kind,
        "dataset": "monthly",
        "file": SimpleUploadedFile(f"table.{file_format}", content),
        "columns": json.dumps(columns),
    }
    if params:
        data["params"] = json.dumps(params)
    return api.post("/api/v1/evaluations/", data, format="multipart")


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
        file_format=spec["format"],
        columns=spec["columns"],
        params=run.out_of_core_params(ev),
        reference=run.input_reference(ev, spec),
        min_group_size=30,
        threads=1,
    )
    return out


@dataclass
class Fanout:
    api: object
    version: object
    logs: list

    def run(self, kind, content, columns, file_format="parquet", params=None) -> Evaluation:
        resp = _post(self.api, self.version, kind, content, columns, file_format, params)
        assert resp.status_code == 202, resp.json()
        return _wait(resp.json()["id"], self.logs)


@pytest.fixture
def fanout(settings, celery_workers):
    """Two real workers splitting evaluations into PARTS ranges (chords on the run's own Redis database,
    also their result backend), a version with a reference sample, and a pipeline's API client."""
    from django.apps import apps

    from governance.celery import app

    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(apps, None)
    url = celery_workers.broker_url  # the chord needs a result backend: the run's own Redis database
    env = {
        "CELERY_RESULT_BACKEND": url,
        "EVALUATION_FANOUT_CHUNKS": str(PARTS),
        "EVALUATION_FANOUT_MIN_ROWS": "1000",
        "EVALUATION_OUT_OF_CORE_MIN_ROWS": "1000",
        "EVALUATION_OUT_OF_CORE_THREADS": "1",
    }
    saved_backend = app.conf.result_backend
    try:
        _configure(app, result_backend=url)
        workers = [celery_workers.start(**env) for _ in range(2)]
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=1.0)) < 2:  # both answer before any work is sent
            assert time.monotonic() < deadline, [worker.tail() for worker in workers]
        pipeline = account_factories.service_account()
        version = registry_factories.model_version()
        f.reference_sample(version, pipeline)
        settings.EVALUATION_SYNC_MAX_ROWS = 1000
        settings.EVALUATION_SYNC_MAX_BYTES = 4000  # a CSV larger than this is stored unread (rows unknown)
        yield Fanout(make_api_client(pipeline), version, [worker.log for worker in workers])
    finally:
        _configure(app, result_backend=saved_backend)


def _assert_split_like_one_worker(ev: Evaluation, logs, parts: int = PARTS) -> None:
    assert ev.status == "done", (ev.failure_reason, [log.read_text()[-3000:] for log in logs])
    assert ev.result["fanout"]["parts"] == parts
    assert len(ev.result["fanout"]["workers"]) == 2, ev.result["fanout"]  # both workers took parts
    single = _single_worker(ev)
    assert_same(single["metrics"], ev.metrics)
    detail = {"drift": "features", "fairness": "by_group", "performance": "confidence_intervals"}[ev.kind]
    assert detail in ev.result
    for key in set(single) & set(ev.result):  # every part of the result (performance: intervals, ROC, ...)
        assert_same(single[key], ev.result[key], key)
    trail = list(
        AuditEvent.objects.filter(object_type="evaluation", object_id=str(ev.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert trail == ["evaluation.create", "evaluation.start", "evaluation.complete"]


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_large_evaluation_split_over_two_workers_equals_the_single_worker_result(settings, g, fanout):
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
    done = {name: fanout.run(*args) for name, args in inputs.items()}  # one at a time: both workers are free

    for kind in ("drift", "fairness"):
        _assert_split_like_one_worker(done[kind], fanout.logs)
    assert not list((settings.MEDIA_ROOT / "evaluation-partials").rglob("*.npz"))  # parts deleted

    ev = done["bad"]
    assert ev.status == "failed"
    assert ev.failure_reason == (
        "columns.y_true: labels must be binary 0/1 (found values other than 0 and 1; the first at row 37124)"
    ), ev.failure_reason
    assert ev.metrics == {} and ev.checks == [] and ev.input_sha256 == ""
    state = verify_state()  # the merged results, per-group detail included, are what the events say
    assert state.ok, state.message


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_csv_inputs_and_performance_split_over_two_workers_equal_the_single_worker_result(settings, g, fanout):
    """CSV fairness and drift (byte ranges at record starts), performance on Parquet and CSV (score groups
        merged by the engine: AUC, DeLong and the seeded bootstrap intervals), a bad row in the last range of
        a CSV named by its file-wide row, and CSVs too small to split (told by their first lines, or once their
    rows are counted), computed on one worker."""
    import hashlib

    cols, mapping = f.drift_table(g, slice(700, 1000))
    drift_rows = {name: list(values) * 100 for name, values in cols.items()}  # 30,000 rows
    fair, fair_columns = f.fairness_table(g, slice(0, 1000))
    fair_rows = {name: list(values) * 40 for name, values in fair.items()}  # 40,000 rows
    perf, perf_columns = f.performance_table(g, slice(0, 1000))
    perf_rows = {name: list(values) * 40 for name, values in perf.items()}  # 40,000 rows
    perf_params = {"n_boot": 200, "seed": 7, "threshold": 0.4}
    bad = {**fair_rows, "prediction": list(fair_rows["prediction"])}
    bad["prediction"][38_500] = None  # a missing value in the last of the four ranges: data row 38,501
    small = {name: values[:400] for name, values in fair_rows.items()}  # not split by its first lines
    medium = {name: values[:700] for name, values in fair_rows.items()}  # not split once its rows are counted
    perf_parquet = f.table_bytes(perf_rows, "parquet")
    inputs = {
        "fairness": ("fairness", f.table_bytes(fair_rows, "csv"), fair_columns, "csv"),
        "drift": ("drift", f.table_bytes(drift_rows, "csv"), mapping, "csv"),
        "performance.parquet": ("performance", perf_parquet, perf_columns, "parquet", perf_params),
        "performance.csv": ("performance", f.table_bytes(perf_rows, "csv"), perf_columns, "csv", perf_params),
        "bad": ("fairness", f.table_bytes(bad, "csv"), fair_columns, "csv"),
        "small": ("fairness", f.table_bytes(small, "csv"), fair_columns, "csv"),
        "medium": ("fairness", f.table_bytes(medium, "csv"), fair_columns, "csv"),
    }
    done = {name: fanout.run(*args) for name, args in inputs.items()}

    for name in ("fairness", "drift", "performance.parquet", "performance.csv"):
        ev = done[name]
        _assert_split_like_one_worker(ev, fanout.logs)
        assert ev.input_sha256 == hashlib.sha256(inputs[name][1]).hexdigest()  # the exact bytes
    assert done["fairness"].input_rows == 40_000 and done["performance.csv"].input_rows == 40_000
    assert done["performance.csv"].metrics == done["performance.parquet"].metrics
    assert not [p for p in (settings.MEDIA_ROOT / "evaluation-partials").rglob("*") if p.is_file()]  # deleted

    ev = done["bad"]
    assert ev.status == "failed"
    assert ev.failure_reason == "columns.y_pred: column 'prediction' has 1 missing values (the first at row 38501)"
    assert ev.metrics == {} and ev.checks == [] and ev.input_sha256 == ""

    reasons = {
        "small": "about 400 rows (by its first lines), fewer than EVALUATION_FANOUT_MIN_ROWS (1000)",
        "medium": "700 rows, fewer than EVALUATION_FANOUT_MIN_ROWS (1000)",
    }
    for name, reason in reasons.items():
        ev = done[name]
        assert ev.status == "done", ev.failure_reason
        assert ev.result["fanout"] == {"parts": 1, "not_split": reason}
        assert ev.input_sha256 == hashlib.sha256(inputs[name][1]).hexdigest()
        assert_same(_single_worker(ev)["by_group"], ev.result["by_group"])

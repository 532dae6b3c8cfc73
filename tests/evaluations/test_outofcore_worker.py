"""The worker computes large fairness and drift tables out of core (DuckDB) with the in-memory results;
the input digest is the file's SHA-256; a malformed row fails the evaluation naming the row."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from governance.evaluations.models import Evaluation
from tests.evaluations.test_bombs import FAIR_COLUMNS
from tests.evaluations_core.test_outofcore import assert_same
from tests.factories import evaluations as f

pytestmark = pytest.mark.django_db


def fairness_rows(n: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return {
        "y": y.tolist(),
        "p": (rng.random(n) < np.where(y == 1, 0.7, 0.25)).astype(int).tolist(),
        "g": rng.choice(["a", "b", "c"], n).tolist(),
    }


def post(api, version, name, content, kind="fairness", columns=FAIR_COLUMNS):
    return api.post(
        "/api/v1/evaluations/",
        {
            "model_version": str(version.pk),
            "kind": kind,
            "dataset": "large",
            "file": SimpleUploadedFile(name, content),
            "columns": json.dumps(columns),
            "thresholds": json.dumps([]),
        },
        format="multipart",
    )


@pytest.fixture
def out_of_core(settings):
    settings.EVALUATION_SYNC_MAX_ROWS = 1000
    settings.EVALUATION_SYNC_MAX_BYTES = 2000
    settings.EVALUATION_OUT_OF_CORE_MIN_ROWS = 1000
    settings.EVALUATION_OUT_OF_CORE_THREADS = 1


def test_large_fairness_table_is_computed_out_of_core_with_the_in_memory_result(
    version, pipeline, api_for, settings, django_capture_on_commit_callbacks
):
    content = f.table_bytes(fairness_rows(20_000), "parquet")
    api = api_for(pipeline)
    in_memory = post(api, version, "scores.parquet", content)  # default limits: computed in the request
    assert in_memory.status_code == 201, in_memory.json()
    settings.EVALUATION_SYNC_MAX_ROWS = 1000
    settings.EVALUATION_OUT_OF_CORE_MIN_ROWS = 1000
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, version, "scores.parquet", content)
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    ref = Evaluation.objects.get(pk=in_memory.json()["id"])
    assert ev.status == "done", ev.failure_reason
    assert ev.result["computed_out_of_core"] is True and "duckdb" in ev.library_versions
    assert ev.input_sha256 == hashlib.sha256(content).hexdigest() == ev.result["input"]["file_sha256"]
    assert ev.input_rows == 20_000
    assert_same(ref.metrics, ev.metrics)
    assert_same(ref.result["by_group"], ev.result["by_group"])
    assert ref.warnings == ev.warnings and ref.checks == ev.checks


def test_large_drift_table_against_a_registered_reference(
    g, version, pipeline, api_for, settings, django_capture_on_commit_callbacks
):
    f.reference_sample(version, pipeline)  # registered within the in-request limits
    settings.EVALUATION_SYNC_MAX_BYTES = 2000
    settings.EVALUATION_OUT_OF_CORE_MIN_ROWS = 100
    cols, mapping = f.drift_table(g, slice(700, 1000))
    content = f.table_bytes(cols, "csv")
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api_for(pipeline), version, "current.csv", content, kind="drift", columns=mapping)
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "done", ev.failure_reason
    assert ev.result["computed_out_of_core"] is True and ev.input_rows == 1000
    from governance.evaluations.inputs import parse_table
    from governance.evaluations.services import common, compute

    sample, reference = common.load_reference(version)
    parsed = parse_table("drift", content, file_format="csv", columns=mapping, reference=reference)
    expected = compute("drift", parsed, {}, [])
    assert_same(expected["metrics"], ev.metrics)
    assert_same(expected["result"]["features"], ev.result["features"])


def test_a_malformed_row_fails_the_evaluation_with_its_row_number(
    version, pipeline, api_for, out_of_core, django_capture_on_commit_callbacks
):
    lines = ["y,p,g"] + ["1,0,a", "0,1,b"] * 2000
    lines[3001] = "1,0,a,extra"
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api_for(pipeline), version, "scores.csv", ("\n".join(lines) + "\n").encode())
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "failed"
    assert ev.failure_reason.startswith("file: row 3001 is malformed: expected 3 fields, found 4"), ev.failure_reason
    assert ev.metrics == {} and ev.checks == [] and ev.input_sha256 == ""


def test_a_malformed_row_deep_in_a_csv_parsed_in_parallel_is_named_and_nothing_else_is_stored(
    version, pipeline, api_for, settings, tmp_path, django_capture_on_commit_callbacks
):
    """The small-scale twin of bench/bench_bad_row.py: a 12 MB CSV referenced by path, parsed by two
    DuckDB threads, its data row 280,001 (file line 280,002) one field short."""
    settings.EVALUATION_INPUT_ROOTS = [str(tmp_path)]
    settings.EVALUATION_OUT_OF_CORE_THREADS = 2
    lines = ["y,s,note"] + [f"{i % 2},0.{i % 997:03d},holdout row {i:012d}" for i in range(300_000)]
    lines[280_001] = "1,0.5"
    path = tmp_path / "scores.csv"
    path.write_text("\n".join(lines) + "\n")
    body = {
        "model_version": version.pk,
        "kind": "performance",
        "dataset": "monthly",
        "input_uri": path.as_uri(),
        "columns": {"y_true": "y", "y_score": "s"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_for(pipeline).post("/api/v1/evaluations/", body, format="json")
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "failed"
    assert ev.failure_reason == "file: row 280001 is malformed: expected 3 fields, found 2 ('1,0.5')"
    assert ev.progress["stage"] == "loading the CSV"  # the out-of-core path, stopped by DuckDB's parse
    assert ev.metrics == {} and ev.checks == [] and ev.warnings == [] and ev.input_sha256 == ""
    assert "metrics" not in ev.result and "computed_out_of_core" not in ev.result
    trail = AuditEvent.objects.filter(object_type="evaluation", object_id=str(ev.pk)).order_by("seq")
    assert list(trail.values_list("action", flat=True)) == ["evaluation.create", "evaluation.start", "evaluation.fail"]

"""Decompression bombs (issue 10, defect 6): rows and decompressed bytes are capped before a
table is read; anything large goes to a worker unread; the worker reads within the caps."""

from __future__ import annotations

import bz2
import gzip
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.evaluations import inputs as inputs_core
from governance.evaluations.models import Evaluation
from tests.evaluations.conftest import events, record

pytestmark = pytest.mark.django_db

FAIR_COLUMNS = {"y_true": "y", "y_pred": "p", "sensitive_features": ["g"]}


def constant_parquet(rows: int) -> bytes:
    """A small file whose metadata claims ``rows`` rows of constant values."""
    table = pa.table(
        {
            "y": pa.array(np.ones(rows, dtype=np.int64)),
            "p": pa.array(np.ones(rows, dtype=np.int64)),
            "g": pa.array(np.zeros(rows, dtype=np.int64)),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def csv_gz_bomb(decompressed_mb: int) -> bytes:
    buf = io.BytesIO()
    line = b"1,1,a\n" * (1 << 16)
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6) as out:
        out.write(b"y,p,g\n")
        for _ in range((decompressed_mb << 20) // len(line)):
            out.write(line)
    return buf.getvalue()


def post(api, version, name: str, content: bytes, **extra):
    return api.post(
        "/api/v1/evaluations/",
        {
            "model_version": str(version.pk),
            "kind": "fairness",
            "dataset": "bomb",
            "file": SimpleUploadedFile(name, content),
            "columns": json.dumps(FAIR_COLUMNS),
            **extra,
        },
        format="multipart",
    )


@pytest.fixture
def not_read_here(monkeypatch):
    """Fail if the request reads the table (only a worker may)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the web process read a large table")

    monkeypatch.setattr(inputs_core, "parse_table", refuse)
    return monkeypatch


@pytest.mark.parametrize(
    "kind,setting",
    [("performance", "EVALUATION_OUT_OF_CORE_MAX_ROWS"), ("fairness", "EVALUATION_OUT_OF_CORE_MAX_ROWS")],
)
def test_parquet_claiming_more_rows_than_the_cap_is_refused_from_its_metadata(
    version, pipeline, api_for, settings, kind, setting
):
    """A large table of a computed kind is computed out of core, under its own cap (issue 15)."""
    content = constant_parquet(3_000_000)
    assert len(content) < 100_000  # a small file ...
    setattr(settings, setting, 1_000_000)  # ... that claims more rows than allowed
    extra = {"kind": kind}
    if kind == "performance":
        extra["columns"] = json.dumps({"y_true": "y", "y_score": "p"})
    resp = post(api_for(pipeline), version, "bomb.parquet", content, **extra)
    assert resp.status_code == 413, resp.json()
    error = resp.json()["error"]
    assert "file" in error["fields"] and "3000000 rows" in error["message"]
    assert f"(setting {setting})" in error["message"]
    assert Evaluation.objects.count() == 0
    [denied] = events("evaluation.create.denied")
    assert record(denied)["data"]["field"] == "file"


def test_large_parquet_goes_to_a_worker_unread_and_is_computed_there(
    version, pipeline, api_for, settings, not_read_here, django_capture_on_commit_callbacks
):
    settings.EVALUATION_SYNC_MAX_ROWS = 1000
    content = constant_parquet(2_000_000)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = post(api_for(pipeline), version, "many.parquet", content)
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "queued" and ev.input_rows == 2_000_000 and ev.input_sha256 == ""
    assert ev.result["input"]["file_sha256"] and ev.result["input"]["compression"] == "ZSTD"
    not_read_here.undo()  # the worker's turn
    callbacks[0]()
    ev.refresh_from_db()
    assert ev.status == "done", ev.failure_reason
    assert ev.input_rows == 2_000_000 and len(ev.input_sha256) == 64
    assert ev.result["by_group"][0]["count"] == 2_000_000
    complete = record(events("evaluation.complete")[0])["data"]
    assert complete["input_sha256"] == ev.input_sha256


def test_csv_gz_bomb_is_measured_within_a_budget_and_refused_by_the_worker(
    version, pipeline, api_for, settings, not_read_here, django_capture_on_commit_callbacks
):
    settings.EVALUATION_SYNC_MAX_BYTES = 4 << 20
    settings.EVALUATION_OUT_OF_CORE_MAX_BYTES = 16 << 20  # a large fairness CSV is read out of core
    content = csv_gz_bomb(64)
    assert len(content) < 1 << 20  # under a megabyte, 64 MB decompressed
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = post(api_for(pipeline), version, "scores.csv.gz", content)
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.result["input"]["format"] == "csv" and ev.result["input"]["compression"] == "gzip"
    not_read_here.undo()
    callbacks[0]()
    ev.refresh_from_db()
    assert ev.status == "failed"
    assert "decompresses to more than 16777216 bytes" in ev.failure_reason
    assert "EVALUATION_OUT_OF_CORE_MAX_BYTES" in ev.failure_reason
    assert ev.metrics == {} and ev.input_sha256 == ""


def test_small_csv_gz_is_computed_in_the_request(version, pipeline, api_for):
    rows = b"y,p,g\n" + b"1,1,a\n0,1,b\n1,0,a\n0,0,b\n" * 25
    resp = post(api_for(pipeline), version, "scores.csv.gz", gzip.compress(rows))
    assert resp.status_code == 201, resp.json()
    assert resp.json()["input_rows"] == 100


@pytest.mark.parametrize(
    "name,content,compression",
    [("scores.csv", bz2.compress(b"y,p,g\n1,1,a\n"), "bzip2"), ("scores.csv", b"PK\x03\x04rest", "zip")],
)
def test_other_compressions_are_refused_naming_the_accepted_ones(
    version, pipeline, api_for, name, content, compression
):
    resp = post(api_for(pipeline), version, name, content)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert "file" in error["fields"] and f"{compression}-compressed CSV is not accepted" in error["message"]
    assert "gzip" in error["message"]
    assert Evaluation.objects.count() == 0


def test_a_file_changed_after_its_digest_is_refused_by_the_worker(
    version, pipeline, api_for, settings, django_capture_on_commit_callbacks
):
    settings.EVALUATION_SYNC_MAX_ROWS = 10
    rows = b"y,p,g\n" + b"1,1,a\n0,1,b\n1,0,a\n0,0,b\n" * 25
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = post(api_for(pipeline), version, "scores.csv", rows)
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    with open(ev.input_file.path, "wb") as handle:
        handle.write(rows.replace(b"0,0,b", b"1,1,b"))
    callbacks[0]()
    ev.refresh_from_db()
    assert ev.status == "failed" and "changed after it was received" in ev.failure_reason
    assert ev.result["input"]["file_sha256"] in ev.failure_reason

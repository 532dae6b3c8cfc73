"""A large evaluation shows how far the worker is (stage, rows read, percent) in the API, the admin and
the version page while it runs, and ends at 100%."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.evaluations import outofcore
from governance.evaluations.models import Evaluation
from governance.evaluations.services import run
from tests.factories import evaluations as f

pytestmark = pytest.mark.django_db


def test_progress_is_visible_while_the_worker_reads_the_table(
    g, version, pipeline, admin_client, api_for, settings, monkeypatch, django_capture_on_commit_callbacks
):
    f.reference_sample(version, pipeline)
    settings.EVALUATION_SYNC_MAX_BYTES = 2000
    settings.EVALUATION_OUT_OF_CORE_MIN_ROWS = 100
    settings.EVALUATION_OUT_OF_CORE_THREADS = 1
    monkeypatch.setattr(outofcore, "BATCH_ROWS", 4_000)
    monkeypatch.setattr(run, "PROGRESS_INTERVAL_SECONDS", 0)
    cols, mapping = f.drift_table(g, slice(700, 1000))
    cols = {name: list(values) * 100 for name, values in cols.items()}  # 30,000 rows
    api = api_for(pipeline)
    seen: list[dict] = []
    record = run._ProgressRecorder.__call__

    def watch(self, stage, fraction, rows=0):
        record(self, stage, fraction, rows)
        body = api.get(f"/api/v1/evaluations/{self.evaluation_id}/").json()
        page = admin_client.get(f"/admin/evaluations/evaluation/{self.evaluation_id}/change/").content.decode()
        listing = admin_client.get("/admin/evaluations/evaluation/").content.decode()
        hub = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
        seen.append({"api": body, "page": page, "listing": listing, "hub": hub})

    monkeypatch.setattr(run._ProgressRecorder, "__call__", watch)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api.post(
            "/api/v1/evaluations/",
            {
                "model_version": str(version.pk),
                "kind": "drift",
                "dataset": "large",
                "file": SimpleUploadedFile("current.parquet", f.table_bytes(cols, "parquet")),
                "columns": json.dumps(mapping),
            },
            format="multipart",
        )
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "done", ev.failure_reason
    reading = [s for s in seen if s["api"]["progress"].get("stage") == "reading"]
    assert len(reading) >= 5  # 30,000 rows in batches of 4,000
    assert all(s["api"]["status"] == "running" for s in seen)
    rows = [s["api"]["progress"]["rows_read"] for s in reading]
    assert rows == sorted(rows) and rows[0] == 4_000 and rows[-1] == 30_000
    middle = reading[2]
    assert middle["api"]["progress"]["percent"] == 40.0 and middle["api"]["progress"]["rows_total"] == 30_000
    text = "40.0% · 12,000 of 30,000 rows read · reading"
    assert text in middle["page"] and text in middle["listing"] and text in middle["hub"]
    done = api.get(f"/api/v1/evaluations/{ev.pk}/").json()["progress"]
    assert done["stage"] == "done" and done["percent"] == 100.0 and done["rows_read"] == ev.input_rows


def test_progress_is_bookkeeping_and_stops_with_the_evaluation(version, pipeline):
    """Written only while running: a finished evaluation's progress never changes (it is evidence)."""
    ev = f.evaluation(version, pipeline)
    assert ev.status == "done"
    run._ProgressRecorder(ev.pk, 10)("reading", 0.5, 5)
    ev.refresh_from_db()
    assert ev.progress == {}


def test_a_large_csv_reports_percent_while_it_is_loaded_and_its_rows_once_read(
    version, pipeline, api_for, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """A CSV's rows are unknown until DuckDB has parsed it, which is most of the work: the percent moves
    during the load (DuckDB's progress, polled), only up, to 100, and the rows read are the file's."""
    settings.EVALUATION_SYNC_MAX_BYTES = 2000
    settings.EVALUATION_OUT_OF_CORE_THREADS = 1
    monkeypatch.setattr(run, "PROGRESS_INTERVAL_SECONDS", 0)
    monkeypatch.setattr(outofcore, "CSV_PROGRESS_POLL_SECONDS", 0.005)
    rows = 500_000
    lines = ["y,p,g,note"] + [f"{i % 2},{(i // 2) % 2},{'abc'[i % 3]},row {i:09d} of the holdout" for i in range(rows)]
    content = ("\n".join(lines) + "\n").encode()  # 20 MB: the load takes many of DuckDB's buffers
    written: list[dict] = []
    record = run._ProgressRecorder.__call__

    def watch(self, stage, fraction, rows_read=0):
        record(self, stage, fraction, rows_read)
        written.append(Evaluation.objects.get(pk=self.evaluation_id).progress)

    monkeypatch.setattr(run._ProgressRecorder, "__call__", watch)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_for(pipeline).post(
            "/api/v1/evaluations/",
            {
                "model_version": str(version.pk),
                "kind": "fairness",
                "dataset": "large",
                "file": SimpleUploadedFile("scores.csv", content),
                "columns": json.dumps({"y_true": "y", "y_pred": "p", "sensitive_features": ["g"]}),
            },
            format="multipart",
        )
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "done", ev.failure_reason
    assert ev.result["computed_out_of_core"] is True and ev.input_rows == rows
    loading = [p["percent"] for p in written if p["stage"] == "loading the CSV"]
    assert len(set(loading)) >= 4, loading  # several updates while DuckDB parses the file
    assert all(p["rows_read"] is None for p in written if p["stage"] in ("measuring the CSV", "loading the CSV"))
    percents = [p["percent"] for p in written] + [ev.progress["percent"]]
    assert percents == sorted(percents) and percents[-1] == 100.0, percents
    after = written[[p["stage"] for p in written].index("opened") :]
    assert after and all(p["rows_read"] == rows for p in after)
    assert ev.progress["stage"] == "done" and ev.progress["rows_read"] == rows

"""Inputs referenced by path (``input_uri``): allowed only under EVALUATION_INPUT_ROOTS, read in place by
the worker, digested over their exact bytes, refused when they change after being referenced or while
being evaluated."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from governance.evaluations.models import Evaluation
from governance.evaluations.services import run
from tests.evaluations.conftest import events, record
from tests.evaluations.test_outofcore_worker import fairness_rows
from tests.evaluations_core.test_outofcore import assert_same
from tests.factories import evaluations as f

pytestmark = pytest.mark.django_db

COLUMNS = {"y_true": "y", "y_pred": "p", "sensitive_features": ["g"]}


@pytest.fixture
def root(tmp_path, settings):
    folder = tmp_path / "inputs"
    folder.mkdir()
    settings.EVALUATION_INPUT_ROOTS = [str(folder)]
    return folder


def post(api, version, uri, **extra):
    body = {"model_version": version.pk, "kind": "fairness", "dataset": "monthly", "input_uri": uri, "columns": COLUMNS}
    body.update(extra)
    return api.post("/api/v1/evaluations/", body, format="json")


def test_a_table_referenced_by_path_is_digested_and_computed_by_the_worker(
    version, pipeline, api_for, root, django_capture_on_commit_callbacks
):
    content = f.table_bytes(fairness_rows(20_000), "parquet")
    path = root / "scores.parquet"
    path.write_bytes(content)
    api = api_for(pipeline)
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api, version, path.as_uri())
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "done", ev.failure_reason
    assert ev.input_sha256 == hashlib.sha256(content).hexdigest() == ev.result["input"]["file_sha256"]
    assert ev.result["input"]["uri"] == path.as_uri() and ev.result["computed_out_of_core"] is True
    assert not ev.input_file  # read in place, never copied
    [created] = events("evaluation.create")
    assert record(created)["data"]["input"]["uri"] == path.as_uri()
    [completed] = events("evaluation.complete")
    assert record(completed)["data"]["input_sha256"] == ev.input_sha256
    in_memory = api.post(
        "/api/v1/evaluations/",
        {
            "model_version": version.pk,
            "kind": "fairness",
            "dataset": "monthly",
            "data": {
                "y_true": fairness_rows(20_000)["y"],
                "y_pred": fairness_rows(20_000)["p"],
                "sensitive_features": {"g": fairness_rows(20_000)["g"]},
            },
        },
        format="json",
    )
    assert in_memory.status_code == 201, in_memory.json()
    assert_same(Evaluation.objects.get(pk=in_memory.json()["id"]).metrics, ev.metrics)


def _refused(api, version, uri, status, message, **extra):
    resp = post(api, version, uri, **extra)
    assert resp.status_code == status, resp.json()
    error = resp.json()["error"]
    assert list(error["fields"]) == ["input_uri"] and message in error["message"], error
    assert Evaluation.objects.count() == 0
    denied = events("evaluation.create.denied")
    assert record(denied[-1])["data"]["field"] == "input_uri"


def test_paths_outside_the_allowed_roots_are_refused(version, pipeline, api_for, root, tmp_path, settings):
    api = api_for(pipeline)
    outside = tmp_path / "secret.parquet"
    outside.write_bytes(f.table_bytes(fairness_rows(100), "parquet"))
    link = root / "link.parquet"
    os.symlink(outside, link)
    _refused(api, version, str(outside), 403, "is outside the directories inputs may be read from")
    _refused(api, version, str(link), 403, "is outside the directories")  # a link cannot lead out
    _refused(api, version, str(root / ".." / "secret.parquet"), 403, "is outside the directories")
    _refused(api, version, "s3://bucket/x.parquet", 400, "the 's3' scheme is not supported")
    _refused(api, version, "inputs/x.parquet", 400, "must be an absolute path")
    _refused(api, version, str(root / "missing.parquet"), 400, "no file at")
    _refused(api, version, "file://otherhost/data/x.parquet", 400, "a file:// URI names a file on this host")
    (root / "sub").mkdir()
    _refused(api, version, str(root / "sub"), 400, "is not a regular file")
    settings.EVALUATION_INPUT_ROOTS = []
    _refused(api, version, str(root / "missing.parquet"), 403, "not enabled on this installation")


def test_a_file_changed_after_it_was_referenced_is_refused_by_the_worker(
    version, pipeline, api_for, root, django_capture_on_commit_callbacks
):
    path = root / "scores.parquet"
    path.write_bytes(f.table_bytes(fairness_rows(20_000), "parquet"))
    resp = post(api_for(pipeline), version, str(path))  # queued; the worker has not started
    assert resp.status_code == 202, resp.json()
    path.write_bytes(f.table_bytes(fairness_rows(20_000, seed=9), "parquet"))  # replaced before the worker runs
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    from governance.accounts.principal import Principal

    run.evaluation_run(by=Principal.system("celery:test", auth="celery"), evaluation_id=ev.pk)
    ev.refresh_from_db()
    assert ev.status == "failed"
    assert (
        ev.failure_reason.startswith("input_uri: the file") and "changed after it was referenced" in ev.failure_reason
    )
    assert ev.metrics == {} and ev.input_sha256 == ""


def test_a_file_changed_while_it_is_evaluated_is_refused(
    version, pipeline, api_for, root, monkeypatch, django_capture_on_commit_callbacks
):
    path = root / "scores.parquet"
    path.write_bytes(f.table_bytes(fairness_rows(20_000), "parquet"))
    record_progress = run._ProgressRecorder.__call__

    def tamper(self, stage, fraction, rows=0):  # once the digest is taken, the file is appended to
        record_progress(self, stage, fraction, rows)
        if stage == "validated":
            with open(path, "ab") as handle:
                handle.write(b"\0")

    monkeypatch.setattr(run._ProgressRecorder, "__call__", tamper)
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(api_for(pipeline), version, str(path))
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "failed"
    assert "changed after its digest was taken, while it was evaluated (size, mtime_ns, ctime_ns differ)" in (
        ev.failure_reason
    ), ev.failure_reason
    assert ev.metrics == {} and ev.input_sha256 == ""
    [failed] = events("evaluation.fail")
    assert "changed after its digest was taken" in record(failed)["data"]["failure_reason"]


def test_input_uri_is_one_way_to_give_the_input(version, pipeline, api_for, root):
    path = root / "scores.parquet"
    path.write_bytes(f.table_bytes(fairness_rows(100), "parquet"))
    _refused(api_for(pipeline), version, str(path), 400, "give the input one way", data={"y_true": [1]})
    resp = post(api_for(pipeline), version, str(path), columns=None)
    assert resp.status_code == 400 and list(resp.json()["error"]["fields"]) == ["columns"]
    assert json.dumps(resp.json())  # a plain JSON error

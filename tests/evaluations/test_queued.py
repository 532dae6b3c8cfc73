"""Large inputs are stored to a file and queued (202); Celery runs eagerly here (no broker):
status queued -> running -> done or failed, each step audited."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.evaluations import services
from governance.evaluations.models import Evaluation
from tests.evaluations.conftest import events, record
from tests.factories import evaluations as f
from tests.factories.accounts import ADMIN, as_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    settings.EVALUATION_SYNC_MAX_ROWS = 100


def test_large_inline_input_is_queued_then_computed(
    g, version, pipeline, api_for, small_limits, django_capture_on_commit_callbacks
):
    api = api_for(pipeline)
    body = {
        "model_version": version.pk,
        "kind": "performance",
        "dataset": "holdout",
        "data": f.performance_data(g),
        "params": {"n_boot": 50},
        "thresholds": [{"metric": "auc", "comparator": ">=", "threshold": 0.6}],
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resp = api.post("/api/v1/evaluations/", body, format="json")
    assert resp.status_code == 202, resp.json()
    queued = resp.json()
    assert queued["status"] == "queued" and queued["metrics"] == {} and queued["passed"] is None
    assert resp["Location"] == queued["url"] and len(queued["input_sha256"]) == 64
    assert len(callbacks) == 1
    callbacks[0]()  # the worker's turn (eager Celery)
    done = api.get(queued["url"]).json()
    assert done["status"] == "done" and done["finished_at"]
    assert done["input_sha256"] == queued["input_sha256"]
    assert done["checks"][0]["passed"] is True and done["passed"] is True
    assert done["params"]["n_boot"] == 50
    ev = Evaluation.objects.get(pk=queued["id"])
    assert ev.input_file.name.endswith(".json")
    trail = [
        (e.action, record(e)["data"]["status"])
        for e in events("evaluation.create") + events("evaluation.start") + events("evaluation.complete")
        if e.object_id == str(ev.pk)
    ]
    assert trail == [("evaluation.create", "queued"), ("evaluation.start", "running"), ("evaluation.complete", "done")]
    complete = record(events("evaluation.complete")[0])["data"]
    assert complete["input_sha256"] == ev.input_sha256 and complete["metrics"]["auc"] == repr(ev.metrics["auc"])
    assert record(events("evaluation.start")[0])["actor"]["id"] == "celery:evaluations.run"


def test_queued_and_sync_give_the_same_numbers(g, version, pipeline, settings, django_capture_on_commit_callbacks):
    data = f.fairness_data(g)
    sync_created = services.evaluation_create(
        by=as_user(pipeline), model_version=version, kind="fairness", dataset="h", data=data
    )
    settings.EVALUATION_SYNC_MAX_BYTES = 100
    with django_capture_on_commit_callbacks(execute=True):
        queued_created = services.evaluation_create(
            by=as_user(pipeline), model_version=version, kind="fairness", dataset="h", data=data
        )
    assert queued_created.queued and not sync_created.queued  # what the service did: the API's 202 / 201
    sync, queued = sync_created.evaluation, queued_created.evaluation
    queued.refresh_from_db()
    assert queued.status == "done"
    assert (queued.input_sha256, queued.metrics, queued.result["by_group"], queued.warnings) == (
        sync.input_sha256,
        sync.metrics,
        sync.result["by_group"],
        sync.warnings,
    )


def test_large_file_is_stored_and_queued(
    g, version, pipeline, api_for, small_limits, django_capture_on_commit_callbacks
):
    f.reference_sample(version, pipeline)
    cols, mapping = f.drift_table(g, slice(700, 1000))
    upload = SimpleUploadedFile("current.parquet", f.table_bytes(cols, "parquet"))
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_for(pipeline).post(
            "/api/v1/evaluations/",
            {
                "model_version": str(version.pk),
                "kind": "drift",
                "dataset": "holdout",
                "file": upload,
                "columns": json.dumps(mapping),
            },
            format="multipart",
        )
    assert resp.status_code == 202, resp.json()
    ev = Evaluation.objects.get(pk=resp.json()["id"])
    assert ev.status == "done" and ev.input_file.name.endswith(".parquet")
    assert ev.result["input"]["reference_sample"] and ev.metrics["n_features"] == 4


def test_a_failure_is_recorded_with_its_reason(g, version, pipeline, small_limits, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ev = services.evaluation_create(
            by=as_user(pipeline),
            model_version=version,
            kind="performance",
            dataset="h",
            data=f.performance_data(g),
        ).evaluation
    # the stored input no longer matches the digest recorded at creation
    with open(ev.input_file.path, "w") as handle:
        json.dump(f.performance_data(g, slice(0, 300)), handle)
    callbacks[0]()
    ev.refresh_from_db()
    assert ev.status == "failed" and "digest" in ev.failure_reason and ev.finished_at
    [event] = [e for e in events("evaluation.fail") if e.object_id == str(ev.pk)]
    assert record(event)["data"]["failure_reason"] == ev.failure_reason
    # a finished evaluation is never run again
    assert services.evaluation_run(by=ADMIN, evaluation_id=ev.pk) is None
    assert services.evaluation_start(by=ADMIN, evaluation_id=ev.pk) is None


def test_an_unexpected_error_fails_the_evaluation(
    g, version, pipeline, small_limits, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ev = services.evaluation_create(
            by=as_user(pipeline),
            model_version=version,
            kind="performance",
            dataset="h",
            data=f.performance_data(g),
        ).evaluation

    def boom(*args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(services.run, "compute", boom)  # what the worker's run computes with
    callbacks[0]()
    ev.refresh_from_db()
    assert ev.status == "failed" and ev.failure_reason == "internal error: MemoryError: out of memory"


def test_bad_large_input_is_still_refused_in_the_request(version, pipeline, api_for, small_limits):
    data = {"y_true": [0, 1] * 100, "y_score": [0.5, 1.5] * 100}
    resp = api_for(pipeline).post(
        "/api/v1/evaluations/",
        {"model_version": version.pk, "kind": "performance", "dataset": "d", "data": data},
        format="json",
    )
    assert resp.status_code == 400 and "data.y_score" in resp.json()["error"]["fields"]
    assert Evaluation.objects.count() == 0


def test_numpy_arrays_from_python_callers_can_be_queued(
    g, version, pipeline, small_limits, django_capture_on_commit_callbacks
):
    data = {"y_true": g["y"][700:1000], "y_score": g["score"][700:1000]}
    with django_capture_on_commit_callbacks(execute=True):
        ev = services.evaluation_create(
            by=as_user(pipeline),
            model_version=version,
            kind="performance",
            dataset="h",
            data=data,
            params={"n_boot": 0},
        ).evaluation
    ev.refresh_from_db()
    from governance.evaluations.inputs import parse_inline
    from governance.evaluations.performance import compute_performance

    expected = compute_performance(parse_inline("performance", f.performance_data(g)), params={"n_boot": 0})
    assert ev.status == "done" and ev.metrics == expected["metrics"]

"""Every bad input: a clear 4xx naming the field, nothing stored, the attempt audited as
``evaluation.create.denied`` with the reason and the field."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from governance.evaluations.models import Evaluation
from tests.evaluations.conftest import events, record
from tests.factories.accounts import as_user

pytestmark = pytest.mark.django_db

NAN = float("nan")
FAIR = {"y_true": [0, 1, 1, 0], "y_pred": [0, 1, 0, 0], "sensitive_features": {"race": ["a", "b", "a", "b"]}}
PERF = {"y_true": [0, 1, 1, 0], "y_score": [0.1, 0.8, 0.4, 0.3]}
DRIFT = {
    "reference": {"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]},
    "current": {"x": [1.5, 2.5, 3.5], "c": ["a", "a", "b"]},
}


def _with(base, path, value):
    data = copy.deepcopy(base)
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


CASES = [
    # id, kind, data, extra body, field
    ("mismatched-lengths", "fairness", _with(FAIR, "y_pred", [0, 1, 0]), {}, "data.y_pred"),
    ("nan", "performance", _with(PERF, "y_score", [0.1, NAN, 0.4, 0.3]), {}, "data.y_score"),
    ("infinite", "performance", _with(PERF, "y_score", [0.1, float("inf"), 0.4, 0.3]), {}, "data.y_score"),
    ("labels-not-binary", "fairness", _with(FAIR, "y_true", [0, 2, 1, 0]), {}, "data.y_true"),
    ("labels-strings", "performance", _with(PERF, "y_true", ["a", "b", "a", "b"]), {}, "data.y_true"),
    ("score-above-one", "performance", _with(PERF, "y_score", [0.1, 1.2, 0.4, 0.3]), {}, "data.y_score"),
    ("score-below-zero", "performance", _with(PERF, "y_score", [-0.1, 0.2, 0.4, 0.3]), {}, "data.y_score"),
    ("empty-arrays", "performance", {"y_true": [], "y_score": []}, {}, "data.y_true"),
    ("missing-y-true", "performance", _with(PERF, "y_true", KeyError), {}, "data.y_true"),
    ("unknown-data-field", "performance", {**PERF, "extra": [1]}, {}, "data.extra"),
    ("unknown-feature-in-current", "drift", _with(DRIFT, "current.z", [1.0, 2.0, 3.0]), {}, "data.current.z"),
    ("feature-missing-from-current", "drift", _with(DRIFT, "current.x", KeyError), {}, "data.current.x"),
    ("categorical-posted-as-numeric", "drift", _with(DRIFT, "current.c", [1.0, 2.0, 1.0]), {}, "data.current.c"),
    ("categorical-param-unknown-feature", "drift", DRIFT, {"params": {"categorical": ["nope"]}}, "params.categorical"),
    ("drift-without-reference", "drift", {"current": DRIFT["current"]}, {}, "data.reference"),
    ("unknown-kind", "robustness", PERF, {}, "kind"),
    ("missing-dataset", "performance", PERF, {"dataset": ""}, "dataset"),
    ("thresholds-not-a-list", "performance", PERF, {"thresholds": {"metric": "auc"}}, "thresholds"),
    (
        "threshold-unknown-metric",
        "performance",
        PERF,
        {"thresholds": [{"metric": "auroc", "comparator": ">=", "threshold": 0.7}]},
        "thresholds[0].metric",
    ),
    (
        "threshold-bad-comparator",
        "performance",
        PERF,
        {"thresholds": [{"metric": "auc", "comparator": "=>", "threshold": 0.7}]},
        "thresholds[0].comparator",
    ),
    (
        "threshold-not-a-number",
        "performance",
        PERF,
        {"thresholds": [{"metric": "auc", "comparator": ">=", "threshold": "high"}]},
        "thresholds[0].threshold",
    ),
    (
        "threshold-unknown-drift-feature",
        "drift",
        DRIFT,
        {"thresholds": [{"metric": "psi:nope", "comparator": "<=", "threshold": 0.2}]},
        "thresholds[0].metric",
    ),
    (
        "threshold-stat-does-not-apply",
        "drift",
        DRIFT,
        {"thresholds": [{"metric": "ks_statistic:c", "comparator": "<=", "threshold": 0.2}]},
        "thresholds[0].metric",
    ),
    (
        "reported-threshold-not-reported",
        "reported",
        {"auc": 0.8},
        {"thresholds": [{"metric": "gini", "comparator": ">=", "threshold": 0.5}]},
        "thresholds[0].metric",
    ),
    ("reported-not-a-number", "reported", {"auc": "high"}, {}, "data.auc"),
    ("reported-empty", "reported", {}, {}, "data"),
    ("unknown-param", "performance", PERF, {"params": {"bootstraps": 10}}, "params.bootstraps"),
    ("bad-n-boot", "performance", PERF, {"params": {"n_boot": -1}}, "params.n_boot"),
    ("bad-min-group-size", "fairness", FAIR, {"params": {"min_group_size": -3}}, "params.min_group_size"),
    (
        "bad-threshold-param",
        "fairness",
        _with(_with(FAIR, "y_pred", KeyError), "y_score", [0.1, 0.8, 0.4, 0.3]),
        {"params": {"threshold": 2}},
        "params.threshold",
    ),
    ("no-data", "performance", None, {}, "data"),
    ("unknown-body-field", "performance", PERF, {"colour": "blue"}, "colour"),
]


def assert_refused(resp, field, *, status=400, action="evaluation.create.denied"):
    assert resp.status_code == status, resp.content
    err = resp.json()["error"]
    assert field in err["fields"], err
    assert err["message"] and field in err["message"]
    assert Evaluation.objects.count() == 0
    [event] = events(action)
    data = record(event)["data"]
    assert data["field"] == field and data["reason"] == err["message"]
    return err


@pytest.mark.parametrize(("kind", "data", "extra", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_inline_input_is_refused_and_audited(kind, data, extra, field, version, pipeline, api_for):
    body = {"model_version": version.pk, "kind": kind, "dataset": "holdout", **extra}
    if data is not None:
        body["data"] = data
    # NaN/inf cannot be sent as strict JSON; send them the way Python's json does (NaN, Infinity)
    resp = api_for(pipeline).post("/api/v1/evaluations/", json.dumps(body), content_type="application/json")
    assert_refused(resp, field)


def test_version_that_does_not_exist(pipeline, api_for):
    body = {"model_version": 999999, "kind": "reported", "dataset": "d", "data": {"auc": 0.8}}
    err = assert_refused(api_for(pipeline).post("/api/v1/evaluations/", body, format="json"), "model_version")
    assert "999999" in err["message"]


def test_version_id_that_is_not_a_number(pipeline, api_for):
    body = {"model_version": "v1", "kind": "reported", "dataset": "d", "data": {"auc": 0.8}}
    assert_refused(api_for(pipeline).post("/api/v1/evaluations/", body, format="json"), "model_version")


def test_auditors_may_not_post(version, auditor, api_for):
    body = {"model_version": version.pk, "kind": "reported", "dataset": "d", "data": {"auc": 0.8}}
    resp = api_for(auditor).post("/api/v1/evaluations/", body, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "permission_denied"
    assert Evaluation.objects.count() == 0
    [event] = events("evaluation.create.denied")
    assert record(event)["actor"]["username"] == auditor.username
    assert "auditor" not in record(event)["data"]["reason"] or True


def test_auditor_refused_by_the_service_too(version, auditor):
    from governance.common.errors import PermissionRefused
    from governance.evaluations import services

    with pytest.raises(PermissionRefused):
        services.evaluation_create(
            by=as_user(auditor), model_version=version, kind="reported", dataset="d", data={"auc": 0.8}
        )
    assert len(events("evaluation.create.denied")) == 1


def _upload(content: bytes, name: str):
    return SimpleUploadedFile(name, content)


@pytest.mark.parametrize(
    ("content", "name", "extra", "field"),
    [
        (b"label,score\n0,0.1,7\n1\n", "data.csv", {}, "file"),
        (b"PAR1 this is not parquet", "data.parquet", {}, "file"),
        (b"label,score\n", "data.csv", {}, "file"),
        (b"label,score\n0,0.1\n1,0.9\n", "data.txt", {}, "file_format"),
        (b"label,score\n0,0.1\n1,0.9\n", "data.csv", {"file_format": "xlsx"}, "file_format"),
        (b"label,score\n0,0.1\n1,0.9\n", "data.csv", {"columns": "{not json"}, "columns"),
        (b"label,prob\n0,0.1\n1,0.9\n", "data.csv", {}, "columns.y_score"),
        (b"label,score\n0,0.1\n1,\n", "data.csv", {}, "columns.y_score"),
        (b"label,score\n0,0.1\n2,0.9\n", "data.csv", {}, "columns.y_true"),
    ],
    ids=[
        "malformed-csv",
        "malformed-parquet",
        "no-rows",
        "unknown-extension",
        "bad-format",
        "columns-not-json",
        "column-missing",
        "missing-value",
        "labels-not-binary",
    ],
)
def test_bad_files_are_refused_and_audited(content, name, extra, field, version, pipeline, api_for):
    body = {
        "model_version": str(version.pk),
        "kind": "performance",
        "dataset": "d",
        "file": _upload(content, name),
        "columns": json.dumps({"y_true": "label", "y_score": "score"}),
        **extra,
    }
    resp = api_for(pipeline).post("/api/v1/evaluations/", body, format="multipart")
    assert_refused(resp, field)


def test_file_and_inline_data_together_are_refused(version, pipeline, api_for):
    body = {
        "model_version": str(version.pk),
        "kind": "performance",
        "dataset": "d",
        "file": _upload(b"label,score\n0,0.1\n1,0.9\n", "d.csv"),
        "data": json.dumps(PERF),
        "columns": json.dumps({"y_true": "label", "y_score": "score"}),
    }
    assert_refused(api_for(pipeline).post("/api/v1/evaluations/", body, format="multipart"), "file")


def test_file_over_the_upload_limit_is_413(version, pipeline, api_for, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    body = {
        "model_version": str(version.pk),
        "kind": "performance",
        "dataset": "d",
        "file": _upload(b"label,score\n" + b"0,0.1\n" * 400, "d.csv"),
        "columns": json.dumps({"y_true": "label", "y_score": "score"}),
    }
    resp = api_for(pipeline).post("/api/v1/evaluations/", body, format="multipart")
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
    assert Evaluation.objects.count() == 0


def test_oversized_file_refused_by_the_service_is_audited(version, pipeline):
    """Behind the middleware (e.g. a chunked upload without Content-Length) the service refuses it too."""
    from django.test import override_settings

    from governance.common.errors import PayloadTooLarge
    from governance.evaluations import services

    with override_settings(MAX_UPLOAD_BYTES=10), pytest.raises(PayloadTooLarge):
        services.evaluation_create(
            by=as_user(pipeline),
            model_version=version,
            kind="performance",
            dataset="d",
            file=_upload(b"label,score\n0,0.1\n1,0.9\n", "d.csv"),
            columns={"y_true": "label", "y_score": "score"},
        )
    [event] = events("evaluation.create.denied")
    assert record(event)["data"]["field"] == "file"


def test_json_body_over_the_limit_is_413(version, pipeline, api_for, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    resp = api_for(pipeline).post(
        "/api/v1/evaluations/",
        {"model_version": version.pk, "kind": "performance", "dataset": "d", "data": PERF, "pad": "x" * 300},
        format="json",
    )
    assert resp.status_code == 413


def test_nothing_is_stored_and_no_create_event_on_refusal(version, pipeline, api_for):
    before = AuditEvent.objects.filter(action="evaluation.create").count()
    api_for(pipeline).post(
        "/api/v1/evaluations/",
        {
            "model_version": version.pk,
            "kind": "performance",
            "dataset": "d",
            "data": _with(PERF, "y_score", [2, 2, 2, 2]),
        },
        format="json",
    )
    assert AuditEvent.objects.filter(action="evaluation.create").count() == before
    assert Evaluation.objects.count() == 0


def test_the_documented_request_is_the_enforced_one(version, pipeline, api_for):
    """The OpenAPI schema of POST /api/v1/evaluations/ and the fields the API accepts come from one
    serializer: an unknown field is refused naming exactly the documented ones."""
    schema = api_for(pipeline).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    documented = list(schema["components"]["schemas"]["EvaluationCreateRequest"]["properties"])
    body = {"model_version": version.pk, "kind": "reported", "dataset": "d", "data": {"auc": 0.8}, "colour": "b"}
    err = assert_refused(api_for(pipeline).post("/api/v1/evaluations/", body, format="json"), "colour")
    assert err["message"] == f"colour: unknown field (expected one of: {', '.join(documented)})"


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"kind": None}, "kind", "kind: is required (one of: fairness, drift, performance, reported)"),
        ({"dataset": "  "}, "dataset", "dataset: is required: a label such as holdout-2026-10"),
        ({"dataset": "x" * 201}, "dataset", "dataset: must be at most 200 characters"),
        ({"file_format": "csv"}, "file_format", "file_format: only used with an uploaded file"),
        ({"file": "data.csv"}, "file", "file: upload files as multipart/form-data"),
        (
            {"params": {"a b": 1}},
            "params",
            "params: parameter names must be 1-64 letters, digits or _ . : - (got 'a b')",
        ),
        (
            {"thresholds": [{"metric": "auc", "comparator": ">=", "threshold": 0.5}, 3]},
            "thresholds[1]",
            "thresholds[1]: must be an object {metric, comparator, threshold}",
        ),
    ],
    ids=[
        "no-kind",
        "blank-dataset",
        "long-dataset",
        "format-without-file",
        "file-in-json",
        "param-name",
        "threshold-item",
    ],
)
def test_request_shape_errors_name_the_field_and_reason(extra, field, message, version, pipeline, api_for):
    body = {"model_version": version.pk, "kind": "performance", "dataset": "d", "data": PERF, **extra}
    err = assert_refused(api_for(pipeline).post("/api/v1/evaluations/", body, format="json"), field)
    assert err == {"code": "validation_error", "message": message, "fields": {field: [message]}}


def test_a_refused_request_names_the_version_and_what_was_asked(version, pipeline, api_for):
    body = {"model_version": version.pk, "kind": "performance", "dataset": "holdout", "data": PERF, "params": 3}
    assert_refused(api_for(pipeline).post("/api/v1/evaluations/", body, format="json"), "params")
    [event] = events("evaluation.create.denied")
    assert record(event)["object"]["model"] == version.model.name
    assert record(event)["data"] == {
        "reason": "params: must be an object",
        "field": "params",
        "kind": "performance",
        "dataset": "holdout",
    }

"""The evaluations API contract: each kind, inline = CSV = Parquet, responses, listing, immutability, audit."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.evaluations.models import Evaluation, EvaluationFrozen
from tests.evaluations.conftest import events, record
from tests.factories import evaluations as f

pytestmark = pytest.mark.django_db

BASE_KEYS = {
    "id",
    "url",
    "model_version",
    "kind",
    "dataset",
    "source",
    "status",
    "failure_reason",
    "input_sha256",
    "input_rows",
    "library_versions",
    "params",
    "thresholds",
    "checks",
    "passed",
    "warnings",
    "metrics",
    "created_by",
    "created_at",
    "finished_at",
}
THRESHOLDS = {
    "fairness": [
        {"metric": "demographic_parity_difference", "comparator": "<=", "threshold": 0.1},
        {"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8},
    ],
    "performance": [{"metric": "auc", "comparator": ">=", "threshold": 0.6}],
    "drift": [
        {"metric": "max_psi", "comparator": "<=", "threshold": 0.2},
        {"metric": "psi:age_years", "comparator": "<", "threshold": 0.1},
    ],
}


def post_json(api, version, kind, data, **extra):
    body = {"model_version": version.pk, "kind": kind, "dataset": "holdout-2026-10", "data": data, **extra}
    return api.post("/api/v1/evaluations/", body, format="json")


def post_file(api, version, kind, cols, mapping, file_format, *, name=None, **extra):
    upload = SimpleUploadedFile(name or f"data.{file_format}", f.table_bytes(cols, file_format))
    body = {
        "model_version": str(version.pk),
        "kind": kind,
        "dataset": "holdout-2026-10",
        "file": upload,
        "columns": json.dumps(mapping),
        **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in extra.items()},
    }
    return api.post("/api/v1/evaluations/", body, format="multipart")


def inline_data(g, kind):
    return {"fairness": f.fairness_data, "performance": f.performance_data, "drift": f.drift_data}[kind](g)


@pytest.mark.parametrize("kind", ["fairness", "performance", "drift"])
def test_inline_csv_and_parquet_give_the_same_digest_and_numbers(kind, g, version, pipeline, api_for):
    api = api_for(pipeline)
    inline = post_json(api, version, kind, inline_data(g, kind), thresholds=THRESHOLDS[kind])
    assert inline.status_code == 201, inline.json()
    body = inline.json()
    if kind == "drift":  # the table is the current sample; the reference is registered for the version
        f.reference_sample(version, pipeline)
        cols, mapping = f.drift_table(g, slice(700, 1000))
    else:
        cols, mapping = getattr(f, f"{kind}_table")(g)
    for fmt in ("csv", "parquet"):
        resp = post_file(api, version, kind, cols, mapping, fmt, thresholds=THRESHOLDS[kind])
        assert resp.status_code == 201, resp.json()
        other = resp.json()
        assert other["input_sha256"] == body["input_sha256"]
        assert other["metrics"] == body["metrics"]
        assert other["checks"] == body["checks"]
        assert other["input_rows"] == body["input_rows"]
        assert other["library_versions"]["pyarrow"]
        assert other["input"]["format"] == fmt and len(other["input"]["file_sha256"]) == 64
    assert BASE_KEYS <= set(body)
    assert body["source"] == "computed" and body["status"] == "done" and body["failure_reason"] == ""
    assert len(body["input_sha256"]) == 64 and body["library_versions"]["numpy"]
    assert body["model_version"] == version.pk and body["created_by"] == pipeline.username
    assert body["url"] == f"/api/v1/evaluations/{body['id']}"
    assert inline["Location"] == body["url"]
    assert [c["metric"] for c in body["checks"]] == [t["metric"] for t in THRESHOLDS[kind]]
    assert all({"value", "passed"} <= set(c) for c in body["checks"])
    assert body["passed"] == all(c["passed"] for c in body["checks"])


def test_fairness_response_fields(g, version, developer, api_for):
    body = post_json(api_for(developer), version, "fairness", f.fairness_data(g)).json()
    assert set(body["metrics"]) == {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
        "equal_opportunity_difference",
        "disparate_impact_ratio",
    }
    assert body["by_group"][-1]["overall"] is True and body["by_group"][-1]["count"] == 300
    assert {"group", "count", "selection_rate", "tpr", "fpr"} <= set(body["by_group"][0])
    assert body["input_rows"] == 300 and body["params"]["min_group_size"] == 30
    # groups smaller than min_group_size give warning rows, not errors
    assert any(w["code"] == "small_group" for w in body["warnings"])
    # per-group 95% intervals (Wilson) and the ratios' seeded bootstrap intervals, with the method
    low, high = body["by_group"][0]["intervals"]["selection_rate"]
    assert low <= body["by_group"][0]["selection_rate"] <= high
    assert set(body["metric_intervals"]) == {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "disparate_impact_ratio",
    }
    assert body["interval_method"]["level"] == 0.95 and "Wilson" in body["interval_method"]["rates"]


def test_fairness_with_scores_threshold_and_weights(g, version, validator, api_for):
    data = f.fairness_data(g)
    data.pop("y_pred")
    data["y_score"] = g["score"][700:1000].tolist()
    data["sample_weight"] = [1.0] * 300
    resp = post_json(api_for(validator), version, "fairness", data, params={"threshold": 0.3, "min_group_size": 5})
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["params"]["threshold"] == 0.3 and body["params"]["weighted"] is True
    assert body["params"]["min_group_size"] == 5 and not any(w["code"] == "small_group" for w in body["warnings"])


def test_min_group_size_default_is_a_setting(g, version, pipeline, api_for, settings):
    settings.EVALUATION_MIN_GROUP_SIZE = 1000
    body = post_json(api_for(pipeline), version, "fairness", f.fairness_data(g)).json()
    assert body["params"]["min_group_size"] == 1000
    assert sum(w["code"] == "small_group" for w in body["warnings"]) == 4


def test_performance_response_fields(g, version, risk_officer, api_for):
    body = post_json(
        api_for(risk_officer), version, "performance", f.performance_data(g), params={"n_boot": 200, "seed": 7}
    ).json()
    for key in (
        "auc",
        "gini",
        "ks_statistic",
        "brier",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "log_loss",
        "calibration",
        "confidence_intervals",
    ):
        assert key in body
    assert body["metrics"]["auc"] == body["auc"]
    assert body["confidence_intervals"]["auc"]["method"] == "delong"
    assert body["confidence_intervals"]["brier"]["n_boot"] == 200 and body["params"]["seed"] == 7
    curve = body["roc_curve"]
    assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["thresholds"]) == curve["n_points"] <= 201
    assert curve["thresholds"][0] is None and (curve["fpr"][-1], curve["tpr"][-1]) == (1, 1)
    assert len(body["calibration"]) == 10


def test_only_performance_evaluations_carry_roc_and_calibration(g, version, pipeline, api_for):
    body = post_json(api_for(pipeline), version, "drift", f.drift_data(g)).json()
    assert "roc_curve" not in body and "calibration" not in body


def test_drift_response_fields_and_gate_metrics(g, version, pipeline, api_for):
    body = post_json(api_for(pipeline), version, "drift", f.drift_data(g)).json()
    assert {"features", "drift_share", "dataset_drifted"} <= set(body)
    assert {"drift_share", "max_psi", "max_js_distance", "max_wasserstein_normalized"} <= set(body["metrics"])
    assert [r["feature"] for r in body["features"]] == sorted(f.DRIFT_FEATURES)
    assert body["input_rows"] == 1000


def test_reported_metrics_are_stored_as_reported(version, pipeline, api_for):
    resp = post_json(
        api_for(pipeline),
        version,
        "reported",
        {"auc": 0.81, "max_psi": 0.05},
        thresholds=[
            {"metric": "auc", "comparator": ">=", "threshold": 0.7},
            {"metric": "max_psi", "comparator": "<=", "threshold": 0.01},
        ],
    )
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["source"] == "reported" and body["kind"] == "reported" and body["status"] == "done"
    assert body["metrics"] == {"auc": 0.81, "max_psi": 0.05}
    assert [c["passed"] for c in body["checks"]] == [True, False] and body["passed"] is False
    assert body["library_versions"] == {} and body["input_rows"] is None
    assert Evaluation.objects.get(pk=body["id"]).source == "reported"


def test_list_filters_and_detail(g, version, model, developer, pipeline, auditor, api_for):
    from tests.factories import registry as registry_factories

    other = registry_factories.model_version(model=model, user=developer)
    perf = f.evaluation(version, pipeline, kind="performance", params={"n_boot": 0})
    f.evaluation(version, pipeline, kind="reported", dataset="monthly")
    f.evaluation(other, pipeline, kind="reported")
    api = api_for(auditor)  # auditors read everything
    assert api.get("/api/v1/evaluations/").json()["count"] == 3
    assert api.get(f"/api/v1/evaluations/?model_version={version.pk}").json()["count"] == 2
    assert api.get(f"/api/v1/evaluations/?model_version={version.pk}&kind=performance").json()["count"] == 1
    assert api.get("/api/v1/evaluations/?dataset=monthly").json()["count"] == 1
    assert api.get("/api/v1/evaluations/?status=done").json()["count"] == 3
    assert api.get("/api/v1/evaluations/?status=queued").json()["count"] == 0
    detail = api.get(f"/api/v1/evaluations/{perf.pk}/")
    assert detail.status_code == 200 and detail.json()["auc"] == perf.metrics["auc"]
    assert api.get("/api/v1/evaluations/999999/").status_code == 404


def test_finished_evaluations_are_immutable(g, version, pipeline, api_for):
    ev = f.evaluation(version, pipeline, kind="reported")
    api = api_for(pipeline)
    for method in ("put", "patch", "delete"):
        resp = getattr(api, method)(f"/api/v1/evaluations/{ev.pk}/", {"dataset": "x"}, format="json")
        assert resp.status_code in (403, 405)  # no role may change an evaluation; no route does
    ev.dataset = "changed"
    with pytest.raises(EvaluationFrozen):
        ev.save()
    assert Evaluation.objects.get(pk=ev.pk).dataset == "holdout-2026-10"


def test_creation_is_audited_with_digest_and_decimal_metrics(g, version, pipeline, api_for):
    body = post_json(
        api_for(pipeline),
        version,
        "performance",
        f.performance_data(g),
        thresholds=THRESHOLDS["performance"],
        params={"n_boot": 0},
    ).json()
    [event] = events("evaluation.create", object_id=str(body["id"]))
    rec = record(event)
    assert rec["actor"]["username"] == pipeline.username and rec["object"]["type"] == "evaluation"
    assert rec["object"]["model_version"] == str(version.pk)
    data = rec["data"]
    assert data["input_sha256"] == body["input_sha256"] and data["status"] == "done"
    assert data["metrics"]["auc"] == repr(body["metrics"]["auc"])  # decimal strings, no floats
    assert data["checks"][0]["passed"] is True and data["passed"] is True
    assert data["library_versions"]["numpy"]


def test_idempotency_key_replays_the_first_response(g, version, pipeline, api_for):
    api = api_for(pipeline)
    body = {"model_version": version.pk, "kind": "reported", "dataset": "d", "data": {"auc": 0.8}}
    first = api.post("/api/v1/evaluations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/evaluations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert Evaluation.objects.count() == 1


def test_openapi_schema_documents_the_endpoints(api_for, auditor):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "/api/v1/evaluations/" in schema["paths"] or "/api/v1/evaluations" in json.dumps(schema["paths"])
    components = schema["components"]["schemas"]
    evaluation = components["Evaluation"]["properties"]
    assert "ROC curve" in evaluation["roc_curve"]["description"]
    roc = set(components["RocCurve"]["properties"])
    assert {"fpr", "tpr", "thresholds", "n_points", "exact", "auc_of_points"} <= roc
    assert {"mean_score", "observed_rate"} <= set(components["CalibrationBin"]["properties"])

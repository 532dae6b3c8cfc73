"""POST /api/v1/versions/{id}/reference/: a registered reference sample for drift."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.evaluations.models import Evaluation, ReferenceSample
from tests.evaluations.conftest import events, record
from tests.factories import evaluations as f

pytestmark = pytest.mark.django_db


def post_reference(api, version, content: bytes, name: str, columns: dict, **extra):
    return api.post(
        f"/api/v1/versions/{version.pk}/reference/",
        {"file": SimpleUploadedFile(name, content), "columns": json.dumps(columns), **extra},
        format="multipart",
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_register_and_use_a_reference_sample(fmt, g, version, pipeline, auditor, api_for):
    api = api_for(pipeline)
    cols, mapping = f.drift_table(g, slice(0, 700))
    content = f.table_bytes(cols, fmt)
    resp = post_reference(api, version, content, f"train.{fmt}", mapping)
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest() and body["rows"] == 700
    assert body["file_format"] == fmt and body["model_version"] == version.pk
    [event] = events("reference_sample.create")
    assert record(event)["data"]["sha256"] == body["sha256"] and record(event)["object"]["id"] == str(body["id"])
    listed = api_for(auditor).get(f"/api/v1/versions/{version.pk}/reference/").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]

    # inline drift without a reference uses the registered one, with the same digest as an inline reference
    inline_full = api.post(
        "/api/v1/evaluations/",
        {"model_version": version.pk, "kind": "drift", "dataset": "d", "data": f.drift_data(g)},
        format="json",
    ).json()
    current_only = api.post(
        "/api/v1/evaluations/",
        {"model_version": version.pk, "kind": "drift", "dataset": "d", "data": {"current": f.drift_data(g)["current"]}},
        format="json",
    )
    assert current_only.status_code == 201, current_only.json()
    assert current_only.json()["input_sha256"] == inline_full["input_sha256"]
    assert current_only.json()["metrics"] == inline_full["metrics"]
    assert current_only.json()["input"]["reference_sample"] == body["id"]


def test_reference_features_must_match(g, version, pipeline, api_for):
    f.reference_sample(version, pipeline)
    data = {"current": {"duration_months": [1.0, 2.0]}}
    resp = api_for(pipeline).post(
        "/api/v1/evaluations/",
        {"model_version": version.pk, "kind": "drift", "dataset": "d", "data": data},
        format="json",
    )
    assert resp.status_code == 400 and resp.json()["error"]["fields"]
    assert Evaluation.objects.count() == 0 and len(events("evaluation.create.denied")) == 1


@pytest.mark.parametrize(
    ("content", "name", "columns", "field"),
    [
        (b"a,b\n1,2,3\n4\n", "r.csv", {"features": ["a", "b"]}, "file"),
        (b"a,b\n1,2\n", "r.csv", {"features": ["a", "zzz"]}, "columns.features"),
        (b"a,b\n1,2\n", "r.csv", {}, "columns.features"),
        (b"a,b\n1,2\n", "r.bin", {"features": ["a"]}, "file_format"),
    ],
    ids=["malformed", "unknown-column", "no-features", "unknown-format"],
)
def test_bad_reference_samples_are_refused_and_audited(content, name, columns, field, version, pipeline, api_for):
    resp = post_reference(api_for(pipeline), version, content, name, columns)
    assert resp.status_code == 400 and field in resp.json()["error"]["fields"], resp.json()
    assert ReferenceSample.objects.count() == 0
    [event] = events("reference_sample.create.denied")
    assert record(event)["data"]["field"] == field


def test_auditors_cannot_register_reference_samples(g, version, auditor, api_for):
    cols, mapping = f.drift_table(g, slice(0, 700))
    resp = post_reference(api_for(auditor), version, f.table_bytes(cols, "csv"), "r.csv", mapping)
    assert resp.status_code == 403 and ReferenceSample.objects.count() == 0
    assert len(events("reference_sample.create.denied")) == 1


def test_unknown_version(pipeline, api_for):
    resp = pipeline and api_for(pipeline).post(
        "/api/v1/versions/999999/reference/",
        {"file": SimpleUploadedFile("r.csv", b"a\n1\n"), "columns": json.dumps({"features": ["a"]})},
        format="multipart",
    )
    assert resp.status_code == 400 and "model_version" in resp.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"columns": json.dumps({"features": ["a"]})}, "file", "file: is required: a CSV or Parquet table"),
        (
            {"file": SimpleUploadedFile("r.csv", b"a\n1\n")},
            "columns",
            'columns: is required: {"features": [...], "categorical": [...]}',
        ),
        (
            {"file": SimpleUploadedFile("r.csv", b"a\n1\n"), "columns": json.dumps(["a"])},
            "columns",
            "columns: must be an object",
        ),
        (
            {"file": SimpleUploadedFile("r.csv", b"a\n1\n"), "columns": "{}", "colour": "blue"},
            "colour",
            "colour: unknown field (expected one of: file, file_format, columns)",
        ),
    ],
    ids=["no-file", "no-columns", "columns-not-an-object", "unknown-field"],
)
def test_the_reference_request_shape_is_refused_by_its_serializer(body, field, message, version, pipeline, api_for):
    resp = api_for(pipeline).post(f"/api/v1/versions/{version.pk}/reference/", body, format="multipart")
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == {"code": "validation_error", "message": message, "fields": {field: [message]}}
    [event] = events("reference_sample.create.denied")
    assert record(event)["data"] == {"reason": message, "field": field}
    assert record(event)["object"]["id"] == str(version.pk) and record(event)["object"]["model"] == version.model.name

"""The inventory API as a pipeline and the people in each role use it, including every bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from governance.registry.models import ModelVersion, RegisteredModel
from tests.factories.accounts import ADMIN
from tests.factories.registry import model_version, registered_model, sha

pytestmark = pytest.mark.django_db

MODEL_BODY = {
    "name": "churn",
    "purpose": "Predicts churn.",
    "business_unit": "Retail",
    "eu_ai_act_category": "limited",
    "risk_tier": "tier_2",
}


def version_body(**overrides):
    body = {
        "model": "churn",
        "version": "1.0.0",
        "artifact_uri": "s3://m/churn.pkl",
        "artifact_sha256": sha("a"),
        "training_data_ref": "s3://d/train.parquet",
        "training_data_sha256": sha("d"),
        "code_commit": "a1b2c3d4e5f6",
        "framework": "xgboost 2.1",
        "parameters": {"depth": 6},
    }
    body.update(overrides)
    return body


def error_fields(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return body["error"]["fields"]


def test_pipeline_registers_a_model_and_a_version(pipeline, api_for):
    client = api_for(pipeline)
    response = client.post("/api/v1/models/", MODEL_BODY, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["owner"] == pipeline.username
    response = client.post("/api/v1/versions/", version_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["model"] == "churn" and body["stage"] == "development"
    assert body["artifact_sha256"] == sha("a") and body["registered_by"] == pipeline.username
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["registered_model.create", "model_version.create"]


def test_versions_filter_by_model_and_paginate(developer, api_for):
    first, second = registered_model(owner=developer), registered_model(owner=developer)
    for _ in range(3):
        model_version(model=first)
    model_version(model=second)
    client = api_for(developer)
    response = client.get(f"/api/v1/versions/?model={first.name}&page_size=2")
    body = response.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert {row["model"] for row in body["results"]} == {first.name}
    assert client.get(f"/api/v1/versions/?model_id={second.pk}").json()["count"] == 1
    assert client.get("/api/v1/models/?risk_tier=tier_1").json()["count"] == 2


@pytest.mark.parametrize(
    "overrides, field, reason",
    [
        ({"artifact_sha256": "abc"}, "artifact_sha256", "64 lowercase hexadecimal"),
        ({"artifact_sha256": "A" * 64}, "artifact_sha256", "64 lowercase hexadecimal"),
        ({"training_data_sha256": "z" * 64}, "training_data_sha256", "64 lowercase hexadecimal"),
        ({"code_commit": "not-a-commit"}, "code_commit", "git commit"),
        ({"model": "no-such-model"}, "model", "no registered model"),
        ({"version": ""}, "version", ""),
        ({"parameters": [1, 2]}, "parameters", ""),
        ({"artifact_uri": None}, "artifact_uri", "null"),
        ({"surprise": 1}, "surprise", "unknown field"),
    ],
)
def test_bad_version_input_names_the_field(pipeline, api_for, overrides, field, reason):
    client = api_for(pipeline)
    client.post("/api/v1/models/", MODEL_BODY, format="json")
    before = (ModelVersion.objects.count(), AuditEvent.objects.count())
    response = client.post("/api/v1/versions/", version_body(**overrides), format="json")
    assert response.status_code == 400
    fields = error_fields(response)
    assert field in fields, fields
    assert reason.lower() in " ".join(fields[field]).lower()
    assert (ModelVersion.objects.count(), AuditEvent.objects.count()) == before, "nothing half-written"


@pytest.mark.parametrize("missing", ["version", "artifact_uri", "artifact_sha256", "model"])
def test_missing_version_fields_are_named(pipeline, api_for, missing):
    client = api_for(pipeline)
    client.post("/api/v1/models/", MODEL_BODY, format="json")
    body = version_body()
    body.pop(missing)
    response = client.post("/api/v1/versions/", body, format="json")
    assert response.status_code == 400
    assert "required" in " ".join(error_fields(response)[missing])


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"risk_tier": "tier_9"}, "risk_tier"),
        ({"eu_ai_act_category": "dangerous"}, "eu_ai_act_category"),
        ({"name": "Has Spaces"}, "name"),
        ({"purpose": ["not", "text"]}, "purpose"),
        ({"annex_iii_area": "9_space"}, "annex_iii_area"),
    ],
)
def test_bad_model_input_names_the_field(developer, api_for, overrides, field):
    response = api_for(developer).post("/api/v1/models/", {**MODEL_BODY, **overrides}, format="json")
    assert response.status_code == 400
    assert field in error_fields(response)
    assert not RegisteredModel.objects.exists()


def test_duplicates_are_conflicts(pipeline, api_for):
    client = api_for(pipeline)
    assert client.post("/api/v1/models/", MODEL_BODY, format="json").status_code == 201
    response = client.post("/api/v1/models/", MODEL_BODY, format="json")
    assert response.status_code == 409 and "name" in error_fields(response)
    assert client.post("/api/v1/versions/", version_body(), format="json").status_code == 201
    response = client.post("/api/v1/versions/", version_body(artifact_sha256=sha("other")), format="json")
    assert response.status_code == 409 and "version" in error_fields(response)
    assert ModelVersion.objects.count() == 1


def test_malformed_json_and_oversized_bodies(pipeline, api_for, settings):
    client = api_for(pipeline)
    response = client.post("/api/v1/models/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "body" in error_fields(response)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/api/v1/models/", {**MODEL_BODY, "purpose": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert "exceeds the limit of 1000 bytes" in response.json()["error"]["message"]
    assert not RegisteredModel.objects.exists()


def test_lineage_is_immutable_once_set(developer, api_for):
    version = model_version(model=registered_model(owner=developer), training_data_ref="", training_data_sha256="")
    client = api_for(developer)
    response = client.patch(f"/api/v1/versions/{version.pk}/", {"artifact_sha256": sha("swapped")}, format="json")
    assert response.status_code == 400
    assert "lineage" in " ".join(error_fields(response)["artifact_sha256"])
    # an empty lineage field may be filled in once
    response = client.patch(
        f"/api/v1/versions/{version.pk}/",
        {"training_data_ref": "s3://d/late.parquet", "training_data_sha256": sha("late")},
        format="json",
    )
    assert response.status_code == 200, response.json()
    response = client.patch(f"/api/v1/versions/{version.pk}/", {"training_data_sha256": sha("again")}, format="json")
    assert response.status_code == 400
    version.refresh_from_db()
    assert version.artifact_sha256 != sha("swapped") and version.training_data_sha256 == sha("late")
    assert AuditEvent.objects.filter(action="model_version.update.denied").count() == 2


def test_stage_cannot_be_written_through_the_api(developer, api_for):
    version = model_version(model=registered_model(owner=developer))
    response = api_for(developer).patch(f"/api/v1/versions/{version.pk}/", {"stage": "production"}, format="json")
    assert response.status_code == 400
    assert "promotion workflow" in " ".join(error_fields(response)["stage"])
    version.refresh_from_db()
    assert version.stage == "development"


def test_only_risk_officers_change_the_risk_classification(developer, risk_officer, api_for):
    model = registered_model(owner=developer, risk_tier="tier_1")
    response = api_for(developer).patch(f"/api/v1/models/{model.pk}/", {"risk_tier": "tier_3"}, format="json")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="registered_model.update.denied").exists()
    response = api_for(risk_officer).patch(f"/api/v1/models/{model.pk}/", {"risk_tier": "tier_2"}, format="json")
    assert response.status_code == 200 and response.json()["risk_tier"] == "tier_2"
    response = api_for(developer).patch(f"/api/v1/models/{model.pk}/", {"purpose": "Better words."}, format="json")
    assert response.status_code == 200


def test_auditors_read_but_never_write(auditor, api_for):
    client = api_for(auditor)
    assert client.get("/api/v1/models/").status_code == 200
    response = client.post("/api/v1/models/", MODEL_BODY, format="json")
    assert response.status_code == 403
    denied = AuditEvent.objects.filter(action="api.request.denied").last()
    assert denied is not None and denied.actor_username == auditor.username


def test_unauthenticated_and_bad_tokens(pipeline, api_for):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/models/").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token mlg_deadbeef_nonsense")
    response = bad.get("/api/v1/models/")
    assert response.status_code == 401 and response.json()["error"]["message"] == "unknown token"
    from governance.accounts.throttle import refusals_record

    refusals_record(now=timezone.now() + dt.timedelta(minutes=2))  # the window's one event, with its count
    assert AuditEvent.objects.filter(action="api_token.authenticate.denied").exists()


def test_expired_and_revoked_tokens_are_refused_and_audited(pipeline):
    from rest_framework.test import APIClient

    from governance.accounts.services import api_token_issue, api_token_revoke

    token, key = api_token_issue(by=ADMIN, user=pipeline, expires_days=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/models/").status_code == 200
    with connection.cursor() as cursor:  # time passes: the token is now past its expiry
        cursor.execute(
            "UPDATE accounts_apitoken SET expires_at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(seconds=1), token.pk],
        )
    response = client.get("/api/v1/models/")
    assert response.status_code == 401 and response.json()["error"]["message"] == "token expired"
    token2, key2 = api_token_issue(by=ADMIN, user=pipeline)
    api_token_revoke(by=ADMIN, token=token2)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key2}")
    response = client.get("/api/v1/models/")
    assert response.status_code == 401 and response.json()["error"]["message"] == "token revoked"
    from governance.accounts.throttle import refusals_record

    refusals_record(now=timezone.now() + dt.timedelta(minutes=2))  # one event per address and window
    denied = AuditEvent.objects.filter(action="api_token.authenticate.denied")
    reasons = {}
    for event in denied:
        for item in event.record_json["data"]["reasons"]:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + item["count"]
    assert reasons == {"token expired": 1, "token revoked": 1}


def test_idempotency_key_replays_and_conflicts(pipeline, api_for):
    client = api_for(pipeline)
    first = client.post("/api/v1/models/", MODEL_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    replay = client.post("/api/v1/models/", MODEL_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == replay.status_code == 201
    assert first.json() == replay.json() and replay["Idempotent-Replayed"] == "true"
    assert RegisteredModel.objects.count() == 1
    assert AuditEvent.objects.filter(action="registered_model.create").count() == 1
    different = client.post(
        "/api/v1/models/", {**MODEL_BODY, "name": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert different.status_code == 409
    assert "Idempotency-Key" in error_fields(different)
    assert RegisteredModel.objects.count() == 1


def test_idempotent_replay_of_an_error(pipeline, api_for):
    client = api_for(pipeline)
    bad = {**MODEL_BODY, "risk_tier": "nope"}
    first = client.post("/api/v1/models/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    again = client.post("/api/v1/models/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert first.status_code == again.status_code == 400 and first.json() == again.json()


def test_openapi_schema_and_docs(pipeline, api_for):
    client = api_for(pipeline)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/models/" in paths and "/api/v1/versions/{id}/" in paths
    assert "tokenAuth" in schema.json()["components"]["securitySchemes"]
    assert client.get("/api/docs/").status_code == 200

import datetime as dt

import pytest
from django.utils import timezone

from governance.workflow.models import PromotionRequest
from tests.factories import workflow as wf
from tests.factories.accounts import PASSWORD
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db


def _create(client, version, target="staging", reason="Ready."):
    return client.post(
        "/api/v1/promotions/", {"model_version": version.pk, "target_stage": target, "reason": reason}, format="json"
    )


def test_request_read_and_list(api_for, version, developer, auditor):
    wf.good_evidence(version)
    response = _create(api_for(developer), version)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending" and body["gates_passed"] is True
    assert body["policy"]["scope"] == "high" and body["outstanding"]["approvals"] == 1
    assert {row["outcome"] for row in body["gate_results"]} == {"pass"}
    assert set(body["gate_results"][0]) >= {
        "kind",
        "metric",
        "comparator",
        "threshold",
        "value",
        "evaluation_id",
        "dataset",
        "source",
        "evaluated_at",
        "outcome",
    }
    reader = api_for(auditor)
    assert reader.get(f"/api/v1/promotions/{body['id']}/").json()["id"] == body["id"]
    listing = reader.get("/api/v1/promotions/", {"open": "true", "model": version.model.name}).json()
    assert [r["id"] for r in listing["results"]] == [body["id"]]


def test_bad_input(api_for, version, developer):
    client = api_for(developer)
    response = _create(client, version, target="production")
    assert response.status_code == 400 and "target_stage" in response.json()["error"]["fields"]
    assert (
        client.post(
            "/api/v1/promotions/", {"model_version": 987654, "target_stage": "staging", "reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert _create(client, version, reason="").status_code == 400
    assert _create(client, version, target="nowhere").status_code == 400
    assert (
        client.post(
            "/api/v1/promotions/",
            {"model_version": version.pk, "target_stage": "staging", "reason": "x", "approve": True},
            format="json",
        ).status_code
        == 400
    )
    assert _create(client, version).status_code == 201
    duplicate = _create(client, version)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"
    assert PromotionRequest.objects.count() == 1


def test_auditor_cannot_request(api_for, version, auditor):
    assert _create(api_for(auditor), version).status_code == 403


def test_approve_reject_withdraw(api_for, version, developer, validator, risk_officer):
    wf.good_evidence(version)
    req_id = _create(api_for(developer), version).json()["id"]
    signer = api_for(validator)
    wrong = signer.post(
        f"/api/v1/promotions/{req_id}/approve/", {"justification": "ok", "password": "nope"}, format="json"
    )
    assert wrong.status_code == 403 and "password" in wrong.json()["error"]["fields"]
    assert last_event("promotion_request.approve.denied") is not None
    empty = signer.post(
        f"/api/v1/promotions/{req_id}/approve/", {"justification": "", "password": PASSWORD}, format="json"
    )
    assert empty.status_code == 400
    ok = signer.post(
        f"/api/v1/promotions/{req_id}/approve/",
        {"justification": "Evidence fine.", "password": PASSWORD},
        format="json",
    )
    assert ok.status_code == 200 and ok.json()["status"] == "promoted"
    assert ok.json()["approvals"][0]["signature_meaning"].startswith("I approve the promotion of")
    again = signer.post(
        f"/api/v1/promotions/{req_id}/reject/", {"justification": "x", "password": PASSWORD}, format="json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"


def test_reject_and_withdraw_via_api(api_for, staged, developer, risk_officer):
    dev = api_for(developer)
    req_id = _create(dev, staged, target="production").json()["id"]
    response = api_for(risk_officer).post(
        f"/api/v1/promotions/{req_id}/reject/",
        {"justification": "Fairness memo missing.", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    req_id = _create(dev, staged, target="production").json()["id"]
    response = dev.post(f"/api/v1/promotions/{req_id}/withdraw/", {"reason": "superseded by 1.2"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"


def test_override_via_api(api_for, staged, developer, risk_officer):
    wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.3})
    req_id = _create(api_for(developer), staged, target="production").json()["id"]
    client = api_for(risk_officer)
    refused = client.post(
        f"/api/v1/promotions/{req_id}/approve/", {"justification": "ok", "password": PASSWORD}, format="json"
    )
    assert refused.status_code == 409 and refused.json()["error"]["fields"]["override_justification"]
    response = client.post(
        f"/api/v1/promotions/{req_id}/approve/",
        {"justification": "ok", "password": PASSWORD, "override_justification": "Seasonal shift, memo 12."},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["approvals"][0]["is_override"] is True


def test_service_account_cannot_sign(api_for, version, developer, pipeline):
    wf.good_evidence(version)
    req_id = _create(api_for(developer), version).json()["id"]
    response = api_for(pipeline).post(
        f"/api/v1/promotions/{req_id}/approve/", {"justification": "auto", "password": "x"}, format="json"
    )
    assert response.status_code == 403
    assert "service account" in response.json()["error"]["message"]


def test_pipeline_may_request(api_for, model, pipeline):
    from tests.factories import registry as registry_factories

    version = registry_factories.model_version(model=model, user=pipeline)
    assert _create(api_for(pipeline), version).status_code == 201


def test_history_endpoint(api_for, staged, developer, validator, risk_officer, auditor):
    before_prod = timezone.now()
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    client = api_for(auditor)
    now = client.get(f"/api/v1/models/{staged.model_id}/history/").json()
    assert [e["version"] for e in now["stages"]["production"]] == [staged.version]
    entry = now["stages"]["production"][0]
    assert {a["username"] for a in entry["approvals"]} == {validator.username, risk_officer.username}
    assert {e["kind"] for e in entry["evaluations"]} == {"performance", "fairness", "drift"}
    past = client.get(f"/api/v1/models/{staged.model_id}/history/", {"at": before_prod.isoformat()}).json()
    assert past["stages"]["production"] == [] and past["stages"]["staging"][0]["version"] == staged.version
    long_ago = (staged.registered_at - dt.timedelta(days=1)).isoformat()
    assert client.get(f"/api/v1/models/{staged.model_id}/history/", {"at": long_ago}).json()["stages"] == {
        "development": [],
        "staging": [],
        "production": [],
        "retired": [],
    }
    assert client.get(f"/api/v1/models/{staged.model_id}/history/", {"at": "yesterday"}).status_code == 400
    assert client.get(f"/api/v1/models/{staged.model_id}/history/", {"at": "2026-01-01T00:00:00"}).status_code == 400
    assert client.get("/api/v1/models/999999/history/").status_code == 404


def test_openapi_schema_documents_the_workflow(api_for, auditor):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    for p in (
        "/api/v1/promotions/",
        "/api/v1/promotions/{id}/",
        "/api/v1/promotions/{id}/approve/",
        "/api/v1/promotions/{id}/reject/",
        "/api/v1/promotions/{id}/withdraw/",
        "/api/v1/models/{id}/history/",
    ):
        assert p in paths, p
    approve = paths["/api/v1/promotions/{id}/approve/"]["post"]
    ref = approve["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {
        "justification",
        "password",
        "override_justification",
    }

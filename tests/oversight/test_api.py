"""The oversight API: the same error shape, refusals audited, and the schedule."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.oversight.models import Finding, SeriousIncident
from tests.oversight.conftest import last_event

pytestmark = pytest.mark.django_db


def test_validation_finding_flow_over_the_api(api_for, production, validator, developer, risk_officer, auditor):
    v_api = api_for(validator)
    created = v_api.post("/api/v1/validations/", {"model_version": production.pk, "scope": "Annual."}, format="json")
    assert created.status_code == 201, created.json()
    validation_id = created.json()["id"]
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    finding = v_api.post(
        "/api/v1/findings/",
        {
            "validation": validation_id,
            "severity": "high",
            "description": "Thin files.",
            "owner": developer.username,
            "due_date": due,
        },
        format="json",
    )
    assert finding.status_code == 201, finding.json()
    fid = finding.json()["id"]
    # the owner cannot close their own finding
    closed = api_for(developer).post(f"/api/v1/findings/{fid}/close/", {"note": "done"}, format="json")
    assert closed.status_code == 403
    assert closed.json()["error"]["fields"] == {"owner": ["the finding's owner cannot close it; its validator does"]}
    # a risk acceptance without expiry names the field
    accepted = api_for(risk_officer).post(
        f"/api/v1/findings/{fid}/accept-risk/", {"justification": "ok"}, format="json"
    )
    assert accepted.status_code == 400 and "expires_on" in accepted.json()["error"]["fields"]
    assert last_event("finding.accept_risk.denied").record_json["data"]["field"] == "expires_on"
    assert Finding.objects.get().status == "open"
    proposed = api_for(developer).post(
        f"/api/v1/findings/{fid}/propose-remediation/", {"remediation": "Recalibrate."}, format="json"
    )
    assert proposed.json()["status"] == "remediation proposed"
    assert (
        v_api.post(f"/api/v1/findings/{fid}/close", {"note": "Verified."}, format="json").json()["status"] == "closed"
    )
    done = v_api.post(f"/api/v1/validations/{validation_id}/complete/", {"conclusion": "fit for use"}, format="json")
    assert done.status_code == 200 and done.json()["findings"][0]["status"] == "closed"
    schedule = api_for(auditor).get("/api/v1/revalidation/schedule?within=400").json()
    assert schedule["results"][0]["model"] == production.model.name
    assert schedule["results"][0]["last_validation"] == dt.date.today().isoformat()
    assert api_for(auditor).get("/api/v1/revalidation/schedule?within=x").status_code == 400


def test_self_validation_refused_over_the_api(api_for, version, developer):
    from tests.factories.accounts import person

    dual = person("developer", "validator")
    from tests.factories import registry as registry_factories

    theirs = registry_factories.model_version(model=registry_factories.registered_model(owner=dual), user=dual)
    response = api_for(dual).post("/api/v1/validations/", {"model_version": theirs.pk, "scope": "x"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["validator"]


def test_incident_over_the_api(api_for, version, risk_officer, developer):
    client = api_for(risk_officer)
    body = {
        "model_version": version.pk,
        "description": "Refusals spiked.",
        "aware_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        "affected_persons": "400 applicants",
        "causal_link": "Model score.",
        "category": "death",
    }
    future = client.post("/api/v1/incidents/", body, format="json")
    assert future.status_code == 400 and list(future.json()["error"]["fields"]) == ["aware_at"]
    assert not SeriousIncident.objects.exists()
    body["aware_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    created = client.post("/api/v1/incidents/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["deadline_rule"] == "Art. 73(4)" and data["deadline_status"]["status"] == "pending"
    assert api_for(developer).post("/api/v1/incidents/", body, format="json").status_code == 403
    report = client.post(
        f"/api/v1/incidents/{data['id']}/reports/",
        {
            "kind": "initial",
            "submitted_at": dt.datetime.now(dt.UTC).isoformat(),
            "authority": "MSA",
            "summary": "Initial.",
        },
        format="json",
    )
    assert report.status_code == 201 and report.json()["deadline_status"]["status"] == "reported_on_time"


def test_interval_override_over_the_api(api_for, model, risk_officer, developer):
    body = {"model": model.pk, "months": 6, "reason": "Volatile."}
    assert api_for(developer).post("/api/v1/revalidation/intervals/", body, format="json").status_code == 403
    ok = api_for(risk_officer).post("/api/v1/revalidation/intervals/", body, format="json")
    assert ok.status_code == 201 and ok.json()["months"] == 6

"""The bridge's API: linking, listing, syncing, flags, and the OpenAPI document."""

from __future__ import annotations

import pytest

from governance.integrations.mlflow.models import MlflowLink
from tests.integrations.mlflow.conftest import log_run, register, unique_name

pytestmark = pytest.mark.django_db


def test_link_sync_and_read_through_the_api(api_for, developer, validator, model, mlflow_server, mlflow_client):
    name = unique_name("api")
    mlflow_client.create_registered_model(name)
    register(mlflow_client, name, log_run(mlflow_client))
    owner = api_for(developer)

    refused = api_for(validator).post(
        "/api/v1/mlflow/links/",
        {"model": model.name, "tracking_uri": mlflow_server.url, "mlflow_name": name},
        format="json",
    )
    assert refused.status_code == 403
    bad = owner.post(
        "/api/v1/mlflow/links/",
        {"model": model.name, "tracking_uri": "http://u:p@127.0.0.1:1", "mlflow_name": name},
        format="json",
    )
    assert bad.status_code == 400 and "tracking_uri" in bad.json()["error"]["fields"]
    unknown = owner.post(
        "/api/v1/mlflow/links/", {"model": model.name, "tracking_uri": mlflow_server.url, "mlflow_name": name, "x": 1}
    )
    assert unknown.status_code == 400 and "x" in unknown.json()["error"]["fields"]

    created = owner.post(
        "/api/v1/mlflow/links/",
        {"model": model.name, "tracking_uri": mlflow_server.url, "mlflow_name": name, "out_of_band": "flag"},
        format="json",
    )
    assert created.status_code == 201, created.content
    link_id = created.json()["id"]
    again = owner.post(
        "/api/v1/mlflow/links/", {"model": model.name, "tracking_uri": mlflow_server.url, "mlflow_name": name}
    )
    assert again.status_code == 409

    synced = owner.post(f"/api/v1/mlflow/links/{link_id}/sync")
    assert synced.status_code == 200 and synced.json()["imported"] == ["1"]
    imports = api_for(validator).get(f"/api/v1/mlflow/imports/?link={link_id}").json()["results"]
    assert imports[0]["mlflow_version"] == "1" and imports[0]["hash_status"] == "hashed"
    link = api_for(validator).get(f"/api/v1/mlflow/links/{link_id}/").json()
    assert link["imported_versions"] == 1 and link["last_sync_status"] == "ok"
    history = api_for(validator).get(f"/api/v1/mlflow/links/{link_id}/alias-history?at=2026-01-01T00:00:00Z")
    assert history.status_code == 200 and history.json()["periods"] == []
    assert api_for(validator).get(f"/api/v1/mlflow/links/{link_id}/alias-history?at=yesterday").status_code == 400
    assert MlflowLink.objects.get(pk=link_id).out_of_band == "flag"


def test_unreachable_mlflow_answers_503_on_sync(api_for, developer, model):
    from governance.integrations.mlflow.devserver import free_port

    client = api_for(developer)
    response = client.post(
        "/api/v1/mlflow/links/",
        {"model": model.name, "tracking_uri": f"http://127.0.0.1:{free_port()}", "mlflow_name": "x"},
        format="json",
    )
    assert response.status_code == 503 and response.json()["error"]["code"] == "mlflow_unavailable"
    assert not MlflowLink.objects.exists()


def test_openapi_lists_the_bridge_endpoints(api_for, auditor):
    schema = api_for(auditor).get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/mlflow/links/",
        "/api/v1/mlflow/links/{id}/sync/",
        "/api/v1/mlflow/links/{id}/alias-history/",
        "/api/v1/mlflow/imports/",
        "/api/v1/mlflow/flags/{id}/resolve/",
        "/api/v1/mlflow/webhook/",
    ):
        assert path in schema["paths"], path

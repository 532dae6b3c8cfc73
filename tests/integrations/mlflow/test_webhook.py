"""MLflow registry webhooks: a real MLflow server delivers to the live test server; bad deliveries are
refused with a clear 4xx, audited, and change nothing."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from mlflow.webhooks.delivery import _generate_hmac_signature

from audit.models import AuditEvent
from governance.integrations.mlflow.models import MlflowDelivery, MlflowVersionImport
from governance.registry.models import ModelVersion
from tests.integrations.mlflow.conftest import log_run, register

URL = "/api/v1/mlflow/webhook"
SECRET = "test-webhook-secret"


def signed(body: dict, *, secret=SECRET, delivery_id=None, timestamp=None) -> tuple[bytes, dict]:
    """Headers as MLflow's own delivery code builds them."""
    payload = json.dumps(body)
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {
        "HTTP_X_MLFLOW_DELIVERY_ID": delivery_id,
        "HTTP_X_MLFLOW_TIMESTAMP": timestamp,
        "HTTP_X_MLFLOW_SIGNATURE": _generate_hmac_signature(secret, delivery_id, timestamp, payload),
    }
    return payload.encode(), headers


def created(name: str, version: str = "1") -> dict:
    return {
        "entity": "model_version",
        "action": "created",
        "timestamp": "x",
        "data": {"name": name, "version": version},
    }


def post(client, body: bytes, headers: dict):
    return client.generic("POST", URL, body, content_type="application/json", **headers)


def denials() -> list[dict]:
    return [json.loads(bytes(e.record)) for e in AuditEvent.objects.filter(action="mlflow.webhook.denied")]


@pytest.mark.django_db
def test_bad_deliveries_are_refused_audited_and_change_nothing(client, linked):
    body, headers = signed(created(linked.mlflow_name))

    missing = {k: v for k, v in headers.items() if k != "HTTP_X_MLFLOW_SIGNATURE"}
    response = post(client, body, missing)
    assert response.status_code == 401
    assert response.json()["error"]["fields"] == {"X-MLflow-Signature": ["the X-MLflow-Signature header is missing"]}

    _, wrong = signed(created(linked.mlflow_name), secret="not-the-secret")
    response = post(client, body, {**headers, "HTTP_X_MLFLOW_SIGNATURE": wrong["HTTP_X_MLFLOW_SIGNATURE"]})
    assert response.status_code == 401 and response.json()["error"]["code"] == "signature_invalid"

    tampered = body.replace(b'"version": "1"', b'"version": "2"')
    assert post(client, tampered, headers).status_code == 401

    stale_body, stale = signed(created(linked.mlflow_name), timestamp=int(time.time()) - 3600)
    response = post(client, stale_body, stale)
    assert response.status_code == 400 and "X-MLflow-Timestamp" in response.json()["error"]["fields"]

    unlinked_body, unlinked = signed(created("not-linked-anywhere"))
    response = post(client, unlinked_body, unlinked)
    assert response.status_code == 404
    assert "no model here is linked" in response.json()["error"]["message"]

    other_body, other = signed({"entity": "registered_model", "action": "created", "data": {"name": "x"}})
    assert post(client, other_body, other).status_code == 400

    reasons = [d["data"]["reason"] for d in denials()]
    assert len(reasons) == 6
    assert any("signature does not match" in r for r in reasons)
    assert not MlflowDelivery.objects.exists()
    assert not ModelVersion.objects.filter(model=linked.model).exists()


@pytest.mark.django_db
def test_a_replayed_delivery_id_is_refused(client, linked, mlflow_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    register(mlflow_client, linked.mlflow_name, log_run(mlflow_client))
    body, headers = signed(created(linked.mlflow_name))
    first = post(client, body, headers)
    assert first.status_code == 202, first.content
    replay = post(client, body, headers)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "delivery_replayed"
    assert MlflowDelivery.objects.count() == 1
    assert "this delivery id was already received (replay)" in [d["data"]["reason"] for d in denials()]


@pytest.mark.django_db(transaction=True)
def test_mlflow_delivers_a_new_version_and_it_is_imported(live_server, linked, mlflow_client):
    hook = mlflow_client.create_webhook(
        name=f"mlgov-{uuid.uuid4().hex[:8]}",
        url=f"{live_server.url}{URL}",
        events=["model_version.created", "model_version_alias.created", "model_version_alias.deleted"],
        secret=SECRET,
    )
    try:
        run_id = log_run(mlflow_client)
        number = register(mlflow_client, linked.mlflow_name, run_id)
        deliveries = MlflowDelivery.objects.filter(
            entity="model_version", action="created", mlflow_name=linked.mlflow_name
        )
        # the import row is written while the delivery is processed; its status is set once that returns
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            MlflowVersionImport.objects.filter(link=linked).exists() and deliveries.exclude(status="accepted").exists()
        ):
            time.sleep(0.5)
        imp = MlflowVersionImport.objects.get(link=linked, mlflow_version=number)
        assert imp.run_id == run_id and imp.hash_status == "hashed"
        delivery = deliveries.get()
        assert delivery.status == "processed"
        assert AuditEvent.objects.filter(action="mlflow.webhook", object_id=delivery.delivery_id).exists()
    finally:
        mlflow_client.delete_webhook(hook.webhook_id)


@pytest.mark.django_db(transaction=True)
def test_champion_moved_in_mlflow_is_flagged_and_restored_within_one_delivery(
    live_server, mlflow_server, mlflow_client, developer, validator, risk_officer
):
    """Someone moves @champion in MLflow directly: MLflow's own delivery brings it here, and the
    governed alias is back on the approved version before the next sync."""
    from governance.integrations.mlflow import services
    from governance.integrations.mlflow.models import FlagKind, MlflowFlag
    from tests.factories import registry as registry_factories
    from tests.factories import workflow as wf
    from tests.factories.accounts import ADMIN, as_user
    from tests.integrations.mlflow.conftest import unique_name

    model = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    name = unique_name("oob")
    mlflow_client.create_registered_model(name)
    link = services.mlflow_link_create(
        by=as_user(developer), model=model, tracking_uri=mlflow_server.url, mlflow_name=name
    )
    for _ in range(2):
        register(mlflow_client, name, log_run(mlflow_client))
    services.mlflow_link_sync(by=ADMIN, link=link)
    v1 = ModelVersion.objects.get(model=model, version="1")
    wf.good_evidence(v1)
    wf.approve(wf.request(v1, developer, "staging"), validator)
    wf.approve(wf.request(v1, developer, "production"), risk_officer)  # on commit: @champion -> 1
    assert str(mlflow_client.get_registered_model(name).aliases["champion"]) == "1"

    hook = mlflow_client.create_webhook(
        name=f"mlgov-{uuid.uuid4().hex[:8]}",
        url=f"{live_server.url}{URL}",
        events=["model_version_alias.created", "model_version_alias.deleted"],
        secret=SECRET,
    )
    try:
        time.sleep(1.5)  # the server caches webhook lists for MLFLOW_WEBHOOK_CACHE_TTL (1 s in tests)
        mlflow_client.set_registered_model_alias(name, "champion", "2")  # out of band
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not MlflowFlag.objects.filter(kind=FlagKind.ALIAS_OUT_OF_BAND).exists():
            time.sleep(0.5)
        flag = MlflowFlag.objects.get(kind=FlagKind.ALIAS_OUT_OF_BAND, model=model)
        assert flag.details["observed"] == "2" and flag.details["expected"] == "1"
        while time.monotonic() < deadline and str(mlflow_client.get_registered_model(name).aliases["champion"]) != "1":
            time.sleep(0.5)
        assert str(mlflow_client.get_registered_model(name).aliases["champion"]) == "1"  # restored
        assert MlflowDelivery.objects.filter(entity="model_version_alias", mlflow_name=name).exists()
    finally:
        mlflow_client.delete_webhook(hook.webhook_id)

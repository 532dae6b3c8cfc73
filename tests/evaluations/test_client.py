"""governance.client against the live test server: real HTTP, no mocks."""

from __future__ import annotations

import hashlib
import importlib

import pytest

from governance.client import ApiError, Client
from governance.evaluations.models import Evaluation
from tests.factories import accounts as account_factories
from tests.factories import evaluations as f
from tests.factories.accounts import ADMIN

pytestmark = pytest.mark.django_db(transaction=True)


def restore_evaluation_permissions():
    """Transactional tests flush the permission grants of evaluations/0003; put them back."""
    from django.apps import apps

    importlib.import_module("governance.evaluations.migrations.0003_role_permissions").grant(apps, None)


def _token(user) -> str:
    from governance.accounts.services import api_token_issue

    _, key = api_token_issue(by=ADMIN, user=user)
    return key


@pytest.fixture
def client(live_server, monkeypatch):
    from django.db import connections

    # The live server's request threads close their database connection at the end of each request
    # (no persistent connections), so none outlives the test database.
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    restore_evaluation_permissions()
    pipeline = account_factories.service_account()
    with Client(live_server.url, _token(pipeline)) as api:
        yield api


def _register(client: Client) -> dict:
    client.register_model(
        "client-model",
        purpose="Scores applications.",
        business_unit="Retail",
        eu_ai_act_category="high",
        risk_tier="tier_1",
    )
    return client.register_version(
        "client-model", "1.0.0", artifact_uri="s3://m/1.pkl", artifact_sha256=hashlib.sha256(b"m").hexdigest()
    )


def test_the_pipeline_flow(client, tmp_path, settings):
    g = f.german()
    version = _register(client)
    inline = client.post_evaluation(
        version["id"],
        "fairness",
        "holdout",
        data=f.fairness_data(g),
        thresholds=[{"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8}],
    )
    assert inline["status"] == "done" and inline["checks"][0]["metric"] == "disparate_impact_ratio"
    cols, mapping = f.fairness_table(g)
    path = tmp_path / "holdout.parquet"
    path.write_bytes(f.table_bytes(cols, "parquet"))
    from_file = client.post_evaluation(version["id"], "fairness", "holdout", file=path, columns=mapping)
    assert from_file["input_sha256"] == inline["input_sha256"] and from_file["metrics"] == inline["metrics"]

    ref_cols, ref_mapping = f.drift_table(g, slice(0, 700))
    ref_path = tmp_path / "train.csv"
    ref_path.write_bytes(f.table_bytes(ref_cols, "csv"))
    sample = client.register_reference_sample(version["id"], ref_path, ref_mapping)
    assert sample["sha256"] == hashlib.sha256(ref_path.read_bytes()).hexdigest()
    cur_cols, cur_mapping = f.drift_table(g, slice(700, 1000))
    cur_path = tmp_path / "current.csv"
    cur_path.write_bytes(f.table_bytes(cur_cols, "csv"))

    settings.EVALUATION_SYNC_MAX_ROWS = 10  # queued; eager Celery runs it on commit in the server thread
    queued = client.post_evaluation(
        version["id"], "drift", "holdout", file=cur_path, columns=cur_mapping, file_format="csv"
    )
    done = client.wait_for_evaluation(queued["id"], timeout=60)
    assert done["status"] == "done" and done["input"]["reference_sample"] == sample["id"]
    assert client.get_evaluation(done["id"])["metrics"] == done["metrics"]

    req = client.request_promotion(version["id"], "staging", "Evidence posted by the pipeline.")
    assert req["status"] == "pending"
    appended = client.append_events(
        [{"action": "pipeline.batch_scored", "target": {"type": "batch", "id": "b-1"}, "details": {"rows": 300}}]
    )
    assert appended


def test_idempotency_key_on_every_post(client):
    version = _register(client)
    first = client.post_evaluation(version["id"], "reported", "d", data={"auc": 0.8}, idempotency_key="run-42")
    again = client.post_evaluation(version["id"], "reported", "d", data={"auc": 0.8}, idempotency_key="run-42")
    assert first["id"] == again["id"] and Evaluation.objects.count() == 1
    client.post_evaluation(version["id"], "reported", "d", data={"auc": 0.8})  # a fresh uuid4 key each time
    assert Evaluation.objects.count() == 2


def test_errors_raise_api_error(client):
    version = _register(client)
    with pytest.raises(ApiError) as err:
        client.post_evaluation(version["id"], "performance", "d", data={"y_true": [0, 1], "y_score": [0.2, 1.7]})
    assert err.value.status == 400 and err.value.code == "validation_error"
    assert "data.y_score" in err.value.fields and "data.y_score" in err.value.message
    with pytest.raises(ApiError) as err:
        client.get_evaluation(999999)
    assert err.value.status == 404

"""Who may sync a link and retry its alias writes (issue 10): the model's owner or a risk officer, as
for creating the link; system jobs (beat, ``mlflow_sync``, the bridge's writer) too. Anyone else is
refused through the one refusal helper: a 403 naming the reason, a ``.denied`` audit event, nothing
written. The link points at a closed port, so an allowed caller gets MLflow's 503."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from audit.models import AuditEvent
from governance.common.errors import PermissionRefused, Unavailable
from governance.integrations.mlflow import services
from governance.integrations.mlflow.devserver import free_port
from governance.integrations.mlflow.models import AliasWriteStatus, MlflowAliasWrite
from tests.factories.accounts import ADMIN, as_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_link(model, developer):
    return services.mlflow_link_create(
        by=as_user(developer),
        model=model,
        tracking_uri=f"http://127.0.0.1:{free_port()}",
        mlflow_name="closed",
        check_remote=False,
    )


def _denied(action: str) -> list[dict]:
    return [json.loads(bytes(e.record)) for e in AuditEvent.objects.filter(action=f"{action}.denied")]


def test_only_the_owner_a_risk_officer_or_a_system_job_syncs(
    closed_link, developer, validator, risk_officer, auditor, pipeline
):
    for stranger in (validator, auditor, pipeline):
        with pytest.raises(PermissionRefused) as exc:
            services.mlflow_link_sync(by=as_user(stranger), link=closed_link)
        assert "owner or a risk officer" in exc.value.message
    denied = _denied("mlflow.sync")
    assert [d["actor"]["username"] for d in denied] == [validator.username, auditor.username, pipeline.username]
    assert all(
        d["object"]
        == {"type": "mlflow_link", "id": str(closed_link.pk), "model": closed_link.model.name, "mlflow_name": "closed"}
        for d in denied
    )
    closed_link.refresh_from_db()
    assert closed_link.last_sync_at is None and closed_link.consecutive_failures == 0  # nothing written

    for allowed in (as_user(developer), as_user(risk_officer), ADMIN):
        with pytest.raises(Unavailable):
            services.mlflow_link_sync(by=allowed, link=closed_link)
    closed_link.refresh_from_db()
    assert closed_link.consecutive_failures == 3
    assert len(_denied("mlflow.sync")) == 3


def test_the_sync_endpoint_refuses_other_roles(api_for, closed_link, developer, validator, auditor, pipeline):
    for stranger in (validator, auditor, pipeline):
        response = api_for(stranger).post(f"/api/v1/mlflow/links/{closed_link.pk}/sync")
        assert response.status_code == 403, response.content
        assert "owner or a risk officer" in json.dumps(response.json())
    assert api_for(developer).post(f"/api/v1/mlflow/links/{closed_link.pk}/sync").status_code == 503
    assert len(_denied("mlflow.sync")) == 3


def test_only_the_owner_or_a_risk_officer_retries_an_alias_write(closed_link, developer, validator, auditor, pipeline):
    with transaction.atomic():
        write = services._queue_alias_write(
            by=ADMIN, link=closed_link, alias="champion", version=None, reason="Test of the retry rule."
        )
    for stranger in (validator, auditor, pipeline):
        with pytest.raises(PermissionRefused):
            services.mlflow_alias_write_attempt(write=write, by=as_user(stranger))
    denied = _denied("mlflow.alias_write_retry")
    assert len(denied) == 3 and all(d["data"]["write"] == write.pk for d in denied)
    write.refresh_from_db()
    assert write.status == AliasWriteStatus.PENDING and write.attempts == 0  # nothing attempted

    assert services.mlflow_alias_write_attempt(write=write, by=as_user(developer)).status == AliasWriteStatus.RETRYING
    assert services.mlflow_alias_write_attempt(write=write).status == AliasWriteStatus.RETRYING  # the bridge's writer
    assert MlflowAliasWrite.objects.get(pk=write.pk).attempts == 2

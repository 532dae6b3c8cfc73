"""Governed aliases: promotions here move ``@champion`` in MLflow; out-of-band moves in MLflow are caught."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from audit.models import AuditEvent
from governance.integrations.mlflow import selectors, services
from governance.integrations.mlflow.models import FlagKind, MlflowAliasWrite, MlflowFlag
from governance.registry.models import ModelVersion
from tests.factories import accounts as account_factories
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN, as_user
from tests.integrations.mlflow.conftest import log_run, register, unique_name

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_risk_link(mlflow_server, mlflow_client, developer):
    """A tier 3, minimal-risk model (one approval to production) linked to MLflow, with two versions."""
    model = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    name = unique_name("governed")
    mlflow_client.create_registered_model(name)
    link = services.mlflow_link_create(
        by=as_user(developer), model=model, tracking_uri=mlflow_server.url, mlflow_name=name
    )
    for _ in range(2):
        register(mlflow_client, name, log_run(mlflow_client))
    services.mlflow_link_sync(by=ADMIN, link=link)
    return link


def version(link, number: str) -> ModelVersion:
    return ModelVersion.objects.get(model=link.model, version=number)


def to_production(v: ModelVersion, developer, signers) -> None:
    wf.good_evidence(v)
    for stage in ("staging", "production"):
        req = wf.request(v, developer, stage)
        for signer in signers:
            req.refresh_from_db()
            if req.status == "promoted":
                break
            wf.approve(req, signer)
    v.refresh_from_db()
    assert v.stage == "production"


def champion(client, link) -> str | None:
    aliases = client.get_registered_model(link.mlflow_name).aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def test_promotion_sets_champion_and_rollback_moves_it_back(
    low_risk_link, mlflow_client, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    link = low_risk_link
    other_officer = account_factories.person("risk_officer")
    with django_capture_on_commit_callbacks(execute=True):
        to_production(version(link, "1"), developer, [validator, risk_officer])
    assert champion(mlflow_client, link) == "1"
    write = MlflowAliasWrite.objects.get(link=link, alias="champion", mlflow_version="1")
    assert write.status == "done" and write.promotion_request_id
    event = AuditEvent.objects.filter(action="mlflow.alias_set").last()
    record = json.loads(bytes(event.record))
    assert record["data"]["mlflow_response"]["version"] == "1"

    with django_capture_on_commit_callbacks(execute=True):
        to_production(version(link, "2"), developer, [validator, risk_officer])
    assert champion(mlflow_client, link) == "2"

    with django_capture_on_commit_callbacks(execute=True):
        req = wf.services.rollback_request_create(
            by=as_user(risk_officer), version=version(link, "1"), reason="v2 misbehaves"
        )
        wf.approve(req, other_officer)
    assert version(link, "1").stage == "production"
    assert champion(mlflow_client, link) == "1"

    history = selectors.alias_history(link)
    assert [(p["mlflow_version"], p["until"] is None) for p in history["periods"]] == [
        ("1", False),
        ("2", False),
        ("1", True),
    ]
    assert [a["username"] for a in history["periods"][0]["approvals"]] == [validator.username]
    assert history["periods"][2]["approvals"][0]["username"] == other_officer.username
    assert history["current"]["champion"]["mlflow_version"] == "1"


def test_an_out_of_band_move_is_flagged_notified_and_restored(
    low_risk_link, mlflow_client, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    link = low_risk_link
    with django_capture_on_commit_callbacks(execute=True):
        to_production(version(link, "1"), developer, [validator, risk_officer])
    mlflow_client.set_registered_model_alias(link.mlflow_name, "champion", "2")  # someone in the MLflow UI
    mlflow_client.set_registered_model_alias(link.mlflow_name, "experiment-x", "2")  # not governed
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        summary = services.mlflow_link_sync(by=ADMIN, link=link)

    assert summary["aliases"]["champion"].startswith("out of band")
    flag = MlflowFlag.objects.get(kind=FlagKind.ALIAS_OUT_OF_BAND)
    assert flag.details["observed"] == "2" and flag.details["expected"] == "1"
    assert AuditEvent.objects.filter(action="mlflow.alias_out_of_band").count() == 1
    recipients = {r for m in mail.outbox for r in m.to}
    assert developer.email in recipients and risk_officer.email in recipients
    assert champion(mlflow_client, link) == "1"  # restored
    assert str(mlflow_client.get_registered_model(link.mlflow_name).aliases["experiment-x"]) == "2"  # left alone
    history = selectors.alias_history(link)
    assert [(p["mlflow_version"], p["source"]) for p in history["periods"]] == [
        ("1", "governed"),
        ("2", "out_of_band"),
        ("1", "governed"),
    ]


def test_flag_only_policy_leaves_the_alias(
    low_risk_link, mlflow_client, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    link = services.mlflow_link_update(by=as_user(developer), link=low_risk_link, data={"out_of_band": "flag"})
    with django_capture_on_commit_callbacks(execute=True):
        to_production(version(link, "1"), developer, [validator, risk_officer])
    mlflow_client.delete_registered_model_alias(link.mlflow_name, "champion")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.mlflow_link_sync(by=ADMIN, link=link)
    assert champion(mlflow_client, link) is None
    assert MlflowFlag.objects.filter(kind=FlagKind.ALIAS_OUT_OF_BAND).count() == 1  # once per observed value


def test_alias_writes_retry_while_mlflow_is_down(
    low_risk_link, mlflow_client, mlflow_server, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    link = low_risk_link
    mlflow_server.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            to_production(version(link, "1"), developer, [validator, risk_officer])
        write = MlflowAliasWrite.objects.get(link=link, alias="champion")
        assert write.status == "retrying" and write.attempts == 1 and "unavailable" in write.last_error
        assert write.next_attempt_at > write.created_at
        assert AuditEvent.objects.filter(action="mlflow.alias_write_failed").exists()
        assert version(link, "1").stage == "production"  # the decision never waits for MLflow
    finally:
        mlflow_server.start()
    assert services.mlflow_alias_writes_flush(link=link) == {write.pk: "done"}
    assert champion(mlflow_client, link) == "1"

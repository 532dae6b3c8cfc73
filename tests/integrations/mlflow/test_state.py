"""State verification of the MLflow bridge (issue 10, defect 2): ``audit_verify --state`` replays the
bridge's events and names the table, row and field of a link, version import, review flag, webhook
delivery or governed alias write that a raw edit behind the services changed (SQLite; PostgreSQL
with the guard triggers lifted by the database owner). Bookkeeping columns are not governed and an
edit of them is no divergence."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.state import json_sha256, verify_state
from governance.integrations.mlflow import services
from governance.integrations.mlflow.devserver import free_port
from governance.integrations.mlflow.models import (
    FlagKind,
    HashStatus,
    MlflowAliasWrite,
    MlflowDelivery,
    MlflowFlag,
    MlflowLink,
    MlflowVersionImport,
)
from governance.registry.models import ModelVersion
from tests.audit.helpers import raw_write
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN, as_user
from tests.integrations.mlflow.conftest import log_run, register, unique_name, upload_files
from tests.integrations.mlflow.test_webhook import post, signed

pytestmark = pytest.mark.django_db(transaction=True)

RUN = "0123456789abcdef0123456789abcdef"


def _copy_row(table: str, row: int, **overrides: object) -> int:
    """INSERT a copy of ``row`` (every column but the id; ``overrides`` as parameters), as a database
    owner would add a row that no service created. Returns the new row's id."""
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, table) if c.name != "id"]
    select = ", ".join("%s" if name in overrides else name for name in columns)
    params = [overrides[name] for name in columns if name in overrides]
    raw_write(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} WHERE id = %s", [*params, row])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {table}")
        return cursor.fetchone()[0]


def _fails_on(table: str, row: object, field: str):
    result = verify_state()
    assert not result.ok, result.message
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(row), field), result.message
    with pytest.raises(CommandError, match=re.escape(f"{table} row {row}, field {field}")):
        call_command("audit_verify", "--state", "--no-progress")
    return d


def _facts(number: str, *, files: list | None = None) -> services.VersionFacts:
    """What a sync reads from MLflow for one version, given to the import service directly (``facts=``)."""
    if files is None:
        files = [{"path": "model.pkl", "size": 3, "sha256": number * 64}]
    manifest = services.ArtifactManifest(files=files, framework="sklearn")
    if not files:
        manifest.status, manifest.reason = HashStatus.NO_ARTIFACTS, "no artifact files under the version's source"
    return services.VersionFacts(
        version=number,
        status="READY",
        run_id=RUN,
        source=f"mlflow-artifacts:/1/{RUN}/artifacts/model",
        download_uri=f"mlflow-artifacts:/1/{RUN}/artifacts/model",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        parameters={"C": "0.5", "optimizer/learning rate": "0.01"},  # a key the log does not take as a key
        datasets=[{"name": "german-credit-train", "digest": "5d41402a", "source": "/data/train.csv"}],
        manifest=manifest,
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
    )


def _to_stage(version: ModelVersion, stage: str, developer, signers) -> None:
    wf.good_evidence(version)
    req = wf.request(version, developer, stage)
    for signer in signers:
        req.refresh_from_db()
        if req.status == "promoted":
            break
        wf.approve(req, signer)
    version.refresh_from_db()
    assert version.stage == stage


@pytest.fixture
def bridge(client, developer, validator, risk_officer):
    """The bridge's tables filled through its services, while the model's MLflow is unreachable:
    a link (its stage aliases revised), two imports (the second without artifacts, flagged; the flag
    resolved), the two versions promoted to staging (the first challenger write retried and then
    superseded by the second, also retried), and two signed webhook deliveries (one processed, one
    failed: MLflow unreachable)."""
    model = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    link = services.mlflow_link_create(
        by=as_user(developer),
        model=model,
        tracking_uri=f"http://127.0.0.1:{free_port()}",
        mlflow_name=unique_name(),
        check_remote=False,
    )
    services.mlflow_link_update(by=as_user(risk_officer), link=link, data={"stage_aliases": {"staging": "challenger"}})
    first = services.mlflow_version_import(by=ADMIN, link=link, version="1", facts=_facts("1"))
    second = services.mlflow_version_import(by=ADMIN, link=link, version="2", facts=_facts("2", files=[]))
    flag = MlflowFlag.objects.get(kind=FlagKind.ARTIFACT_MISSING, model_version=second.model_version)
    services.mlflow_flag_resolve(by=as_user(risk_officer), flag=flag, resolution="Re-logged in MLflow; RISK-7.")
    for imp in (first, second):
        _to_stage(imp.model_version, "staging", developer, [validator, risk_officer])
    superseded, retrying = MlflowAliasWrite.objects.filter(link=link).order_by("pk")
    assert (superseded.status, retrying.status) == ("superseded", "retrying")
    assert retrying.approvals and retrying.last_error  # the approvers' snapshot; MLflow's refusal
    for body in (
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "x",
            "data": {"name": link.mlflow_name, "version": "1"},
        },
        {
            "entity": "model_version_alias",
            "action": "created",
            "timestamp": "y",
            "data": {"name": link.mlflow_name, "alias": "champion", "version": "2"},
        },
    ):
        assert post(client, *signed(body)).status_code == 202
    processed, failed = MlflowDelivery.objects.order_by("pk")
    assert (processed.status, failed.status) == ("processed", "failed")
    return {
        "link": link.pk,
        "model": model.pk,
        "first": first.pk,
        "second": second.pk,
        "flag": flag.pk,
        "superseded": superseded.pk,
        "retrying": retrying.pk,
        "processed": processed.pk,
        "failed": failed.pk,
    }


def test_the_bridge_replays_clean_and_its_bookkeeping_is_not_state(bridge):
    result = verify_state()
    assert result.ok, result.message
    assert "mlflow" in result.replayers
    # Columns the guard leaves to the bridge's bookkeeping are not governed: editing them is no divergence.
    raw_write(
        "UPDATE mlflow_bridge_mlflowlink SET last_sync_status = 'error', last_sync_error = 'x', "
        "consecutive_failures = 9, last_sync_at = NULL"
    )
    raw_write("UPDATE mlflow_bridge_mlflowversionimport SET last_verified_at = NULL")
    raw_write("UPDATE mlflow_bridge_mlflowdelivery SET status = 'accepted', result = '{}'")
    raw_write("UPDATE mlflow_bridge_mlflowaliaswrite SET attempts = 0, last_error = '', next_attempt_at = created_at")
    result = verify_state()
    assert result.ok, result.message
    call_command("audit_verify", "--state", "--no-progress")


def test_the_events_carry_what_the_rows_hold(bridge):
    imp = MlflowVersionImport.objects.get(pk=bridge["first"])
    data = json.loads(
        bytes(AuditEvent.objects.get(action="mlflow.version_import", object_id=str(imp.model_version_id)).record)
    )["data"]
    assert data["import"] == imp.pk and data["mlflow_created_at"] == "2026-01-02T03:04:05.678000Z"
    delivery = MlflowDelivery.objects.get(pk=bridge["processed"])
    data = json.loads(bytes(AuditEvent.objects.get(action="mlflow.webhook", object_id=delivery.delivery_id).record))[
        "data"
    ]
    assert data["delivery"] == delivery.pk and data["payload_sha256"] == json_sha256(delivery.payload)
    write = MlflowAliasWrite.objects.get(pk=bridge["retrying"])
    queued = [json.loads(bytes(e.record))["data"] for e in AuditEvent.objects.filter(action="mlflow.alias_queue")]
    assert [q["approvals"] for q in queued if q["write"] == write.pk] == [write.approvals]


@pytest.mark.parametrize(
    "sql, table, key, field",
    [
        ("UPDATE {t} SET governed_alias = 'rogue' WHERE id = {link}", "mlflowlink", "link", "governed_alias"),
        ("UPDATE {t} SET stage_aliases = '{{}}' WHERE id = {link}", "mlflowlink", "link", "stage_aliases"),
        ("UPDATE {t} SET out_of_band = 'flag' WHERE id = {link}", "mlflowlink", "link", "out_of_band"),
        ("UPDATE {t} SET tracking_uri = 'http://elsewhere' WHERE id = {link}", "mlflowlink", "link", "tracking_uri"),
        ("UPDATE {t} SET created_by_id = NULL WHERE id = {link}", "mlflowlink", "link", "created_by"),
        (
            "UPDATE {t} SET created_at = "
            "(SELECT imported_at FROM mlflow_bridge_mlflowversionimport WHERE id = {first}) WHERE id = {link}",
            "mlflowlink",
            "link",
            "created_at",
        ),
        (
            "UPDATE {t} SET imported_at = mlflow_created_at WHERE id = {second}",
            "mlflowversionimport",
            "second",
            "imported_at",
        ),
        ("UPDATE {t} SET resolved_at = created_at WHERE id = {flag}", "mlflowflag", "flag", "resolved_at"),
        ("UPDATE {t} SET signed_at = received_at WHERE id = {processed}", "mlflowdelivery", "processed", "signed_at"),
        (
            "UPDATE {t} SET created_at = (SELECT created_at FROM mlflow_bridge_mlflowflag WHERE id = {flag}) "
            "WHERE id = {superseded}",
            "mlflowaliaswrite",
            "superseded",
            "created_at",
        ),
        (
            "UPDATE {t} SET artifact_sha256 = '{zeros}' WHERE id = {first}",
            "mlflowversionimport",
            "first",
            "artifact_sha256",
        ),
        (
            'UPDATE {t} SET parameters = \'{{"C": "9"}}\' WHERE id = {first}',
            "mlflowversionimport",
            "first",
            "parameters",
        ),
        ("UPDATE {t} SET hash_status = 'hashed' WHERE id = {second}", "mlflowversionimport", "second", "hash_status"),
        ("UPDATE {t} SET run_id = 'forged' WHERE id = {first}", "mlflowversionimport", "first", "run_id"),
        (
            "UPDATE {t} SET mlflow_created_at = NULL WHERE id = {first}",
            "mlflowversionimport",
            "first",
            "mlflow_created_at",
        ),
        (
            "UPDATE {t} SET latest_artifact_sha256 = '{zeros}' WHERE id = {first}",
            "mlflowversionimport",
            "first",
            "latest_artifact_sha256",
        ),
        ("UPDATE {t} SET resolution = 'Nothing to see.' WHERE id = {flag}", "mlflowflag", "flag", "resolution"),
        ("UPDATE {t} SET resolved_at = NULL WHERE id = {flag}", "mlflowflag", "flag", "resolved"),
        ("UPDATE {t} SET details = '{{}}' WHERE id = {flag}", "mlflowflag", "flag", "details"),
        ("UPDATE {t} SET kind = 'artifact_changed' WHERE id = {flag}", "mlflowflag", "flag", "kind"),
        ("UPDATE {t} SET payload = '{{}}' WHERE id = {processed}", "mlflowdelivery", "processed", "payload"),
        ("UPDATE {t} SET mlflow_name = 'other' WHERE id = {failed}", "mlflowdelivery", "failed", "mlflow_name"),
        ("UPDATE {t} SET action = 'deleted' WHERE id = {failed}", "mlflowdelivery", "failed", "action"),
        ("UPDATE {t} SET status = 'done' WHERE id = {retrying}", "mlflowaliaswrite", "retrying", "status"),
        ("UPDATE {t} SET status = 'pending' WHERE id = {superseded}", "mlflowaliaswrite", "superseded", "status"),
        ("UPDATE {t} SET mlflow_version = '7' WHERE id = {retrying}", "mlflowaliaswrite", "retrying", "mlflow_version"),
        ("UPDATE {t} SET approvals = '[]' WHERE id = {retrying}", "mlflowaliaswrite", "retrying", "approvals"),
        ("UPDATE {t} SET reason = 'forged' WHERE id = {superseded}", "mlflowaliaswrite", "superseded", "reason"),
        (
            "UPDATE {t} SET promotion_request_id = NULL WHERE id = {retrying}",
            "mlflowaliaswrite",
            "retrying",
            "promotion_request_id",
        ),
    ],
)
def test_a_raw_edit_of_a_bridge_row_is_named(bridge, sql, table, key, field):
    table = f"mlflow_bridge_{table}"
    raw_write(sql.format(t=table, zeros="0" * 64, **bridge))
    _fails_on(table, bridge[key], field)


@pytest.mark.parametrize("table", ["link", "import", "flag", "delivery", "write"])
def test_a_bridge_row_inserted_behind_the_services_is_named(bridge, developer, table):
    if table == "link":
        other = registry_factories.registered_model(owner=developer)
        forged = _copy_row("mlflow_bridge_mlflowlink", bridge["link"], model_id=other.pk, mlflow_name="forged")
    elif table == "import":
        spare = registry_factories.model_version(model=MlflowLink.objects.get(pk=bridge["link"]).model)
        forged = _copy_row(
            "mlflow_bridge_mlflowversionimport", bridge["first"], model_version_id=spare.pk, mlflow_version="9"
        )
    elif table == "flag":
        forged = _copy_row("mlflow_bridge_mlflowflag", bridge["flag"])
    elif table == "delivery":
        forged = _copy_row("mlflow_bridge_mlflowdelivery", bridge["processed"], delivery_id="forged-delivery")
    else:
        forged = _copy_row("mlflow_bridge_mlflowaliaswrite", bridge["retrying"])
    name = {"link": "mlflowlink", "import": "mlflowversionimport", "flag": "mlflowflag"}.get(table)
    name = name or {"delivery": "mlflowdelivery", "write": "mlflowaliaswrite"}[table]
    d = _fails_on(f"mlflow_bridge_{name}", forged, "(row)")
    assert d.stored == "present"


@pytest.mark.parametrize(
    "table, key",
    [
        ("mlflowversionimport", "first"),
        ("mlflowflag", "flag"),
        ("mlflowdelivery", "failed"),
        ("mlflowaliaswrite", "superseded"),
    ],
)
def test_a_bridge_row_deleted_behind_the_services_is_named(bridge, table, key):
    raw_write(f"DELETE FROM mlflow_bridge_{table} WHERE id = %s", [bridge[key]])
    d = _fails_on(f"mlflow_bridge_{table}", bridge[key], "(row)")
    assert d.stored == "missing"


def test_a_link_deleted_behind_the_services_is_named(bridge, developer):
    """A link with nothing imported yet (imports and alias writes protect a link's row)."""
    other = services.mlflow_link_create(
        by=as_user(developer),
        model=registry_factories.registered_model(owner=developer),
        tracking_uri="http://127.0.0.1:9",
        mlflow_name="spare",
        check_remote=False,
    )
    raw_write("DELETE FROM mlflow_bridge_mlflowlink WHERE id = %s", [other.pk])
    _fails_on("mlflow_bridge_mlflowlink", other.pk, "(row)")


@pytest.fixture
def low_risk_link(mlflow_server, mlflow_client, developer):
    """A tier 3, minimal-risk model linked to a real MLflow, with two versions imported by a sync."""
    model = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    name = unique_name("state")
    mlflow_client.create_registered_model(name)
    link = services.mlflow_link_create(
        by=as_user(developer), model=model, tracking_uri=mlflow_server.url, mlflow_name=name
    )
    first_run = log_run(mlflow_client, files={"model.pkl": b"original weights"})
    register(mlflow_client, name, first_run)
    register(mlflow_client, name, log_run(mlflow_client))
    services.mlflow_link_sync(by=ADMIN, link=link)
    return link, first_run


def test_a_bridge_synced_against_mlflow_replays_clean_and_its_done_writes_are_checked(
    low_risk_link, mlflow_client, client, developer, validator, risk_officer
):
    """Against a real MLflow: an artifact swapped after import (audited, flagged), version 1 promoted to
    production (@champion written, done, with MLflow's response), @champion moved in MLflow's UI
    (flagged and restored by the next sync), and a delivery from MLflow. The replay matches; then a
    done write's MLflow response and completion instant, edited behind the services, are named."""
    link, first_run = low_risk_link
    upload_files(mlflow_client, first_run, {"model.pkl": b"weights swapped after import"})
    assert services.mlflow_link_sync(by=ADMIN, link=link)["changed"] == ["1"]
    first = ModelVersion.objects.get(model=link.model, version="1")
    _to_stage(first, "staging", developer, [validator, risk_officer])
    _to_stage(first, "production", developer, [validator, risk_officer])
    assert str(mlflow_client.get_registered_model(link.mlflow_name).aliases["champion"]) == "1"
    mlflow_client.set_registered_model_alias(link.mlflow_name, "champion", "2")  # someone in MLflow's UI
    assert services.mlflow_link_sync(by=ADMIN, link=link)["aliases"]["champion"].startswith("out of band")
    body = {
        "entity": "model_version",
        "action": "created",
        "timestamp": "z",
        "data": {"name": link.mlflow_name, "version": "2"},
    }
    assert post(client, *signed(body)).status_code == 202
    champion, restore = MlflowAliasWrite.objects.filter(link=link, alias="champion").order_by("pk")
    assert (champion.status, restore.status) == ("done", "done") and restore.response["version"] == "1"
    assert {f.kind for f in MlflowFlag.objects.filter(model=link.model)} == {"artifact_changed", "alias_out_of_band"}

    result = verify_state()
    assert result.ok, result.message

    raw_write("UPDATE mlflow_bridge_mlflowaliaswrite SET done_at = NULL WHERE id = %s", [restore.pk])
    _fails_on("mlflow_bridge_mlflowaliaswrite", restore.pk, "done_at")
    raw_write("UPDATE mlflow_bridge_mlflowaliaswrite SET response = '{}' WHERE id = %s", [champion.pk])
    _fails_on("mlflow_bridge_mlflowaliaswrite", champion.pk, "response")
    raw_write(
        "UPDATE mlflow_bridge_mlflowversionimport SET artifact_changed_at = NULL WHERE model_version_id = %s",
        [first.pk],
    )
    _fails_on("mlflow_bridge_mlflowversionimport", first.mlflow_import.pk, "artifact_changed_at")


def test_a_delivery_whose_event_predates_the_added_fields_is_checked_on_what_its_event_carries(bridge):
    """A delivery recorded before ``mlflow.webhook`` carried its row id, payload digest and instants
    (its row and event as the earlier service wrote them): its payload's ``data`` is compared, the
    rest of the payload and the instants are not, and once deleted it is named by its delivery id."""
    from django.db import transaction

    from audit.services import audit_event_append
    from governance.integrations.mlflow.services import WEBHOOK_ACTOR

    old = _copy_row("mlflow_bridge_mlflowdelivery", bridge["processed"], delivery_id="delivered-before")
    delivery = MlflowDelivery.objects.get(pk=old)
    with transaction.atomic():
        audit_event_append(
            actor=WEBHOOK_ACTOR,
            action="mlflow.webhook",
            target={"type": "mlflow_delivery", "id": "delivered-before"},
            details={"event": "model_version.created", "data": delivery.payload["data"], "links": [bridge["link"]]},
        )
    assert verify_state().ok
    payload = {**delivery.payload, "timestamp": "rewritten"}
    raw_write(
        "UPDATE mlflow_bridge_mlflowdelivery SET payload = %s, signed_at = received_at WHERE id = %s",
        [json.dumps(payload), old],
    )
    assert verify_state().ok, "what its event does not carry is not checked"
    payload["data"] = {**payload["data"], "version": "2"}
    raw_write("UPDATE mlflow_bridge_mlflowdelivery SET payload = %s WHERE id = %s", [json.dumps(payload), old])
    _fails_on("mlflow_bridge_mlflowdelivery", old, "payload.data")
    raw_write("DELETE FROM mlflow_bridge_mlflowdelivery WHERE id = %s", [old])
    _fails_on("mlflow_bridge_mlflowdelivery", "with delivery id delivered-before", "(row)")

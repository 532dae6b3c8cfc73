"""Linking and importing against a real MLflow server, through MLflow's own client."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core import mail

from audit.models import AuditEvent
from governance.common.errors import PermissionRefused, Unavailable, ValidationFailed
from governance.integrations.mlflow import services
from governance.integrations.mlflow.models import FlagKind, HashStatus, MlflowFlag, MlflowLink, MlflowVersionImport
from governance.registry.models import ModelVersion
from tests.factories.accounts import ADMIN, as_user
from tests.integrations.mlflow.conftest import COMMIT, log_run, register, unique_name, upload_files

pytestmark = pytest.mark.django_db


def actions(name: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=name).order_by("seq"))


def test_a_registered_version_is_imported_with_lineage_and_artifact_hash(linked, mlflow_client):
    weights = b"the model weights, version one"
    run_id = log_run(
        mlflow_client,
        files={"MLmodel": b"flavors:\n  sklearn:\n    sklearn_version: 1.5.2\n", "model.pkl": weights},
        params={"C": "0.5", "penalty": "l2", "optimizer/learning rate": "0.01"},
    )
    number = register(mlflow_client, linked.mlflow_name, run_id)

    summary = services.mlflow_link_sync(by=ADMIN, link=linked)

    assert summary["imported"] == [number]
    version = ModelVersion.objects.get(model=linked.model, version=number)
    imp = version.mlflow_import
    assert imp.run_id == run_id
    assert imp.source_uri == f"runs:/{run_id}/model"
    assert version.code_commit == COMMIT == imp.git_commit
    # MLflow allows '/' and spaces in keys; the inventory and the log do not: the import row keeps them exact.
    assert version.parameters == {"C": "0.5", "penalty": "l2", "optimizer_learning_rate": "0.01"}
    assert imp.parameters["optimizer/learning rate"] == "0.01"
    assert version.training_data_ref == "/data/train.csv"
    assert version.framework == "sklearn 1.5.2"
    assert imp.datasets == [
        {
            "name": "german-credit-train",
            "digest": "5d41402a",
            "source_type": "local",
            "source": "/data/train.csv",
            "context": "training",
        }
    ]
    files = {f["path"]: f for f in imp.artifact_files}
    assert files["model.pkl"]["sha256"] == hashlib.sha256(weights).hexdigest()
    assert files["model.pkl"]["size"] == len(weights)
    manifest = {"files": imp.artifact_files, "status": "hashed"}
    expected = hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert version.artifact_sha256 == imp.artifact_sha256 == expected
    assert imp.hash_status == HashStatus.HASHED
    assert version.registered_by.username == services.BRIDGE_USERNAME
    [event] = actions("mlflow.version_import")
    record = json.loads(bytes(event.record))
    assert record["data"]["run_id"] == run_id
    assert record["data"]["git_commit"] == COMMIT
    assert linked.tracking_uri in record["data"]["tracking_uri"]
    assert MlflowLink.objects.get(pk=linked.pk).last_sync_status == "ok"


def test_sync_is_idempotent(linked, mlflow_client):
    for _ in range(2):
        register(mlflow_client, linked.mlflow_name, log_run(mlflow_client))
    first = services.mlflow_link_sync(by=ADMIN, link=linked)
    events = AuditEvent.objects.count()
    second = services.mlflow_link_sync(by=ADMIN, link=linked)
    assert first["imported"] == ["1", "2"]
    assert second["imported"] == [] and second["unchanged"] == 2
    assert ModelVersion.objects.filter(model=linked.model).count() == 2
    assert AuditEvent.objects.count() == events  # nothing to record
    # The same version asked for again (as a webhook would) returns the existing import.
    again = services.mlflow_version_import(by=ADMIN, link=linked, version="1")
    assert again.pk == MlflowVersionImport.objects.get(link=linked, mlflow_version="1").pk


def test_an_artifact_changed_after_import_is_flagged_never_applied(linked, mlflow_client, developer, risk_officer):
    run_id = log_run(mlflow_client, files={"model.pkl": b"original weights"})
    number = register(mlflow_client, linked.mlflow_name, run_id)
    services.mlflow_link_sync(by=ADMIN, link=linked)
    version = ModelVersion.objects.get(model=linked.model, version=number)
    original = version.artifact_sha256

    upload_files(mlflow_client, run_id, {"model.pkl": b"weights swapped after approval"})
    mail.outbox.clear()
    summary = services.mlflow_link_sync(by=ADMIN, link=linked)

    assert summary["changed"] == [number]
    version.refresh_from_db()
    assert version.artifact_sha256 == original  # lineage is immutable here
    imp = version.mlflow_import
    imp.refresh_from_db()
    assert imp.artifact_changed_at is not None and imp.latest_artifact_sha256 != original
    [flag] = MlflowFlag.objects.filter(kind=FlagKind.ARTIFACT_CHANGED)
    assert flag.model_version == version
    assert flag.details["changed_files"] == [
        {
            "path": "model.pkl",
            "before": hashlib.sha256(b"original weights").hexdigest(),
            "after": hashlib.sha256(b"weights swapped after approval").hexdigest(),
        }
    ]
    assert len(actions("mlflow.artifact_changed")) == 1
    # The same change seen again is not flagged twice.
    services.mlflow_link_sync(by=ADMIN, link=linked)
    assert MlflowFlag.objects.filter(kind=FlagKind.ARTIFACT_CHANGED).count() == 1


def test_a_version_without_artifacts_is_imported_with_the_reason_and_flagged(linked, mlflow_client):
    run_id = log_run(mlflow_client, files={})
    number = register(mlflow_client, linked.mlflow_name, run_id, artifact_path="nothing-here")
    services.mlflow_link_sync(by=ADMIN, link=linked)
    imp = MlflowVersionImport.objects.get(link=linked, mlflow_version=number)
    assert imp.hash_status == HashStatus.NO_ARTIFACTS
    assert "no artifact files" in imp.hash_missing_reason
    assert "Artifact hash missing" in imp.model_version.description
    flag = MlflowFlag.objects.get(kind=FlagKind.ARTIFACT_MISSING)
    assert flag.model_version == imp.model_version


def test_artifacts_over_the_limit_are_not_downloaded_and_flagged(linked, mlflow_client, settings):
    settings.MLFLOW_MAX_ARTIFACT_BYTES = 10
    number = register(mlflow_client, linked.mlflow_name, log_run(mlflow_client, files={"model.pkl": b"x" * 64}))
    services.mlflow_link_sync(by=ADMIN, link=linked)
    imp = MlflowVersionImport.objects.get(link=linked, mlflow_version=number)
    assert imp.hash_status == HashStatus.TOO_LARGE
    assert "MLFLOW_MAX_ARTIFACT_BYTES" in imp.hash_missing_reason
    assert imp.artifact_files == [{"path": "model.pkl", "size": 64, "sha256": None}]
    assert MlflowFlag.objects.filter(kind=FlagKind.ARTIFACT_MISSING, model_version=imp.model_version).exists()


def test_link_refuses_credentials_unknown_models_and_strangers(mlflow_server, model, developer, validator):
    with pytest.raises(ValidationFailed) as exc:
        services.mlflow_link_create(
            by=as_user(developer),
            model=model,
            tracking_uri="https://alice:s3cret@mlflow.example.com",
            mlflow_name="x",
        )
    assert exc.value.field == "tracking_uri"
    assert all(b"s3cret" not in bytes(e.record) for e in AuditEvent.objects.all())
    with pytest.raises(ValidationFailed) as exc:
        services.mlflow_link_create(
            by=as_user(developer), model=model, tracking_uri=mlflow_server.url, mlflow_name=unique_name()
        )
    assert exc.value.field == "mlflow_name"
    with pytest.raises(PermissionRefused):
        services.mlflow_link_create(by=as_user(validator), model=model, tracking_uri=mlflow_server.url, mlflow_name="x")
    assert actions("mlflow.link.denied")
    assert not MlflowLink.objects.exists()


def test_unreachable_mlflow_is_recorded_and_nothing_is_half_imported(model, developer, settings):
    from governance.integrations.mlflow.devserver import free_port

    link = services.mlflow_link_create(
        by=as_user(developer),
        model=model,
        tracking_uri=f"http://127.0.0.1:{free_port()}",
        mlflow_name="gone",
        check_remote=False,
    )
    with pytest.raises(Unavailable) as exc:
        services.mlflow_link_sync(by=ADMIN, link=link)
    assert "retried" in exc.value.message
    link.refresh_from_db()
    assert link.last_sync_status == "error" and link.consecutive_failures == 1
    assert "unavailable" in link.last_sync_error
    assert not ModelVersion.objects.filter(model=model).exists()


def test_a_server_that_never_answers_times_out(model, developer, settings):
    import socket

    settings.MLFLOW_REQUEST_TIMEOUT = 1
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        link = services.mlflow_link_create(
            by=as_user(developer),
            model=model,
            tracking_uri=f"http://127.0.0.1:{silent.getsockname()[1]}",
            mlflow_name="slow",
            check_remote=False,
        )
        with pytest.raises(Unavailable):
            services.mlflow_link_sync(by=ADMIN, link=link)
    link.refresh_from_db()
    assert link.last_sync_status == "error"

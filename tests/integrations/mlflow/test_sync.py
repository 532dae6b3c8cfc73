"""The periodic reconciliation: ``manage.py mlflow_sync`` and MLflow stopping in the middle of a sync."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from governance.common.errors import Unavailable
from governance.integrations.mlflow import services
from governance.integrations.mlflow.models import MlflowLink, MlflowVersionImport
from governance.registry.models import ModelVersion
from tests.factories.accounts import ADMIN, as_user
from tests.integrations.mlflow.conftest import log_run, register

pytestmark = pytest.mark.django_db


def test_mlflow_sync_command_shows_progress_and_imports(linked, mlflow_client):
    for _ in range(2):
        register(mlflow_client, linked.mlflow_name, log_run(mlflow_client))
    out = io.StringIO()
    call_command("mlflow_sync", "--model", linked.model.name, stdout=out)
    text = out.getvalue()
    assert "[1/2] version 1: imported" in text and "[2/2] version 2: imported" in text
    assert "imported 2, unchanged 0" in text
    out = io.StringIO()
    call_command("mlflow_sync", stdout=out)
    assert "[2/2] version 2: unchanged" in out.getvalue()
    assert ModelVersion.objects.filter(model=linked.model).count() == 2
    with pytest.raises(CommandError, match="no MLflow link for a model named 'nope'"):
        call_command("mlflow_sync", "--model", "nope")


def test_mlflow_stopped_mid_sync_loses_nothing_and_the_next_sync_resumes(linked, mlflow_client, mlflow_server):
    for _ in range(3):
        register(mlflow_client, linked.mlflow_name, log_run(mlflow_client))
    seen = []

    def stop_after_first(event):
        seen.append(event)
        if len(seen) == 1:
            mlflow_server.stop()

    try:
        with pytest.raises(Unavailable):
            services.mlflow_link_sync(by=ADMIN, link=linked, progress=stop_after_first)
        assert [e["outcome"] for e in seen] == ["imported"]
        assert list(MlflowVersionImport.objects.filter(link=linked).values_list("mlflow_version", flat=True)) == ["1"]
        assert ModelVersion.objects.filter(model=linked.model).count() == 1  # no half-imported version
        link = MlflowLink.objects.get(pk=linked.pk)
        assert link.last_sync_status == "error" and link.last_sync_error
    finally:
        mlflow_server.start()

    summary = services.mlflow_link_sync(by=ADMIN, link=linked)
    assert summary["imported"] == ["2", "3"] and summary["unchanged"] == 1
    assert MlflowLink.objects.get(pk=linked.pk).last_sync_status == "ok"
    assert ModelVersion.objects.filter(model=linked.model).count() == 3


def test_beat_task_reconciles_every_link_and_reports_failures(linked, mlflow_client, unreachable_link):
    from governance.integrations.mlflow import tasks

    register(mlflow_client, linked.mlflow_name, log_run(mlflow_client))
    result = tasks.sync_all()
    assert result[linked.model.name]["imported"] == ["1"]
    assert "unavailable" in result[unreachable_link.model.name]["error"]
    assert MlflowLink.objects.get(pk=unreachable_link.pk).last_sync_status == "error"


@pytest.fixture
def unreachable_link(developer):
    from governance.integrations.mlflow.devserver import free_port
    from tests.factories import registry as registry_factories

    other = registry_factories.registered_model(owner=developer)
    return services.mlflow_link_create(
        by=as_user(developer),
        model=other,
        tracking_uri=f"http://127.0.0.1:{free_port()}",
        mlflow_name="elsewhere",
        check_remote=False,
    )


def test_demo_link_is_optional_and_links_when_mlflow_tracking_uri_is_set(settings, mlflow_server, mlflow_client, model):
    settings.MLFLOW_TRACKING_URI = ""
    out = io.StringIO()
    call_command("mlflow_demo_link", stdout=out)
    assert "not linked" in out.getvalue() and not MlflowLink.objects.exists()

    settings.MLFLOW_TRACKING_URI = mlflow_server.url
    settings.MLFLOW_DEMO_MODEL_NAME = model.name
    out = io.StringIO()
    call_command("mlflow_demo_link", stdout=out)
    assert f"{model.name} linked to {mlflow_server.url}" in out.getvalue()
    link = MlflowLink.objects.get(model=model)
    assert link.created_by is None and link.mlflow_name == model.name
    assert mlflow_client.get_registered_model(model.name).name == model.name  # created in MLflow
    call_command("mlflow_demo_link", stdout=io.StringIO())  # idempotent
    assert MlflowLink.objects.count() == 1

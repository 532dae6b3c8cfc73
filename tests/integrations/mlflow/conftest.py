"""A real MLflow tracking server for the bridge's tests: one per test session, on a free loopback port,
SQLite backend, local artifact folder (``governance.integrations.mlflow.devserver``; the server's
venv is installed on first use). Tests drive it with MLflow's own client, as a team would."""

from __future__ import annotations

import itertools
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from governance.integrations.mlflow.devserver import MlflowServer, ServerUnavailable, free_port
from tests.conftest import IN_CI

_names = itertools.count(1)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(data_dir=tmp_path_factory.mktemp("mlflow-server"), port=free_port())
    try:
        server.start(echo=lambda message: print(message, file=sys.stderr))
    except ServerUnavailable as exc:
        if IN_CI:
            pytest.fail(f"MLflow is required in CI: {exc}")
        pytest.skip(f"MLflow server unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def mlflow_client(mlflow_server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


@pytest.fixture(autouse=True)
def _bounded_mlflow_calls(settings):
    settings.MLFLOW_REQUEST_TIMEOUT = 5
    settings.MLFLOW_REQUEST_RETRIES = 0
    settings.MLFLOW_WEBHOOK_SECRET = "test-webhook-secret"


def unique_name(prefix: str = "mlflow-model") -> str:
    return f"{prefix}-{next(_names)}-{uuid.uuid4().hex[:6]}"


def log_run(client, *, files: dict[str, bytes] | None = None, params=None, commit=COMMIT, artifact_path="model"):
    """A training run as a team logs it: parameters, git commit tag, a training dataset, model files."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    experiment = client.get_experiment_by_name("bridge-tests")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("bridge-tests")
    tags = {"mlflow.source.git.commit": commit} if commit else {}
    run = client.create_run(experiment_id, tags=tags)
    run_id = run.info.run_id
    for key, value in (params or {"C": "0.5", "max_iter": "200"}).items():
        client.log_param(run_id, key, value)
    client.log_inputs(
        run_id,
        datasets=[
            DatasetInput(
                Dataset(name="german-credit-train", digest="5d41402a", source_type="local", source="/data/train.csv"),
                tags=[InputTag("mlflow.data.context", "training")],
            )
        ],
    )
    files = (
        files
        if files is not None
        else {
            "MLmodel": b"artifact_path: model\nflavors:\n  sklearn:\n    sklearn_version: 1.5.2\n",
            "model.pkl": b"weights-" + uuid.uuid4().hex.encode(),
        }
    )
    if files:
        upload_files(client, run_id, files, artifact_path)
    client.set_terminated(run_id)
    return run_id


def upload_files(client, run_id: str, files: dict[str, bytes], artifact_path: str = "model") -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, content in files.items():
            path = Path(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        client.log_artifacts(run_id, folder, artifact_path=artifact_path)


def register(client, name: str, run_id: str, artifact_path: str = "model") -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException:
        pass  # already there
    mv = client.create_model_version(name, source=f"runs:/{run_id}/{artifact_path}", run_id=run_id)
    return str(mv.version)


@pytest.fixture
def linked(mlflow_server, mlflow_client, model, developer):
    """A model here linked to a fresh registered model in MLflow."""
    from governance.integrations.mlflow.services import mlflow_link_create
    from tests.factories.accounts import as_user

    name = unique_name()
    mlflow_client.create_registered_model(name)
    link = mlflow_link_create(by=as_user(developer), model=model, tracking_uri=mlflow_server.url, mlflow_name=name)
    return link

"""The one door to an MLflow server: MLflow's own client, bounded timeouts and retries, and errors
sorted into "MLflow refused this" and "MLflow is unavailable (retry later)".

MLflow is an optional dependency (the ``mlflow`` extra: ``mlflow-skinny``); importing this module
without it works, and the first call says how to install it.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from django.conf import settings

from governance.common.errors import DomainError, Unavailable, ValidationFailed

# MLflow's failures are the common error types, with codes of their own: an outage is Unavailable
# (503 ``mlflow_unavailable``: nothing was written; retried later), a client error MLflow answered
# (unknown model or version, invalid alias) is ValidationFailed (400 ``mlflow_refused``).
UNAVAILABLE = "mlflow_unavailable"
REFUSED = "mlflow_refused"


_CREDENTIAL_QUERY = re.compile(r"(token|password|secret|key|auth)", re.IGNORECASE)


def clean_tracking_uri(uri: str) -> str:
    """A tracking URI without credentials (those come from MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN)."""
    from governance.common.errors import ValidationFailed

    uri = (uri or "").strip().rstrip("/")
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "tracking_uri must be an http(s) URL of an MLflow tracking server, e.g. https://mlflow.example.com",
            field="tracking_uri",
        )
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValidationFailed(
            "tracking_uri must not contain credentials; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
            "(or MLFLOW_TRACKING_TOKEN) in the service's environment instead",
            field="tracking_uri",
        )
    if parts.fragment or (parts.query and _CREDENTIAL_QUERY.search(parts.query)):
        raise ValidationFailed(
            "tracking_uri must not carry a query or fragment (credentials belong in the environment)",
            field="tracking_uri",
        )
    return uri


def _configure_http() -> None:
    # MLflow reads these when it builds its HTTP session; bounded so a dead server fails fast and the
    # caller's own retry (Celery, next sync) takes over.
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(settings.MLFLOW_REQUEST_TIMEOUT))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(int(settings.MLFLOW_REQUEST_RETRIES))
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0.5"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"


def mlflow_client(tracking_uri: str):
    try:
        from mlflow import MlflowClient
    except ImportError as exc:  # pragma: no cover - the extra is part of dev installs
        raise Unavailable(
            "the MLflow client is not installed: pip install 'mlgov[mlflow]' (or mlflow-skinny)", code=UNAVAILABLE
        ) from exc
    _configure_http()
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def artifact_repository(uri: str, tracking_uri: str):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    _configure_http()
    return get_artifact_repository(uri, tracking_uri=tracking_uri)


def translate(exc: BaseException, what: str) -> DomainError:
    """MLflow's and the network's exceptions as a refusal (4xx) or an outage (retry)."""
    if isinstance(exc, DomainError):
        return exc
    message = str(exc).splitlines()[0][:300] if str(exc) else exc.__class__.__name__
    status = _mlflow_http_status(exc)
    if status is not None:
        if 400 <= status < 500 and status not in (408, 429) and "API request to" not in str(exc):
            return ValidationFailed(f"{what}: MLflow refused: {message}", code=REFUSED)
    return Unavailable(f"{what}: MLflow is unavailable ({message}); the work is retried", code=UNAVAILABLE)


class guarded:
    """Turn any exception raised inside into ValidationFailed (``mlflow_refused``) or Unavailable
    (``mlflow_unavailable``)."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, DomainError) or not isinstance(exc, Exception):
            return False
        raise translate(exc, self.what) from exc


def _mlflow_http_status(exc: BaseException) -> int | None:
    """The HTTP status an ``MlflowException`` carries; None for any other error (or without MLflow)."""
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:  # pragma: no cover
        return None
    return exc.get_http_status_code() if isinstance(exc, MlflowException) else None

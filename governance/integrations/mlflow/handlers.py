"""After-commit handlers of the MLflow bridge: services announce, these queue the tasks (services
never import tasks). Connected in ``MlflowBridgeConfig.ready``."""

from __future__ import annotations

from governance.common.events import subscribe
from governance.integrations.mlflow import tasks
from governance.integrations.mlflow.models import MlflowAliasWrite


def on_flag_raised(*, flag_id: int) -> None:
    tasks.notify_flag.delay(flag_id)


def on_delivery_received(*, delivery_id: int) -> None:
    tasks.process_delivery.delay(delivery_id)


def on_alias_write_queued(*, write_id: int, retry_at: str | None) -> None:
    """A new alias write goes to a worker now; a failed one is retried at its ``next_attempt_at``."""
    if retry_at is None:
        tasks.alias_write.delay(write_id)
    else:
        tasks.schedule_alias_retry(MlflowAliasWrite.objects.get(pk=write_id))


def connect() -> None:
    subscribe("mlflow.flag_raised", on_flag_raised)
    subscribe("mlflow.delivery_received", on_delivery_received)
    subscribe("mlflow.alias_write_queued", on_alias_write_queued)

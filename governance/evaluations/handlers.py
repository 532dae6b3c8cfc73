"""What the evaluations app does after its own commits, wired in ``EvaluationsConfig.ready``."""

from __future__ import annotations

from governance.common.events import subscribe
from governance.evaluations import tasks


def on_evaluation_queued(*, evaluation_id: int, by: dict) -> None:
    """Send a stored (large) evaluation to a worker, with the request id and caller that queued it."""
    tasks.evaluation_run.enqueue(by, evaluation_id)


def connect() -> None:
    subscribe("evaluation.queued", on_evaluation_queued)

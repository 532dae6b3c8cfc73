"""Domain events: how one app tells the others that something happened, without importing them.

An app that owns a change *announces* a named event from its service, inside the service's
transaction; apps that react *subscribe* a handler in their ``AppConfig.ready()``. Handlers run
after the transaction commits (never for a change that rolled back), in the order they were
subscribed. A failing handler is logged and does not stop the others: the change is already
committed, and each subscriber keeps its own retry (a Celery task, a reconciliation job).

Event names and their payloads are listed in ``EVENTS``; announcing an unlisted name is a
programming error. Payloads carry ids and plain values only (handlers reload what they need).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "evaluation.recorded": "evaluation_id, by: an evaluation finished (status done) and is evidence now; ``by`` is "
    "the recording principal's context (Principal.as_context())",
    "evaluation.queued": "evaluation_id, by: a large evaluation was stored; a worker computes it",
    "documentation_pack.requested": "pack_id, by: a documentation pack was queued for generation",
    "evaluation.gate_failed": "evaluation_id, checks: an evaluation's own checks failed",
    "promotion_request.created": "request_id: a promotion or rollback request was opened",
    "promotion_request.decided": "request_id, decision, status: a signer approved or rejected a request",
    "model_version.promoted": "version_id, request_id, is_rollback, retired_version_id: a version entered the "
    "request's target stage",
    "model_version.rolled_back": "version_id, request_id, retired_version_id: a rollback re-promoted a version",
    "model_version.stage_changed": "version_id, from_stage, to_stage: any stage change (promotion, retirement)",
    "review_flag.raised": "flag_id, version_id: a production version breached its policy",
    "webhook_delivery.queued": "delivery_ids: webhook deliveries are due now (a worker sends them)",
    "webhook_subscription.disabled": "subscription_id: a subscription was disabled after persistent failure",
    "mlflow.flag_raised": "flag_id: the MLflow bridge raised a review flag (owner and risk officers are told)",
    "mlflow.delivery_received": "delivery_id: an MLflow webhook delivery was stored; a worker processes it",
    "mlflow.alias_write_queued": "write_id, retry_at: an MLflow alias write is due now (retry_at null) or at retry_at",
    "promotion_request.closed": "request_id, status: a request ended (rejected, promoted, superseded, expired, "
    "withdrawn)",
    "promotion_request.signatures_invalidated": "request_id: a gate that passed fails now; the signatures given "
    "were invalidated and are needed again",
    "promotion_request.recused": "request_id, member_id: a committee member declared a conflict of interest",
    "monitoring_check.missed": "missed_check_id, version_id: a scheduled monitoring evaluation did not arrive by "
    "its due time plus grace",
}

Handler = Callable[..., object]
_subscribers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(event: str, handler: Handler) -> None:
    """Call ``handler(**payload)`` after each commit that announced ``event`` (idempotent per handler)."""
    if event not in EVENTS:
        raise ValueError(f"unknown domain event {event!r}; add it to governance.common.events.EVENTS")
    if handler not in _subscribers[event]:
        _subscribers[event].append(handler)


def announce(event: str, **payload) -> None:
    """Schedule the subscribers of ``event`` to run once the current transaction commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown domain event {event!r}; add it to governance.common.events.EVENTS")
    for handler in list(_subscribers[event]):
        transaction.on_commit(functools.partial(_run, event, handler, payload))


def _run(event: str, handler: Handler, payload: dict) -> None:
    try:
        handler(**payload)
    except Exception:  # the change is committed; the subscriber's own retry covers it
        logger.exception("handler %s of %s failed", getattr(handler, "__qualname__", handler), event)

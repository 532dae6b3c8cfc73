"""Events that pipelines record about their own work (a batch scored, a data set read, a model served)."""

from __future__ import annotations

from collections.abc import Sequence

from audit.context import Actor
from audit.services import EventSpec, audit_events_append

MAX_BATCH = 10_000
# Actions the service itself writes; external callers may not impersonate them.
RESERVED_PREFIXES = (
    "api.",
    "api_token.",
    "approval.",
    "audit.",
    "evaluation.",
    "model_version.",
    "policy.",
    "promotion.",
    "registered_model.",
    "report.",
    "user.",
    "narrative.",
    "reference_sample.",
)


class ExternalEventRefused(ValueError):
    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def external_events_append(*, actor: Actor, events: Sequence[dict]) -> dict:
    """Validate and append a batch under one head lock, in one transaction. Returns the seq range."""
    if not events:
        raise ExternalEventRefused("send at least one event", field="events")
    if len(events) > MAX_BATCH:
        raise ExternalEventRefused(f"at most {MAX_BATCH} events per call, got {len(events)}", field="events")
    specs = []
    for index, event in enumerate(events):
        action = event.get("action", "")
        if isinstance(action, str) and action.startswith(RESERVED_PREFIXES):
            raise ExternalEventRefused(
                f"actions starting with {action.split('.')[0]}. are reserved for the service",
                field=f"events[{index}].action",
            )
        specs.append(
            EventSpec(
                actor=actor,
                action=action,
                target=event.get("target") or {},
                details=event.get("details") or {},
                reason=event.get("reason"),
            )
        )
    # Always inline: the caller is told the seq range its events occupy.
    appended = audit_events_append(specs, floats="reject", sequencing="inline")
    return {"count": len(appended), "first_seq": appended[0].seq, "last_seq": appended[-1].seq}

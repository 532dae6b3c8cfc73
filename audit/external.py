"""Events that pipelines record about their own work (a batch scored, a data set read, a model served).

They are stored under their own namespace: the action a pipeline sends (``batch.scored``) is
recorded as ``external.batch.scored``, so a record shows it came from outside and no external
event can read as one of the service's. A sent action whose namespace the service uses
(``audit.registry.service_namespaces()``, derived from the event types the apps register) is
refused rather than silently renamed, so a pipeline never believes it wrote, say,
``promotion_request.promote``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, overload

from audit.context import Actor
from audit.registry import EXTERNAL_NAMESPACE, namespace_of, service_namespaces
from audit.services import ACTION_RE, EventSpec, audit_events_append

MAX_BATCH = 10_000
MAX_ACTION_CHARS = 128  # AuditEvent.action
PREFIX = EXTERNAL_NAMESPACE + "."


class ExternalEventRefused(ValueError):
    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


@overload
def external_action(action: str) -> str: ...


@overload
def external_action(action: object) -> object: ...


def external_action(action: object) -> object:
    """The action as recorded: in the external namespace (a sent ``external.`` prefix is kept once).

    Anything but a string (raw JSON) is passed through unchanged for the audit intake to refuse."""
    if not isinstance(action, str):
        return action  # the audit intake names the field and the reason
    return action if action.startswith(PREFIX) else PREFIX + action


class AppendedRange(TypedDict):
    count: int
    first_seq: int
    last_seq: int


def external_events_append(*, actor: Actor, events: Sequence[Mapping[str, Any]]) -> AppendedRange:
    """Validate and append a batch under one head lock, in one transaction. Returns the seq range."""
    if not events:
        raise ExternalEventRefused("send at least one event", field="events")
    if len(events) > MAX_BATCH:
        raise ExternalEventRefused(f"at most {MAX_BATCH} events per call, got {len(events)}", field="events")
    reserved = service_namespaces()
    specs: list[EventSpec] = []
    for index, event in enumerate(events):
        action = event.get("action", "")
        if isinstance(action, str) and not ACTION_RE.match(action.removeprefix(PREFIX)):
            raise ExternalEventRefused(
                "action must be dotted lower_snake words such as batch.scored", field=f"events[{index}].action"
            )
        if isinstance(action, str) and len(external_action(action)) > MAX_ACTION_CHARS:
            raise ExternalEventRefused(
                f"action is longer than {MAX_ACTION_CHARS - len(PREFIX)} characters", field=f"events[{index}].action"
            )
        if isinstance(action, str) and namespace_of(action.removeprefix(PREFIX)) in reserved:
            raise ExternalEventRefused(
                f"{namespace_of(action.removeprefix(PREFIX))}. is the service's own namespace; pipelines record "
                f"their events in a namespace of their own (stored as {PREFIX}<action>)",
                field=f"events[{index}].action",
            )
        specs.append(
            EventSpec(
                actor=actor,
                action=external_action(action),
                target=event.get("target") or {},
                details=event.get("details") or {},
                reason=event.get("reason"),
            )
        )
    # Always inline: the caller is told the seq range its events occupy.
    appended = audit_events_append(specs, floats="reject", sequencing="inline")
    return {"count": len(appended), "first_seq": appended[0].seq, "last_seq": appended[-1].seq}

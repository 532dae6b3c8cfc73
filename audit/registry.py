"""What the service itself writes to the log: its event types, registered by the apps that write them.

Each governance app registers its event types in ``AppConfig.ready()``
(``register_event_types("workflow", "promotion_request.create", ...)``). Audit derives from them
the namespaces (the first dotted word of an action) that belong to the service; events sent by
pipelines through ``POST /api/v1/audit/events`` may not use any of them and are recorded under
their own namespace, ``external.`` (``audit.external``), which no service event uses.
"""

from __future__ import annotations

EXTERNAL_NAMESPACE = "external"

_EVENT_TYPES: dict[str, str] = {}  # action -> the app that registered it


class EventTypeConflict(ValueError):
    """Two apps registered the same event type, or one claimed the external namespace."""


def namespace_of(action: str) -> str:
    return action.split(".", 1)[0]


def register_event_types(owner: str, *actions: str) -> None:
    """Declare the actions ``owner`` appends (``<action>.denied`` refusals are implied)."""
    for action in actions:
        if namespace_of(action) == EXTERNAL_NAMESPACE:
            raise EventTypeConflict(f"{action}: the {EXTERNAL_NAMESPACE}. namespace is for events sent from outside")
        registered = _EVENT_TYPES.setdefault(action, owner)
        if registered != owner:
            raise EventTypeConflict(f"{action} is registered by {registered} and {owner}")


def service_event_types() -> frozenset[str]:
    return frozenset(_EVENT_TYPES)


def service_namespaces() -> frozenset[str]:
    return frozenset(namespace_of(action) for action in _EVENT_TYPES)


def is_service_action(action: str) -> bool:
    """Whether ``action`` falls in a namespace the service writes (so an outside caller may not)."""
    return namespace_of(action) in service_namespaces()

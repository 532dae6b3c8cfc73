"""How code outside ``audit/`` reads the log: these functions, never ``audit.models`` directly
(ruff's banned-api rule TID251 enforces it). Writes go through ``audit.services``.

The model classes are re-exported for type annotations only.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from collections.abc import Iterable


def _hand_over_to_the_standard_library() -> None:
    """``python audit/verifier.py`` (the standalone verifier, run in place) puts audit/ first on
    sys.path, so the standard library's ``import selectors`` (concurrent.futures) finds this file:
    load the real module instead and leave it in sys.modules, where the import system takes it from."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    saved = list(_sys.path)
    _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    del _sys.modules["selectors"]
    try:
        import selectors as standard
    finally:
        _sys.path[:] = saved
    _sys.modules["selectors"] = standard


if __name__ == "selectors":
    _hand_over_to_the_standard_library()
else:
    from django.db.models import Q, QuerySet

    from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditVerification",
    "checkpoints",
    "head",
    "verifications",
    "checkpoint_covering",
    "event_at",
    "events",
    "events_about",
    "events_in_range",
    "latest_event",
    "object_events",
]


def events() -> QuerySet[AuditEvent]:
    """Every entry, in log order."""
    return AuditEvent.objects.order_by("seq")


def event_at(seq: int) -> AuditEvent:
    """The entry at ``seq`` (``AuditEvent.DoesNotExist`` when there is none)."""
    return AuditEvent.objects.get(seq=seq)


def events_in_range(start: int, end: int) -> QuerySet[AuditEvent]:
    """Entries ``start`` <= seq < ``end`` in log order."""
    return AuditEvent.objects.filter(seq__gte=start, seq__lt=end).order_by("seq")


def object_events(object_type: str, object_id: object, *, action: str | None = None) -> QuerySet[AuditEvent]:
    """Entries about one object (its ``object`` type and id), in log order; optionally one action."""
    events = AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id))
    if action is not None:
        events = events.filter(action=action)
    return events.order_by("seq")


def events_about(objects: dict[str, Iterable[object]], *, up_to: int | None = None) -> QuerySet[AuditEvent]:
    """Entries about any of ``objects`` ({object type: ids}), in log order, up to seq ``up_to``."""
    scope = Q(pk__in=[])
    for object_type, ids in objects.items():
        scope |= Q(object_type=object_type, object_id__in=[str(i) for i in ids])
    events = AuditEvent.objects.filter(scope)
    if up_to is not None:
        events = events.filter(seq__lte=up_to)
    return events.order_by("seq")


def latest_event(
    *, actions: Iterable[str], object_type: str, object_id: object, request_id: str | None = None
) -> AuditEvent | None:
    """The newest entry with one of ``actions`` about one object (optionally from one request)."""
    events = AuditEvent.objects.filter(action__in=list(actions), object_type=object_type, object_id=str(object_id))
    if request_id is not None:
        events = events.filter(request_id=request_id)
    return events.order_by("-seq").first()


def checkpoint_covering(seq: int) -> AuditCheckpoint | None:
    """The smallest signed checkpoint whose tree includes ``seq`` (None when none does yet)."""
    return AuditCheckpoint.objects.filter(size__gt=seq).order_by("size").first()


def head() -> AuditHead | None:
    """The log's head row (size, origin, last update); None before the first migration ran."""
    return AuditHead.objects.filter(pk=1).first()


def checkpoints() -> QuerySet[AuditCheckpoint]:
    """Signed checkpoints, largest first."""
    return AuditCheckpoint.objects.order_by("-size")


def verifications() -> QuerySet[AuditVerification]:
    """Verification runs, newest first."""
    return AuditVerification.objects.order_by("-started_at")

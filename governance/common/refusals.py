"""The one way to refuse: raise a ``DomainError`` inside ``refusals(...)``.

    with refusals(by, "registered_model.update", model_target(model)):
        by.require_role(RISK_OFFICER, reason="only a risk officer may change risk_tier")
        with audit_unit(by.actor) as audit:
            ...                                   # may raise Conflict, ValidationFailed, ...

Any ``DomainError`` leaving the block (the block's own transaction has rolled back by then, so
nothing is half-written) is recorded as ``<action>.denied`` in a transaction of its own, with the
reason, the field and the error's ``details``, and then re-raised unchanged: the HTTP status
comes from the error's type (``PermissionRefused`` 403, ``NotFound`` 404, ``Conflict`` 409,
``ValidationFailed`` 400, ...). A refusal is recorded once even when services nest.

``common`` knows no domain app: ``by`` is anything with an audit ``actor`` (a ``Principal``).

Refusals counted per source and time window instead of one event each (refused credentials: an
anonymous flood must not grow the log by one row per attempt) are the windowed form of the same
refusal: ``record_refusal_windows`` records each finished ``RefusalWindow`` as one ``<action>.denied``
event with its count. Nothing else appends a ``.denied`` event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from django.db import transaction

from audit.context import Actor
from audit.services import AuditInputError, audit_event_append, audit_unit
from governance.common.errors import DomainError

MAX_REASON_CHARS = 2000


class HasActor(Protocol):
    @property
    def actor(self) -> Actor: ...


@contextmanager
def refusals(
    by: HasActor, action: str, target: MutableMapping | Mapping, *, details: Mapping | None = None
) -> Iterator[None]:
    """Audit every ``DomainError`` raised in the block as ``<action>.denied``, then re-raise it.

    ``target`` (and ``details``) may be filled in while the block runs, e.g. once an id given by
    the caller has been resolved to a row.
    """
    try:
        yield
    except DomainError as exc:
        if not exc.audited:
            _record(by.actor, action, target, exc, details)
            exc.audited = True
        raise


def _record(actor: Actor, action: str, target: Mapping, exc: DomainError, details: Mapping | None) -> None:
    reason = exc.message if len(exc.message) <= MAX_REASON_CHARS else exc.message[:MAX_REASON_CHARS] + "..."
    data = {"reason": reason, **({"field": exc.field[:200]} if exc.field else {}), **exc.details, **(details or {})}
    target = dict(target)
    if target.get("id") in (None, ""):
        target["id"] = "unknown"  # the caller named no object (an empty or malformed id)
    target.setdefault("type", "unknown")
    try:
        with transaction.atomic():
            audit_event_append(actor=actor, action=f"{action}.denied", target=target, details=data)
    except AuditInputError:
        # Input the log cannot hold (odd keys, oversized values) must not turn a refusal into a 500:
        # record the refusal without the caller's values.
        with transaction.atomic():
            audit_event_append(
                actor=actor,
                action=f"{action}.denied",
                target={"type": str(target["type"])[:64], "id": "unrecordable"},
                details={"reason": reason, "unrecordable_input": True},
            )


@dataclass(frozen=True)
class RefusalWindow:
    """The refusals of one ``action`` from one ``source`` (``ip:<address>``, ``user:<id>``) counted
    from ``start`` to ``end``: ``count`` in all, by ``reason``, and the first ``subjects`` tried."""

    action: str  # without ".denied", as for ``refusals``
    actor: Actor
    source: str
    count: int
    reasons: Mapping[str, int]
    subjects: Sequence[str]
    start: dt.datetime
    end: dt.datetime


def record_refusal_windows(windows: Sequence[RefusalWindow]) -> None:
    """Record each finished window as one ``<action>.denied`` event (target ``refusal_source:<source>``;
    data ``count``, ``reasons`` as ``[{reason, count}]``, ``subjects``, ``window_start``, ``window_end``).

    Unlike ``refusals`` there is no refused transaction to outlive: the events are appended
    together (one audit unit) in the caller's transaction, so the caller marks the windows recorded
    in that same transaction and a window is recorded exactly once.
    """
    with audit_unit() as audit:
        for window in windows:
            audit.add(
                f"{window.action}.denied",
                {"type": "refusal_source", "id": window.source},
                actor=window.actor,
                details={
                    "count": window.count,
                    "reasons": [{"reason": r, "count": n} for r, n in sorted(window.reasons.items())],
                    "subjects": list(window.subjects),
                    "window_start": window.start,
                    "window_end": window.end,
                },
            )

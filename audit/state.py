"""State verification: the governed tables must be what the log's events say they are.

``audit_verify --state`` (and the nightly ``audit.verify_log`` task) replays the log from seq 0:
each event is handed to the *replayers* that the governance apps register through
``register_replayer`` (audit imports nothing from governance), each replayer rebuilds its rows
in memory, then compares them with its tables and names the first table, row and field that
differs from what the log says (a raw edit behind the services, on SQLite always, on PostgreSQL
by a database owner; issue 10, defect 2).

A replayer is any object with (``Replayer`` below, structural: replayers need not subclass it):
- ``name`` (str) and ``actions`` (the action names it consumes, without ``.denied``);
- ``apply(record: dict) -> None``: one event's parsed record (seq order, ``.denied`` skipped);
- ``compare() -> Divergence | None``: the first difference between its tables and the replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from audit.models import AuditVerification


class Replayer(Protocol):
    """What ``verify_state`` needs of a replayer (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def actions(self) -> Collection[str]: ...

    def apply(self, record: dict[str, Any]) -> None: ...

    def compare(self) -> Divergence | None: ...


_FACTORIES: list[Callable[[], Replayer]] = []
TEXT_CHARS = 2000  # the characters of an unbounded text that an event carries (``carried_text``)


@dataclass(frozen=True)
class Divergence:
    table: str
    row: str
    field: str
    stored: object
    expected: object

    def __str__(self) -> str:
        return (
            f"{self.table} row {self.row}, field {self.field}: the table holds {self.stored!r} "
            f"but the log says {self.expected!r}"
        )


@dataclass(frozen=True)
class StateResult:
    ok: bool
    events: int
    replayers: tuple[str, ...]
    divergence: Divergence | None = None

    @property
    def message(self) -> str:
        if self.ok:
            return f"PASS: state of {', '.join(self.replayers)} matches the {self.events} events of the log"
        return f"FAIL: {self.divergence}"


def register_replayer(factory: Callable[[], Replayer]) -> None:
    """Register a callable that returns a fresh replayer (called once per verification)."""
    if factory not in _FACTORIES:
        _FACTORIES.append(factory)


def as_recorded(value: object) -> object:
    """A stored value as the log would record it (``audit.services.intake_value``: decimals and
    floats as strings, NFC text, timestamps in the record's format), so that a replayer compares a
    table's value with an event's value like for like."""
    from audit.services import AuditInputError, intake_value

    try:
        return intake_value(value, path="state")
    except AuditInputError:
        return repr(value)


def carried_text(name: str, value: str) -> dict[str, str]:
    """An unbounded text as an event carries it, so that a replay sees an edit anywhere in it: its first
    2,000 characters under ``name`` and the SHA-256 (hex) of the whole text under ``<name>_sha256``, both
    of the text as the log records it (NFC, UTF-8). A service puts this in its event's details; a replayer
    computes it again from the stored value and compares."""
    text = str(as_recorded(value))
    return {name: text[:TEXT_CHARS], f"{name}_sha256": hashlib.sha256(text.encode()).hexdigest()}


def json_sha256(value: object) -> str:
    """The SHA-256 (hex) of a JSON value as canonical JSON (sorted keys, no spaces), for an event to carry
    a stored JSON value too large or too detailed for the record (a delivery's payload, an evaluation's
    result). A service computes it over the value as the database returns it after the save (PostgreSQL's
    jsonb may rewrite numbers); a replayer computes it again from the stored value and compares."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def named_by_text(divergence: Divergence | None) -> Divergence | None:
    """A divergence on a ``carried_text`` digest (``<name>_sha256``: an edit past the first 2,000
    characters) named by the text's own field, the two digests as its values."""
    if divergence is None or not divergence.field.endswith("_sha256"):
        return divergence
    held, said = (f"text with SHA-256 {digest}" for digest in (divergence.stored, divergence.expected))
    return Divergence(divergence.table, divergence.row, divergence.field.removesuffix("_sha256"), held, said)


def compare_rows(
    table: str, stored: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]
) -> Divergence | None:
    """The first difference between rows by id (``{id: {field: value}}``), in id order."""

    def order(key: str) -> tuple[int, int | str]:
        return (0, int(key)) if key.isdigit() else (1, key)

    for row in sorted(set(stored) | set(expected), key=order):
        if row not in expected:
            return Divergence(table, row, "(row)", "present", "no such row (it was never created through a service)")
        if row not in stored:
            return Divergence(table, row, "(row)", "missing", "a row created through a service")
        for field, value in expected[row].items():
            if field in stored[row] and stored[row][field] != value:
                return Divergence(table, row, field, stored[row][field], value)
    return None


def verify_state(*, chunk_size: int = 5000, progress: Callable[[int], object] | None = None) -> StateResult:
    """Replay every event of the log and compare the governed tables with the result."""
    from audit.models import AuditEvent, AuditHead

    replayers = [factory() for factory in _FACTORIES]
    by_action: dict[str, list[Replayer]] = {}
    for replayer in replayers:
        for action in replayer.actions:
            by_action.setdefault(action, []).append(replayer)
    size = AuditHead.objects.get(pk=1).size
    rows = (
        AuditEvent.objects.filter(seq__lt=size, action__in=list(by_action))
        .order_by("seq")
        .values_list("record", flat=True)
        .iterator(chunk_size=chunk_size)
    )
    for count, raw in enumerate(rows, 1):
        record = json.loads(bytes(raw) if not isinstance(raw, str) else raw)
        for replayer in by_action.get(record["action"], ()):
            replayer.apply(record)
        if progress and count % chunk_size == 0:
            progress(chunk_size)
    names = tuple(replayer.name for replayer in replayers)
    for replayer in replayers:
        divergence = replayer.compare()
        if divergence is not None:
            return StateResult(ok=False, events=size, replayers=names, divergence=divergence)
    return StateResult(ok=True, events=size, replayers=names)


def record_state_verification(*, trigger: str) -> AuditVerification:
    """Run ``verify_state``, store it as an ``AuditVerification`` (trigger ``<trigger>-state``), and
    alert on a divergence the way a failed log verification alerts."""
    import logging

    from django.utils import timezone

    from audit import signals
    from audit.models import AuditVerification

    run = AuditVerification.objects.create(started_at=timezone.now(), trigger=f"{trigger}-state"[:32])
    result = verify_state()
    run.finished_at = timezone.now()
    run.ok = result.ok
    run.size = result.events
    run.message = result.message
    run.save()
    if not result.ok:
        logging.getLogger("mlgov.alerts").error("governed state differs from the audit log (%s): %s", trigger, result)
        signals.send_after_commit(signals.verification_failed, AuditVerification, verification=run)
    return run

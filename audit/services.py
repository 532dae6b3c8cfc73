"""The one write path of the audit log.

``audit_event_append`` (and its batch form ``audit_events_append``) joins the caller's
transaction: the event commits if and only if the caller's change commits. The record is
built and validated first; the head row is locked last, just before the rows are written, so
the lock that serialises every audited commit is held as briefly as possible.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, NamedTuple, TypeVar, overload

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.context import Actor, current_context
from audit.merkle import CompactRange, node_id
from audit.models import AuditEvent, AuditHead, AuditPendingEvent, AuditTreeNode
from audit.verifier import canonical_json, hash_leaf

SCHEMA = "mlgov.audit/v1"
ZERO_HASH = bytes(32)
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
MAX_RECORD_BYTES = 64 * 1024
MAX_REASON_CHARS = 10_000
MAX_INT = 2**53 - 1


class AuditInputError(ValueError):
    """An event that cannot be recorded; ``field`` names the offending part."""

    def __init__(self, message: str, *, field: str, index: int | None = None):
        super().__init__(message)
        self.field = field
        self.index = index  # position in a batch, when the event came in one


@dataclass(frozen=True)
class EventSpec:
    actor: Actor
    action: str
    target: Mapping[str, Any]
    details: Mapping[str, Any] | None = None
    reason: str | None = None


# The canonical bytes of an event's action, actor, data, object and (optional) reason.
_Parts = tuple[bytes, bytes, bytes, bytes, bytes | None]


def format_ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TS_FORMAT)


def parse_ts(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, TS_FORMAT).replace(tzinfo=dt.UTC)


class _Refused(Exception):
    """Raised deep inside ``_intake``; the field path is assembled on the way out (only on failure)."""

    def __init__(self, message: str, suffix: str = ""):
        super().__init__(message)
        self.message, self.suffix = message, suffix


_CHECKED_KEYS: set[str] = set()  # keys already matched against KEY_RE (they repeat across events)


def intake_value(value: Any, *, path: str, floats: str = "convert") -> Any:
    """Turn a Python value into the restricted JSON the log hashes.

    ``value`` is any Python value; the result is the restricted JSON (None, bool, int, str, list,
    dict with str keys), typed ``Any`` as the callers index into it. Strings are NFC-normalised
    here, once, at intake. Decimals become strings. Floats become
    their shortest round-trip decimal string (``floats="convert"``, for values the service
    itself computed) or are refused (``floats="reject"``, for values sent by callers).
    """
    try:
        return _intake(value, floats == "reject")
    except _Refused as exc:
        raise AuditInputError(exc.message, field=path + exc.suffix) from None


def _intake(value: Any, reject_floats: bool) -> Any:
    kind = type(value)
    if kind is str:  # the common cases first, by exact type
        if value.isascii():
            return value
    elif kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in _CHECKED_KEYS:
                if not isinstance(key, str) or not KEY_RE.match(key):
                    raise _Refused("keys must be 1-64 ASCII letters, digits or _ . : -", f".{key}")
                if len(_CHECKED_KEYS) < 4096:
                    _CHECKED_KEYS.add(key)
            try:
                out[key] = _intake(item, reject_floats)
            except _Refused as exc:
                exc.suffix = f".{key}{exc.suffix}"
                raise
        return out
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_INT <= value <= MAX_INT else str(value)
    if isinstance(value, float):
        if reject_floats:
            raise _Refused("floats are not allowed in audit details; send decimals as strings")
        if value != value or value in (float("inf"), float("-inf")):
            raise _Refused("NaN and infinite values cannot be recorded")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Refused("NaN and infinite values cannot be recorded")
        return str(value)
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused("text is not valid Unicode") from None
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise _Refused("datetimes must be timezone-aware")
        return format_ts(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return _intake(dict(value), reject_floats)
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        for i, item in enumerate(value):
            try:
                items.append(_intake(item, reject_floats))
            except _Refused as exc:
                exc.suffix = f"[{i}]{exc.suffix}"
                raise
        return items
    if isinstance(value, (set, frozenset)):
        return sorted(_intake(item, reject_floats) for item in value)
    raise _Refused(f"cannot record a value of type {type(value).__name__}")


def build_body(spec: EventSpec, *, floats: str = "convert") -> dict[str, Any]:
    """Validate one event and return its record fields that do not depend on the log position."""
    if not isinstance(spec.action, str) or not ACTION_RE.match(spec.action):
        raise AuditInputError("action must be dotted lower_snake words such as model_version.register", field="action")
    target = intake_value(dict(spec.target or {}), path="object", floats=floats)
    if not target.get("type") or target.get("id") in (None, ""):
        raise AuditInputError("target needs a type and an id", field="object")
    target["id"] = str(target["id"])
    body = {
        "actor": spec.actor.as_record(),
        "action": spec.action,
        "object": target,
        "data": intake_value(dict(spec.details or {}), path="data", floats=floats),
    }
    if spec.reason:
        if len(spec.reason) > MAX_REASON_CHARS:
            raise AuditInputError(f"reason is longer than {MAX_REASON_CHARS} characters", field="reason")
        body["reason"] = intake_value(spec.reason, path="reason")
    return body


def _encode_body(body: dict[str, Any]) -> _Parts:
    """Canonical bytes of each body field, made before the head lock is taken."""
    reason = body.get("reason")
    return (
        canonical_json(body["action"], validated=True),
        canonical_json(body["actor"], validated=True),
        canonical_json(body["data"], validated=True),
        canonical_json(body["object"], validated=True),
        canonical_json(reason, validated=True) if reason is not None else None,
    )


def _record_bytes(parts: _Parts, ctx: bytes, log: bytes, prev_b64: bytes, seq: int, tail: bytes) -> bytes:
    """The record's canonical JSON, assembled from canonical pieces under the lock.

    Canonical JSON of an object is its members in sorted key order; the record's keys sort as
    action, actor, ctx, data, log, object, prev, reason, seq, ts, v, so concatenating the
    canonical values in that order gives exactly ``canonical_json(record)`` (a test checks it).
    """
    action, actor, data, target, reason = parts
    out = [
        b'{"action":',
        action,
        b',"actor":',
        actor,
        b',"ctx":',
        ctx,
        b',"data":',
        data,
        b',"log":',
        log,
        b',"object":',
        target,
        b',"prev":"',
        prev_b64,
        b'"',
    ]
    if reason is not None:
        out += [b',"reason":', reason]
    out += [b',"seq":', str(seq).encode(), tail]
    return b"".join(out)


EVENT_COLUMNS = (
    "seq",
    "record",
    "leaf_hash",
    "ts",
    "actor_type",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "request_id",
)
NODE_COLUMNS = ("id", "hash")
COPY_THRESHOLD = 20  # rows; below this a plain INSERT is cheaper than starting a COPY
SEQUENCE_BATCH = 5000  # pending events sequenced per transaction


class AppendedEvent(NamedTuple):
    """What an inline append returns: the event's place in the log."""

    seq: int
    leaf_hash: bytes
    ts: dt.datetime


class _Entry(NamedTuple):
    """An event ready for the log: canonical bytes of its fields, of its request context, and
    the derived query columns of its row (``EVENT_COLUMNS`` from actor_type to request_id)."""

    parts: _Parts
    ctx: bytes
    derived: tuple[Any, ...]


_Stored = TypeVar("_Stored", AuditEvent, AuditTreeNode, AuditPendingEvent)


def _insert(model: type[_Stored], rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> None:
    """Insert rows given as tuples in ``columns`` order, by the cheapest route: on PostgreSQL one
    plain INSERT for small batches and COPY for large ones (several times faster than a
    many-parameter INSERT built by the ORM; the head lock may be held meanwhile)."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**dict(zip(columns, row, strict=True))) for row in rows])
        return
    table, names = model._meta.db_table, ", ".join(columns)
    with connection.cursor() as cursor:
        if len(rows) < COPY_THRESHOLD:
            one = "(" + ", ".join(["%s"] * len(columns)) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(rows))}",
                [value for row in rows for value in row],
            )
            return
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def audit_event_append(
    *,
    actor: Actor,
    action: str,
    target: Mapping[str, Any],
    details: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> AppendedEvent | None:
    """Append one event inside the caller's transaction; returns its seq, leaf hash and time
    (``None`` under ``AUDIT_SEQUENCING=deferred``, where the sequencer assigns the seq later)."""
    appended = audit_events_append([EventSpec(actor, action, target, details, reason)])
    return appended[0] if appended else None


def _prepare(specs: Sequence[EventSpec], floats: str) -> list[_Entry]:
    """Validate and encode every event, before any lock is taken."""
    ctx = current_context().as_record()
    ctx_bytes = canonical_json(ctx, validated=True)
    request_id = ctx["request_id"]
    entries = []
    for index, spec in enumerate(specs):
        try:
            body = build_body(spec, floats=floats)
        except AuditInputError as exc:
            exc.index = index
            raise
        parts = _encode_body(body)
        # Refuse oversized events before taking the lock (the full record adds < 1 KiB of fields).
        if sum(len(part) for part in parts if part) > MAX_RECORD_BYTES - 1024:
            raise AuditInputError(f"event is larger than {MAX_RECORD_BYTES} bytes", field="data", index=index)
        actor, target = body["actor"], body["object"]
        entries.append(
            _Entry(
                parts,
                ctx_bytes,
                (
                    actor["type"],
                    actor["id"],
                    actor.get("username", ""),
                    body["action"],
                    target["type"],
                    target["id"],
                    request_id,
                ),
            )
        )
    return entries


@overload
def audit_events_append(
    specs: Sequence[EventSpec], *, floats: str = ..., sequencing: Literal["inline"]
) -> list[AppendedEvent]: ...


@overload
def audit_events_append(
    specs: Sequence[EventSpec], *, floats: str = ..., sequencing: str | None = ...
) -> list[AppendedEvent] | None: ...


def audit_events_append(
    specs: Sequence[EventSpec], *, floats: str = "convert", sequencing: str | None = None
) -> list[AppendedEvent] | None:
    """Append several events in the caller's transaction, in order.

    ``sequencing`` (default ``settings.AUDIT_SEQUENCING``): ``"inline"`` locks the head and gives
    the events contiguous seqs now, returning them; ``"deferred"`` stores them as pending rows
    that commit with the caller's change, and the sequencer (``audit_pending_sequence``) appends
    them to the log after the commit (returns None).
    """
    unit = _open_unit.get()
    if unit is not None and sequencing is None and floats == "convert":
        # Inside a unit of work the events join it and are appended when it ends (head lock last).
        unit.events.extend(specs)
        return None
    mode = sequencing or settings.AUDIT_SEQUENCING
    if mode not in ("inline", "deferred"):
        raise ValueError(f"sequencing must be inline or deferred, got {mode!r}")
    entries = _prepare(specs, floats)
    # No savepoint: a failed append must fail the caller's whole transaction (invariant 1), and a
    # SAVEPOINT/RELEASE pair would add a round trip while the head lock is held.
    with transaction.atomic(savepoint=False):
        if mode == "deferred":
            _insert(AuditPendingEvent, [(_pending_fields(e),) for e in entries], ("fields",))
            return None
        return _sequence(AuditHead.objects.select_for_update().get(pk=1), entries)


# --- the unit of work -----------------------------------------------------------------------------------------


class AuditUnit:
    """The audit events of one service call, appended together when its ``audit_unit`` block ends.

    ``add`` only records the event; nothing is locked until the block's end. ``events`` is the
    list of what will be (or, after the block, what was) appended, so tests can assert "exactly
    these events"; ``appended`` holds their seqs once written inline.
    """

    def __init__(self, actor: Actor | None, events: list[EventSpec] | None = None):
        self.actor = actor
        self.events: list[EventSpec] = [] if events is None else events
        self.appended: list[AppendedEvent] | None = None

    def add(
        self,
        action: str,
        target: Mapping[str, Any],
        *,
        details: Mapping[str, Any] | None = None,
        reason: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        who = actor or self.actor
        if who is None:
            raise ValueError("an audit event needs an actor: give audit_unit(actor) or add(..., actor=...)")
        self.events.append(EventSpec(who, action, target, details, reason))


_open_unit: ContextVar[AuditUnit | None] = ContextVar("mlgov_audit_unit", default=None)

# Foreign keys are DEFERRABLE INITIALLY DEFERRED (Django's default on PostgreSQL): their checks
# take FOR KEY SHARE row locks at COMMIT, i.e. after the head lock, which deadlocks against a
# transaction that holds such a row FOR UPDATE and waits for the head. The unit checks them
# first, so the head really is the last lock (only foreign keys: the governed-data guard stays
# deferred to the commit).
_FOREIGN_KEYS_NOW = """
DO $$
DECLARE names text;
BEGIN
  SELECT string_agg(quote_ident(c.conname), ', ') INTO names
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
   WHERE c.contype = 'f' AND c.condeferrable AND n.nspname = current_schema();
  IF names IS NOT NULL THEN
    EXECUTE 'SET CONSTRAINTS ' || names || ' IMMEDIATE';
  END IF;
END $$
"""


class audit_unit:  # lower case: used like transaction.atomic
    """A transaction whose audit events are appended together, as its last statements.

        with audit_unit(principal.actor) as audit:
            model.save()
            audit.add("registered_model.create", model_target(model), details=snapshot)
        # committed: the model and exactly one event, or neither

    Every ``audit_event_append`` made inside the block (by this service or one it calls) joins
    the unit instead of locking the head early. A unit opened inside another joins the outer
    one (its events are appended when the outer block ends; dropped if the inner block fails).
    Just before the block ends the unit checks the deferred foreign keys and then appends, so the
    audit head lock is taken last in every service, by construction.
    """

    def __init__(self, actor: Actor | None = None):
        self.actor = actor
        self._atomic = transaction.atomic()
        self._token: Token[AuditUnit | None] | None = None
        self._mark = 0

    def __enter__(self) -> AuditUnit:
        self._atomic.__enter__()
        outer = _open_unit.get()
        if outer is not None:
            self.unit = AuditUnit(self.actor or outer.actor, events=outer.events)
            self._mark = len(outer.events)
        else:
            self.unit = AuditUnit(self.actor)
            self._token = _open_unit.set(self.unit)
        return self.unit

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        token = self._token
        owner = token is not None
        try:
            if token is not None:
                _open_unit.reset(token)
                self._token = None
            if exc_type is None and owner and self.unit.events:
                connection = transaction.get_connection()
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(_FOREIGN_KEYS_NOW)
                self.unit.appended = audit_events_append(self.unit.events)
            elif exc_type is not None and not owner:
                del self.unit.events[self._mark :]
        except BaseException as failure:
            # Atomic.__exit__ never suppresses an exception (it returns None): roll back, re-raise.
            self._atomic.__exit__(type(failure), failure, failure.__traceback__)
            raise
        self._atomic.__exit__(exc_type, exc, tb)


def _sequence(head: AuditHead, entries: Sequence[_Entry]) -> list[AppendedEvent]:
    """Give ``entries`` the next seqs after the locked ``head``; write them, the Merkle nodes they
    complete and the new head (whose guard trigger checks that the rows match)."""
    compact = CompactRange.from_bytes(head.size, bytes(head.compact_range))
    prev = bytes(head.last_leaf) if head.size else ZERO_HASH
    moment = timezone.now()
    ts = format_ts(moment)
    rows: list[tuple[Any, ...]] = []
    nodes: list[tuple[int, bytes]] = []
    appended: list[AppendedEvent] = []
    log_bytes = canonical_json(head.origin)
    tail = b',"ts":"' + ts.encode() + b'","v":"' + SCHEMA.encode() + b'"}'
    for offset, entry in enumerate(entries):
        seq = head.size + offset
        raw = _record_bytes(entry.parts, entry.ctx, log_bytes, base64.b64encode(prev), seq, tail)
        leaf = hash_leaf(raw)
        for level, index, digest in compact.append(leaf):
            nodes.append((node_id(level, index), digest))
        rows.append((seq, raw, leaf, moment, *entry.derived))
        appended.append(AppendedEvent(seq, leaf, moment))
        prev = leaf
    _insert(AuditEvent, rows, EVENT_COLUMNS)
    if nodes:
        _insert(AuditTreeNode, nodes, NODE_COLUMNS)
    AuditHead.objects.filter(pk=1).update(
        size=head.size + len(rows), last_leaf=prev, compact_range=compact.to_bytes(), updated_at=moment
    )
    return appended


# One sequencer at a time: a session-level advisory lock (released by pg_advisory_unlock, or by
# PostgreSQL when the session ends, so a dead sequencer never blocks the next one).
SEQUENCER_LOCK = 0x6D6C676F76  # "mlgov"
_CLAIM_SEQUENCER = (
    f"SELECT CASE WHEN EXISTS (SELECT 1 FROM audit_auditpendingevent) THEN pg_try_advisory_lock({SEQUENCER_LOCK}) END"
)


def audit_pending_sequence() -> int:
    """The sequencer: move committed pending events into the log, oldest first, in batches.

    One statement decides: nothing pending, or another sequencer at work (return 0), or this
    call becomes the sequencer until fewer than a batch is left. Each batch is one transaction
    that locks the head, appends the events (``_sequence``) and deletes their pending rows.
    ``manage.py audit_sequencer`` calls it in a loop; every checkpoint calls it first, so the
    periodic checkpoint task drains pending events when no sequencer runs. Returns how many
    events this call sequenced.
    """
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return 0  # SQLite sequences inline only (the pending table refuses rows there)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SEQUENCER)
        if not cursor.fetchone()[0]:
            return 0
    done = 0
    try:
        while True:
            count = _sequence_pending_batch()
            done += count
            if count < SEQUENCE_BATCH:
                return done
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_unlock({SEQUENCER_LOCK})")


def _pending_fields(entry: _Entry) -> str:
    """A pending row's ``fields``: canonical JSON of each of ``AuditPendingEvent.FIELD_NAMES``
    (reason only when there is one), one per line (canonical JSON has no raw newline)."""
    action, actor, data, target, reason = entry.parts
    return b"\n".join((action, actor, entry.ctx, data, target) + ((reason,) if reason is not None else ())).decode()


def _pending_entry(fields: str) -> _Entry:
    action, actor, ctx, data, target, *reason = (line.encode() for line in fields.split("\n"))
    who, what = json.loads(actor), json.loads(target)
    return _Entry(
        (action, actor, data, target, reason[0] if reason else None),
        ctx,
        (
            who["type"],
            who["id"],
            who.get("username", ""),
            json.loads(action),
            what["type"],
            what["id"],
            json.loads(ctx)["request_id"],
        ),
    )


def _sequence_pending_batch() -> int:
    with transaction.atomic():
        rows = list(AuditPendingEvent.objects.order_by("id").values_list("id", "fields")[:SEQUENCE_BATCH])
        if not rows:
            return 0
        entries = [_pending_entry(fields) for _, fields in rows]
        _sequence(AuditHead.objects.select_for_update().get(pk=1), entries)
        with transaction.get_connection().cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditpendingevent WHERE id = ANY(%s)", [[row[0] for row in rows]])
            if cursor.rowcount != len(rows):  # only a second, concurrent sequencer could cause this
                raise RuntimeError("pending audit events were sequenced twice; rolled back")
    return len(rows)

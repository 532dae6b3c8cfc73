"""Verification of the log as stored in the database (``manage.py audit_verify``).

Streams the rows in seq order (memory flat in the log's size), re-canonicalises and re-hashes
every record with the same primitives as the offline verifier (``audit/verifier.py``), checks
seq contiguity and every ``prev``, the derived columns, the head row, and the Merkle root and
signature of every stored checkpoint.

On PostgreSQL, outside a transaction, worker processes check aligned chunks of the log in
parallel (each reads its own seq range) and this process folds their small results in order,
as the offline verifier does for bundles; any anomaly there re-runs the sequential pass, which
names the first bad seq.
"""

from __future__ import annotations

import base64
import bisect
import gc
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit import signals
from audit.merkle import CompactRange, node_from_id, node_id
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditTreeNode, AuditVerification
from audit.verifier import (
    EntryError,
    Result,
    TrustedKeys,
    check_entry,
    compact_root,
    hash_children,
    hash_leaf,
    prev_break,
    verify_checkpoint,
)

alerts = logging.getLogger("mlgov.alerts")
logger = logging.getLogger(__name__)

ZERO_PREV = base64.b64encode(bytes(32)).decode()
Progress = Callable[[int], None]


def _as_bytes(value: object) -> bytes | None:
    """A binary column's value as bytes; None when the stored value is of another type (on SQLite,
    ``cast(record as text)`` stores text), which verification reports as that seq's failure."""
    if type(value) is bytes:
        return value
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    return None


def _fail(seq: int, reason: str) -> Result:
    return Result(ok=False, first_bad_seq=seq, bad_file="database", reason=reason)


DERIVED_COLUMNS = ("actor_type", "actor_id", "action", "object_type", "object_id", "request_id")


def _derived_values(obj: dict[str, Any]) -> tuple[Any, ...]:
    return (
        obj["actor"]["type"],
        obj["actor"]["id"],
        obj["action"],
        obj["object"]["type"],
        obj["object"]["id"],
        obj["ctx"]["request_id"],
    )


def _derived_mismatch(stored: tuple[Any, ...], obj: dict[str, Any]) -> str | None:
    for name, have, want in zip(DERIVED_COLUMNS, stored, _derived_values(obj), strict=True):
        if have != want:
            return f"column {name} ({have!r}) does not match the record ({want!r})"
    return None


def _stored_nodes_mismatch(expected: dict[int, bytes], limit: int) -> Result | None:
    """Compare the stored subtree hashes (which proofs are built from) with the recomputed ones.

    The nodes a chunk of records completes are contiguous per level, so they are read with one
    range per level (index range scans), not one lookup per node. Only subtrees within the
    head's size are compared; rows beyond the head are reported by the head check."""
    ranges: dict[int, list[int]] = {}
    for key in list(expected):
        level, index = node_from_id(key)
        if (index + 1) << level > limit:
            del expected[key]
            continue
        span = ranges.setdefault(level, [index, index])
        span[0], span[1] = min(span[0], index), max(span[1], index)
    if not expected:
        return None
    within = Q()
    for level, (low, high) in ranges.items():
        within |= Q(id__range=(node_id(level, low), node_id(level, high)))
    stored = dict(AuditTreeNode.objects.filter(within).values_list("id", "hash"))
    for key in sorted(expected):
        if key not in stored or bytes(stored[key]) != expected[key]:
            level, index = node_from_id(key)
            first = index << level
            expected.clear()
            return _fail(
                first,
                f"stored Merkle subtree (level {level}, seq {first} to {first + (1 << level) - 1}) "
                "is missing or does not match the records: proofs served from it would be wrong",
            )
    expected.clear()
    return None


def _rows_beyond_head() -> tuple[int, int]:
    """(rows at or beyond the head's size, that size), in one statement, so one snapshot: rows
    appended by a concurrent writer come with the head that covers them and are not counted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM audit_auditevent WHERE seq >= h.size), h.size "
            "FROM audit_audithead h WHERE h.id = 1"
        )
        row: tuple[int, int] = cursor.fetchone()
        return row


def _claimed_prev(raw: bytes) -> str | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record.get("prev") if isinstance(record, dict) else None


def verify_database(
    *,
    trusted_keys: TrustedKeys | None = None,
    progress: Progress | None = None,
    chunk_size: int = 5000,
    jobs: int | None = None,
) -> Result:
    """Verify the stored log; ``progress(count)`` is called as entries are checked.

    ``jobs`` worker processes check chunks of the log in parallel (see ``_verify_parallel``).
    ``None`` means ``os.cpu_count()``; workers are used only on PostgreSQL outside any
    transaction (they read with their own connections), otherwise the log is verified in this
    process. ``jobs=1`` always verifies sequentially. Any anomaly on the parallel path re-runs the
    sequential verification, so failure reports are always those of the sequential algorithm."""
    if jobs is not None and jobs < 1:
        raise ValueError("jobs must be at least 1")
    # Checkpoints first, then the head: the log may grow meanwhile, but a checkpoint read before
    # the head never exceeds it. Only the rows below this head's size are verified.
    checkpoints = {cp.size: cp for cp in AuditCheckpoint.objects.all()}
    head = AuditHead.objects.get(pk=1)
    key_names: set[str] = set()
    for size, cp in checkpoints.items():
        if trusted_keys:
            try:
                origin, signed_size, root, names = verify_checkpoint(cp.note, trusted_keys)
            except ValueError as exc:
                return Result(ok=False, bad_file=f"checkpoint {size}", reason=f"signature does not verify: {exc}")
            if origin != head.origin or signed_size != size or root != bytes(cp.root):
                return Result(ok=False, bad_file=f"checkpoint {size}", reason="note does not match the stored row")
            key_names.update(names)
        if size > head.size:
            return Result(
                ok=False,
                bad_file=f"checkpoint {size}",
                reason=f"checkpoint size {size} is beyond the head size {head.size}",
            )

    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs > 1 and head.size > _parallel_chunk(head.size, jobs) and _parallel_safe():
        reported = [0]
        result = _verify_parallel(head, checkpoints, jobs, progress, reported)
        if result is not None:
            result.checkpoints, result.key_names = len(checkpoints), sorted(key_names)
            return result
        progress = _skip_progress(progress, reported[0])
    return _verify_sequential(head, checkpoints, key_names, progress, chunk_size)


def _verify_sequential(
    head: AuditHead,
    checkpoints: dict[int, AuditCheckpoint],
    key_names: set[str],
    progress: Progress | None,
    chunk_size: int,
    *,
    start: int = 0,
    compact: CompactRange | None = None,
    prev: str = ZERO_PREV,
) -> Result:
    """Stream every row in seq order in this process; reports the first bad seq exactly. An
    incremental run starts at ``start`` with the authenticated compact range and last leaf there."""
    compact = compact if compact is not None else CompactRange()
    n = start
    rows = (
        AuditEvent.objects.filter(seq__gte=start, seq__lt=head.size)
        .order_by("seq")
        .values_list("seq", "record", "leaf_hash", *DERIVED_COLUMNS)
        .iterator(chunk_size=chunk_size)
    )
    pending_break: tuple[int, bytes] | None = None
    expected_nodes: dict[int, bytes] = {}  # subtree hashes recomputed from the records, checked per chunk
    origin = head.origin
    b64encode = base64.b64encode
    for row in rows:
        row_seq, raw, stored_leaf = row[0], _as_bytes(row[1]), _as_bytes(row[2])
        if pending_break is not None:
            # Entry n-1's prev did not match: if this entry still records leaf(n-1) as its prev,
            # entry n-2's bytes were changed; otherwise entry n-1's prev was.
            broken_seq, broken_leaf = pending_break
            intact = (
                row_seq == broken_seq + 1 and raw is not None and _claimed_prev(raw) == b64encode(broken_leaf).decode()
            )
            return _fail(*prev_break(broken_seq, intact=intact))
        if row_seq != n:
            return _fail(n, f"expected seq {n}, found seq {row_seq} (row deleted, moved or inserted)")
        if raw is None:
            return _fail(n, f"record column holds {type(row[1]).__name__}, not bytes (its stored type was changed)")
        try:
            obj = check_entry(raw, n, origin)
        except EntryError as exc:
            return _fail(n, str(exc))
        leaf = hash_leaf(raw)
        if stored_leaf != leaf:
            return _fail(n, "stored leaf_hash column does not match the record bytes")
        if row[3:] != _derived_values(obj):
            return _fail(n, _derived_mismatch(row[3:], obj) or "derived columns do not match the record")
        if obj["prev"] != prev:
            pending_break = (n, leaf)
            n += 1
            continue
        for level, index, digest in compact.append(leaf):
            expected_nodes[node_id(level, index)] = digest
        prev = b64encode(leaf).decode()
        n += 1
        if n in checkpoints and compact.root() != bytes(checkpoints[n].root):
            return _fail(n - 1, f"Merkle root at size {n} does not match the signed checkpoint")
        if n % chunk_size == 0:
            bad = _stored_nodes_mismatch(expected_nodes, head.size)
            if bad:
                return bad
            if progress:
                progress(chunk_size)
    if pending_break is not None:
        broken_seq, _ = pending_break
        return _fail(*prev_break(broken_seq, intact=False))
    if progress:
        progress(n % chunk_size)
    if n != head.size:
        return _fail(n, f"head says {head.size} entries but only {n} rows exist (rows deleted)")
    beyond, size_now = _rows_beyond_head()
    if beyond:
        return _fail(
            size_now,
            f"{beyond} row(s) beyond the head size {size_now}: "
            "written without the head lock (forged or out-of-band insert)",
        )
    bad = _stored_nodes_mismatch(expected_nodes, head.size)
    if bad:
        return bad
    if head.size and bytes(head.last_leaf) != base64.b64decode(prev):
        return _fail(n - 1, "head's last leaf does not match the last record")
    if bytes(head.compact_range) != compact.to_bytes():
        return Result(ok=False, bad_file="head", reason="head's compact range does not match the records")
    return Result(
        ok=True, size=n, root=compact.root(), entries=n, checkpoints=len(checkpoints), key_names=sorted(key_names)
    )


# --- parallel fast path --------------------------------------------------------------------------------------------

PARALLEL_CHUNK = 1 << 13
"""Entries per worker task (at most): a power of two, so every chunk but the last is a perfect
subtree. Smaller logs use smaller chunks (not below _MIN_PARALLEL_CHUNK) to keep every worker busy."""
_MIN_PARALLEL_CHUNK = 1 << 10
_CHUNKS_PER_JOB = 8

_UPPER_NODES_BATCH = 64  # stored nodes above chunk level are compared in batches of this many


class _Anomaly(Exception):
    """Something on the parallel path is not as expected: re-verify sequentially."""


def _parallel_safe() -> bool:
    """Worker processes read with their own connections, so they only see committed rows: use
    them only on PostgreSQL, and only when no connection of this process is inside a transaction
    (its uncommitted changes would be invisible to them, and closing it would end it). Not with
    a connection pool either: its connections and threads do not survive a fork."""
    if connection.vendor != "postgresql" or connection.settings_dict.get("OPTIONS", {}).get("pool"):
        return False
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block or (conn.connection is not None and not conn.autocommit):
            return False
    return True


def _parallel_chunk(size: int, jobs: int) -> int:
    chunk = PARALLEL_CHUNK
    if chunk <= 0 or chunk & (chunk - 1):
        raise ValueError("PARALLEL_CHUNK must be a power of two")
    while chunk > _MIN_PARALLEL_CHUNK and size < chunk * jobs * _CHUNKS_PER_JOB:
        chunk >>= 1
    return chunk


def _skip_progress(progress: Progress | None, done: int) -> Progress | None:
    """After a fallback the sequential pass starts from seq 0: report only what goes beyond
    the ``done`` entries the parallel pass already reported."""
    if progress is None or done <= 0:
        return progress
    left = [done]

    def call(count: int) -> None:
        skip = min(left[0], count)
        left[0] -= skip
        if count > skip:
            progress(count - skip)

    return call


def _fetch(rows: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """All rows of a ``values_list`` queryset as tuples, for the workers' bulk reads.

    The SQL is the ORM's; on psycopg 3 it runs on a plain (server-side binding) cursor with
    binary results, which spares the hex encoding and decoding of bytea in both the server and
    the worker (about 2.5x less client CPU per audit row than Django's text-mode cursor)."""
    sql, params = rows.query.sql_with_params()
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import is_psycopg3

        if is_psycopg3:
            import psycopg

            with psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, binary=True)
                found: list[tuple[Any, ...]] = cursor.fetchall()
                return found
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched: list[tuple[Any, ...]] = cursor.fetchall()
        return fetched


def _fetch_range(start: int, end: int) -> list[tuple[Any, ...]]:
    """Rows with ``start <= seq < end`` in seq order, as (seq, record, leaf_hash, *derived) tuples."""
    return _fetch(
        AuditEvent.objects.filter(seq__gte=start, seq__lt=end)
        .order_by("seq")
        .values_list("seq", "record", "leaf_hash", *DERIVED_COLUMNS)
    )


def _worker_init() -> None:
    # The parent closed its connections before forking; each worker opens its own on first use
    # and closes it when the pool shuts the worker down (multiprocessing runs exit finalizers).
    from multiprocessing.util import Finalize

    Finalize(None, connections.close_all, exitpriority=10)


def _subtree_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """``levels[k]``: the hashes of the complete subtrees of 2**k leaves, left to right, of a run of
    leaves that starts at a multiple of 2**k (``levels[0]`` is ``leaves``): the nodes
    ``CompactRange.append`` completes leaf by leaf, computed a level at a time, which costs a
    worker less than half as much per entry."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([hash_children(left, right) for left, right in zip(below[::2], below[1::2], strict=False)])
    return levels


def _compact_hashes(levels: list[list[bytes]], count: int) -> list[bytes]:
    """The compact range of the first ``count`` leaves (largest subtree first) from their levels."""
    hashes, done = [], 0
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            hashes.append(levels[level][done >> level])
            done += 1 << level
    return hashes


ChunkTask = tuple[int, int, str, frozenset[int]]
# (first record's prev, last leaf, the chunk's compact range hashes, {cut: compact range hashes})
ChunkResult = tuple[str | None, bytes, list[bytes], dict[int, list[bytes]]]


def _check_db_chunk(task: ChunkTask) -> ChunkResult | None:
    """Worker: read and check the rows ``start <= seq < end`` (``start`` a multiple of the chunk
    size), with every check of the sequential loop, including the stored Merkle subtrees that lie
    within the chunk. Returns None on any anomaly, else (first record's prev, last leaf, the
    chunk's compact range hashes, {cut: compact range hashes that many entries into the chunk})."""
    start, end, origin, cuts = task
    rows = _fetch_range(start, end)
    if len(rows) != end - start:
        return None
    check = check_entry
    b64encode = base64.b64encode
    leaves: list[bytes] = []
    add_leaf = leaves.append
    first_prev: str | None = None
    prev: str | None = None
    n = start
    for row in rows:
        raw = row[1]
        if type(raw) is not bytes:
            raw = _as_bytes(raw)
        if row[0] != n or raw is None:
            return None
        try:
            obj = check(raw, n, origin)
        except EntryError:
            return None
        leaf = hash_leaf(raw)
        if _as_bytes(row[2]) != leaf or row[3:] != _derived_values(obj):
            return None
        if prev is None:
            first_prev = obj["prev"]
        elif obj["prev"] != prev:
            return None
        add_leaf(leaf)
        prev = b64encode(leaf).decode()
        n += 1
    levels = _subtree_levels(leaves)
    # The stored nodes (level >= 1) within the chunk: one index range per level, read in id order,
    # which is level by level and left to right: exactly the computed levels, concatenated.
    within = Q()
    for level in range(1, len(levels)):
        base = start >> level
        within |= Q(id__range=(node_id(level, base), node_id(level, base + len(levels[level]) - 1)))
    expected = [digest for hashes in levels[1:] for digest in hashes]
    if expected:
        stored = _fetch(AuditTreeNode.objects.filter(within).order_by("id").values_list("hash"))
        if [bytes(row[0]) for row in stored] != expected:
            return None
    snaps = {cut: _compact_hashes(levels, cut) for cut in cuts}
    return first_prev, leaves[-1], _compact_hashes(levels, len(leaves)), snaps


def _verify_parallel(
    head: AuditHead, checkpoints: dict[int, AuditCheckpoint], jobs: int, progress: Progress | None, reported: list[int]
) -> Result | None:
    """Check aligned chunks of [0, head.size) in worker processes and fold their results in
    order: no rows outside [0, head.size), prev continuity across chunks, the root at every
    checkpoint, the stored subtrees above chunk level, then the head row. Returns the
    passing Result, or None on any anomaly or error (the caller then verifies sequentially).
    ``reported[0]`` counts the entries passed to ``progress``."""
    import collections
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    size, chunk = head.size, _parallel_chunk(head.size, jobs)
    jobs = min(jobs, -(-size // chunk))
    chunk_level = chunk.bit_length() - 1
    roots = {s: bytes(cp.root) for s, cp in checkpoints.items() if 0 < s <= size}
    cut_sizes = sorted(roots)
    origin = head.origin

    def tasks() -> Iterator[ChunkTask]:
        for start in range(0, size, chunk):
            end = min(start + chunk, size)
            inside = cut_sizes[bisect.bisect_right(cut_sizes, start) : bisect.bisect_right(cut_sizes, end)]
            yield start, end, origin, frozenset(t - start for t in inside)

    upper = CompactRange()  # compact range over the full chunks' roots: the tree above chunk level
    upper_nodes: dict[int, bytes] = {}
    tail: list[bytes] = []  # compact range of a last, partial chunk
    prev, last_leaf = ZERO_PREV, b""
    try:
        if AuditEvent.objects.filter(seq__lt=0).exists() or _rows_beyond_head()[0]:
            raise _Anomaly("rows outside the head's size")
        connections.close_all()  # before forking: no worker may share this process's socket
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
        try:
            todo = tasks()
            pending: collections.deque[tuple[ChunkTask, Future[ChunkResult | None]]] = collections.deque()
            # The first submit forks all the workers. Frozen, this process's objects are never
            # scanned by the workers' garbage collector, which would copy their pages on write
            # (here: about a quarter of a worker's CPU time on a 20,000-entry log).
            frozen_before = gc.get_freeze_count()
            gc.freeze()
            try:
                for task in todo:
                    pending.append((task, pool.submit(_check_db_chunk, task)))
                    if len(pending) > jobs:
                        break
            finally:
                if not frozen_before:  # leave a freeze of the application's own alone
                    gc.unfreeze()
            while pending:
                (start, end, _, _), future = pending.popleft()
                following = next(todo, None)
                if following is not None:
                    pending.append((following, pool.submit(_check_db_chunk, following)))
                result = future.result()
                if result is None:
                    raise _Anomaly(f"chunk at seq {start}")
                first_prev, chunk_last_leaf, hashes, snaps = result
                if first_prev != prev:
                    raise _Anomaly(f"prev at seq {start}")
                for cut, snap in snaps.items():
                    if compact_root(upper.hashes + snap) != roots[start + cut]:
                        raise _Anomaly(f"checkpoint {start + cut}")
                if end - start == chunk:
                    for level, index, digest in upper.append(hashes[0]):
                        upper_nodes[node_id(level + chunk_level, index)] = digest
                    if len(upper_nodes) >= _UPPER_NODES_BATCH and _stored_nodes_mismatch(upper_nodes, size):
                        raise _Anomaly("stored subtree above chunk level")
                else:
                    tail = hashes
                prev, last_leaf = base64.b64encode(chunk_last_leaf).decode(), chunk_last_leaf
                if progress:
                    progress(end - start)
                reported[0] += end - start
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if _stored_nodes_mismatch(upper_nodes, size):
            raise _Anomaly("stored subtree above chunk level")
        compact = CompactRange(size, upper.hashes + tail)
        if bytes(head.last_leaf) != last_leaf or bytes(head.compact_range) != compact.to_bytes():
            raise _Anomaly("head row")
    except _Anomaly as exc:
        logger.info("parallel audit log verification found an anomaly (%s): verifying sequentially", exc)
        return None
    except Exception:  # no processes, a worker or database error: the sequential pass decides
        logger.warning("parallel audit log verification failed: verifying sequentially", exc_info=True)
        return None
    return Result(ok=True, size=size, root=compact.root(), entries=size)


# --- incremental verification --------------------------------------------------------------------------------------


def _record_leaf(seq: int) -> bytes | None:
    raw = AuditEvent.objects.filter(seq=seq).values_list("record", flat=True).first()
    raw = _as_bytes(raw) if raw is not None else None
    return hash_leaf(raw) if raw is not None else None


def _stored_node(level: int, index: int) -> bytes | None:
    if level == 0:
        return _record_leaf(index)
    found = AuditTreeNode.objects.filter(id=node_id(level, index)).values_list("hash", flat=True).first()
    return bytes(found) if found is not None else None


def verify_incremental(
    *, since: int, trusted_keys: TrustedKeys | None = None, progress: Progress | None = None, chunk_size: int = 5000
) -> Result:
    """Verify only the entries appended since the checkpoint of size ``since`` (verified before).

    The stored subtree hashes on the right edge of [0, since) must reproduce that checkpoint's
    signed root, and the record of seq since-1 must be included under the last of them: together
    they authenticate the state the new entries extend. From there the new entries get every check
    of the full pass (bytes, chain, leaf hashes, derived columns, the stored subtree hashes they
    complete, every later checkpoint's root and signature, the head); extending the authenticated
    range to each new checkpoint's root is the consistency proof from ``since`` to it. Entries
    before ``since`` are not read: the full pass (on a longer schedule) covers them."""
    anchor = AuditCheckpoint.objects.filter(size=since).first()
    if anchor is None:
        return Result(ok=False, bad_file=f"checkpoint {since}", reason="no stored checkpoint of that size")
    checkpoints = {cp.size: cp for cp in AuditCheckpoint.objects.filter(size__gte=since)}
    head = AuditHead.objects.get(pk=1)
    key_names: set[str] = set()
    for size, cp in checkpoints.items():
        if trusted_keys:
            try:
                origin, signed_size, root, names = verify_checkpoint(cp.note, trusted_keys)
            except ValueError as exc:
                return Result(ok=False, bad_file=f"checkpoint {size}", reason=f"signature does not verify: {exc}")
            if origin != head.origin or signed_size != size or root != bytes(cp.root):
                return Result(ok=False, bad_file=f"checkpoint {size}", reason="note does not match the stored row")
            key_names.update(names)
        if size > head.size:
            return Result(
                ok=False, bad_file=f"checkpoint {size}", reason=f"checkpoint size {size} is beyond the head size"
            )
    hashes, start = [], 0
    for level in reversed(range(since.bit_length())):
        if since >> level & 1:
            h = _stored_node(level, start >> level)
            if h is None:
                return _fail(start, f"stored Merkle subtree (level {level}) at checkpoint {since} is missing")
            hashes.append(h)
            start += 1 << level
    compact = CompactRange(since, hashes)
    if since and compact.root() != bytes(anchor.root):
        return _fail(
            since - 1, f"the stored subtree hashes at size {since} do not reproduce the signed checkpoint's root"
        )
    prev = ZERO_PREV
    if since:
        last = since - 1
        leaf = _record_leaf(last)
        if leaf is None:
            return _fail(last, "row missing")
        h, index = leaf, last
        lowest = (since & -since).bit_length() - 1  # the lowest subtree of the range ends at seq since-1
        for level in range(lowest):
            sibling = _stored_node(level, (index >> level) - 1)
            if sibling is None:
                return _fail(last, f"stored Merkle subtree (level {level}) next to seq {last} is missing")
            h = hash_children(sibling, h)
        if h != hashes[-1]:
            return _fail(last, f"record bytes changed: seq {last} is not included in the checkpoint of size {since}")
        prev = base64.b64encode(leaf).decode()
    result = _verify_sequential(
        head, checkpoints, key_names, progress, chunk_size, start=since, compact=compact, prev=prev
    )
    result.checkpoints = len(checkpoints)
    if result.ok:
        result.entries = (result.size or 0) - since
    return result


def _last_verified_checkpoint() -> tuple[AuditVerification | None, int | None]:
    """(the last successful full run, the size of the largest checkpoint covered by a successful run)."""
    # state runs (``<trigger>-state``, audit.state) compare tables with the log; they verify no log bytes
    log_runs = AuditVerification.objects.filter(ok=True).exclude(trigger__endswith="-state")
    last_full = log_runs.exclude(trigger__endswith=":incremental").order_by("-started_at").first()
    last_ok = log_runs.order_by("-started_at").first()
    if last_ok is None:
        return last_full, None
    size = (
        AuditCheckpoint.objects.filter(size__lte=last_ok.size).order_by("-size").values_list("size", flat=True).first()
    )
    return last_full, size


def record_verification(
    *, trigger: str, progress: Progress | None = None, jobs: int | None = None, mode: str = "full"
) -> AuditVerification:
    """Verify with the log's own public keys, store the result, and alert on failure.

    ``mode``: ``full`` (every entry), ``incremental`` (entries since the last verified checkpoint,
    see ``verify_incremental``; a full pass when there is none), or ``auto`` (incremental, but full
    when the last successful full pass is older than ``AUDIT_FULL_VERIFY_INTERVAL_DAYS``). The run
    records what it covered: an incremental run's trigger ends with ``:incremental``, and the message
    names the entries checked (and the checkpoint an incremental run started from)."""
    import datetime as dt

    from django.conf import settings

    from audit.keys import verifier_keys_for

    if mode not in ("full", "incremental", "auto"):
        raise ValueError("mode must be full, incremental or auto")
    since = None
    if mode != "full":
        last_full, since = _last_verified_checkpoint()
        interval = dt.timedelta(days=getattr(settings, "AUDIT_FULL_VERIFY_INTERVAL_DAYS", 7))
        if mode == "auto" and (last_full is None or timezone.now() - last_full.started_at >= interval):
            since = None
    kind = "full" if since is None else "incremental"
    label = trigger if kind == "full" else f"{trigger}:incremental"
    run = AuditVerification.objects.create(started_at=timezone.now(), trigger=label[:32])
    origin = AuditHead.objects.get(pk=1).origin
    keys = verifier_keys_for(origin)
    if since is None:
        result = verify_database(trusted_keys=keys, progress=progress, jobs=jobs)
    else:
        result = verify_incremental(since=since, trusted_keys=keys, progress=progress)
        covered = (
            f"incremental: entries {since} to {(result.size or since) - 1} and consistency from checkpoint "
            f"{since} to {result.size or since}; "
            if result.ok
            else f"incremental from checkpoint {since}; "
        )
    run.finished_at = timezone.now()
    run.ok = result.ok
    run.size = result.size or 0
    run.checkpoints_checked = result.checkpoints
    run.first_bad_seq = result.first_bad_seq
    if since is None:
        run.message = result.line() + (f" (full: entries 0 to {(result.size or 0) - 1})" if result.ok else " (full)")
    else:
        run.message = covered + result.line()
    run.save()
    if not result.ok:
        alerts.error("audit log verification FAILED (%s): %s", trigger, result.line())
        signals.send_after_commit(signals.verification_failed, AuditVerification, verification=run)
    return run

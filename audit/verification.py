"""Verification of the log as stored in the database (``manage.py audit_verify``).

Streams the rows in seq order (memory flat in the log's size), re-canonicalises and re-hashes
every record with the same primitives as the offline verifier (``audit/verifier.py``), checks
seq contiguity and every ``prev``, the derived columns, the head row, and the Merkle root and
signature of every stored checkpoint.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

from django.db.models import Q
from django.utils import timezone

from audit.merkle import CompactRange, node_from_id, node_id
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditTreeNode, AuditVerification
from audit.verifier import EntryError, Result, check_entry_bytes, hash_leaf, verify_checkpoint

alerts = logging.getLogger("mlgov.alerts")

ZERO_PREV = base64.b64encode(bytes(32)).decode()
Progress = Callable[[int], None]


def _fail(seq: int, reason: str) -> Result:
    return Result(ok=False, first_bad_seq=seq, bad_file="database", reason=reason)


DERIVED_COLUMNS = ("actor_type", "actor_id", "action", "object_type", "object_id", "request_id")


def _derived_values(obj: dict) -> tuple:
    return (obj["actor"]["type"], obj["actor"]["id"], obj["action"], obj["object"]["type"], obj["object"]["id"],
            obj["ctx"]["request_id"])


def _derived_mismatch(stored: tuple, obj: dict) -> str | None:
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
            return _fail(first, f"stored Merkle subtree (level {level}, seq {first} to {first + (1 << level) - 1}) "
                                "is missing or does not match the records: proofs served from it would be wrong")
    expected.clear()
    return None


def _claimed_prev(raw: bytes) -> str | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record.get("prev") if isinstance(record, dict) else None


def verify_database(*, trusted_keys=None, progress: Progress | None = None, chunk_size: int = 5000) -> Result:
    head = AuditHead.objects.get(pk=1)
    checkpoints = {cp.size: cp for cp in AuditCheckpoint.objects.all()}
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
            return Result(ok=False, bad_file=f"checkpoint {size}",
                          reason=f"checkpoint size {size} is beyond the head size {head.size}")

    compact = CompactRange()
    prev = ZERO_PREV
    n = 0
    rows = (AuditEvent.objects.order_by("seq")
            .values_list("seq", "record", "leaf_hash", *DERIVED_COLUMNS)
            .iterator(chunk_size=chunk_size))
    pending_break: tuple[int, bytes] | None = None
    expected_nodes: dict[int, bytes] = {}  # subtree hashes recomputed from the records, checked per chunk
    origin = head.origin
    b64encode = base64.b64encode
    for row in rows:
        row_seq, raw, stored_leaf = row[0], bytes(row[1]), row[2]
        if pending_break is not None:
            # Entry n-1's prev did not match: if this entry still records leaf(n-1) as its prev,
            # entry n-2's bytes were changed; otherwise entry n-1's prev was.
            broken_seq, broken_leaf = pending_break
            intact = row_seq == broken_seq + 1 and _claimed_prev(raw) == b64encode(broken_leaf).decode()
            return _fail(broken_seq - 1 if intact else broken_seq,
                         "record bytes changed: its leaf hash does not match the next entry's prev" if intact
                         else f"prev does not match the leaf hash of seq {broken_seq - 1}")
        if row_seq != n:
            return _fail(n, f"expected seq {n}, found seq {row_seq} (row deleted, moved or inserted)")
        try:
            obj = check_entry_bytes(raw)
        except EntryError as exc:
            return _fail(n, str(exc))
        if obj["seq"] != n:
            return _fail(n, f"record says seq {obj['seq']} but is stored at seq {n}")
        if obj["log"] != origin:
            return _fail(n, f"record belongs to log {obj['log']!r}, not {origin!r}")
        leaf = hash_leaf(raw)
        if bytes(stored_leaf) != leaf:
            return _fail(n, "stored leaf_hash column does not match the record bytes")
        if row[3:] != _derived_values(obj):
            return _fail(n, _derived_mismatch(row[3:], obj))
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
        return _fail(broken_seq, f"prev does not match the leaf hash of seq {broken_seq - 1}")
    if progress:
        progress(n % chunk_size)
    if n != head.size:
        if n > head.size:
            return _fail(head.size, f"{n - head.size} row(s) beyond the head size {head.size}: "
                                    "written without the head lock (forged or out-of-band insert)")
        return _fail(n, f"head says {head.size} entries but only {n} rows exist (rows deleted)")
    bad = _stored_nodes_mismatch(expected_nodes, head.size)
    if bad:
        return bad
    if head.size and bytes(head.last_leaf) != base64.b64decode(prev):
        return _fail(n - 1, "head's last leaf does not match the last record")
    if bytes(head.compact_range) != compact.to_bytes():
        return Result(ok=False, bad_file="head", reason="head's compact range does not match the records")
    return Result(ok=True, size=n, root=compact.root(), entries=n, checkpoints=len(checkpoints),
                  key_names=sorted(key_names))


def record_verification(*, trigger: str, progress: Progress | None = None) -> AuditVerification:
    """Verify with the log's own public keys, store the result, and alert on failure."""
    from audit.keys import verifier_keys_for

    run = AuditVerification.objects.create(started_at=timezone.now(), trigger=trigger)
    origin = AuditHead.objects.get(pk=1).origin
    result = verify_database(trusted_keys=verifier_keys_for(origin), progress=progress)
    run.finished_at = timezone.now()
    run.ok = result.ok
    run.size = result.size or 0
    run.checkpoints_checked = result.checkpoints
    run.first_bad_seq = result.first_bad_seq
    run.message = result.line()
    run.save()
    if not result.ok:
        alerts.error("audit log verification FAILED (%s): %s", trigger, result.line())
    return run

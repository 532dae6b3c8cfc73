"""``verify_database(jobs=N)``: worker processes check chunks of the stored log on PostgreSQL.

The parallel pass must agree with the sequential one: the same Result on a good log, and on any
tampering it must notice an anomaly and let the sequential pass write the report (same first bad
seq, same reason). The chunk size is made small so a few thousand entries make many chunks, with
checkpoints inside chunks, on chunk boundaries and stored tree nodes above chunk level."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit import checkpoints, verification
from audit.context import Actor
from audit.merkle import CompactRange, node_id
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification
from audit.services import EventSpec, audit_events_append
from audit.verification import verify_database
from audit.verifier import canonical_json, hash_leaf, parse_verifier_key
from tests.audit.helpers import triggers_disabled

ACTOR = Actor.system("tests")
CHUNK = 128  # 2**7: chunk-level nodes are level 7, the parent checks levels 8 and up
LOG_SIZE = 3000
CHECKPOINT_EVERY = 250

transactional = pytest.mark.django_db(transaction=True)


def trusted_keys() -> list:
    return [parse_verifier_key(key) for key in checkpoints.public_keys()]


@pytest.fixture
def parallel_runs(monkeypatch):
    """Small chunks, and a record of what each parallel pass returned (None = it fell back)."""
    monkeypatch.setattr(verification, "PARALLEL_CHUNK", CHUNK)
    runs: list = []
    real = verification._verify_parallel

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        runs.append(result)
        return result

    monkeypatch.setattr(verification, "_verify_parallel", spy)
    return runs


@pytest.fixture
def log(postgres_only, parallel_runs) -> AuditHead:
    """About 3,000 entries (plus the reference data's), a signed checkpoint every 250."""
    done = 0
    while done < LOG_SIZE:
        audit_events_append(
            [
                EventSpec(ACTOR, "test.grow", {"type": "item", "id": done + i}, {"n": done + i, "text": "café"})
                for i in range(CHECKPOINT_EVERY)
            ]
        )
        done += CHECKPOINT_EVERY
        checkpoints.checkpoint_create()
    head = AuditHead.objects.get()
    assert head.size > 20 * CHUNK and head.size % CHUNK, "many chunks and a partial last one"
    return head


def _sql(statement: str, params=()) -> None:
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def _raw(seq: int) -> bytes:
    return bytes(AuditEvent.objects.get(seq=seq).record)


def _set_record(seq: int, raw: bytes) -> None:
    _sql("UPDATE audit_auditevent SET record = %s WHERE seq = %s", [raw, seq])


def _record(seq: int) -> dict:
    return json.loads(_raw(seq))


# --- a good log ----------------------------------------------------------------------------------------------------


@transactional
def test_parallel_result_equals_the_sequential_one(log, parallel_runs):
    sequential = verify_database(trusted_keys=trusted_keys(), jobs=1)
    assert sequential.ok, sequential.line()
    assert parallel_runs == [], "jobs=1 never starts workers"
    reported: list[int] = []
    parallel = verify_database(trusted_keys=trusted_keys(), jobs=2, progress=reported.append)
    assert parallel_runs and parallel_runs[-1] is not None, "the parallel pass itself passed"
    assert parallel == sequential
    assert (parallel.size, parallel.root, parallel.entries, parallel.checkpoints) == (
        sequential.size,
        sequential.root,
        sequential.entries,
        sequential.checkpoints,
    )
    assert parallel.checkpoints >= LOG_SIZE // CHECKPOINT_EVERY
    assert sum(reported) == log.size and len(reported) == -(-log.size // CHUNK), "progress per chunk"
    assert verify_database(jobs=3) == verify_database(jobs=1), "without keys too, and more jobs than CPUs"
    grow = -log.size % CHUNK  # a log that ends on a chunk boundary, with a checkpoint there
    audit_events_append([EventSpec(ACTOR, "test.grow", {"type": "item", "id": i}) for i in range(grow)])
    assert checkpoints.checkpoint_create().size % CHUNK == 0
    assert verify_database(trusted_keys=trusted_keys(), jobs=2) == verify_database(trusted_keys=trusted_keys(), jobs=1)
    assert parallel_runs[-1] is not None


@transactional
def test_automatic_jobs_outside_a_transaction(log, parallel_runs, monkeypatch):
    monkeypatch.setattr(verification.os, "cpu_count", lambda: 2)
    assert verify_database(trusted_keys=trusted_keys()).ok
    assert len(parallel_runs) == 1 and parallel_runs[0] is not None
    monkeypatch.setattr(verification.os, "cpu_count", lambda: 1)
    assert verify_database(trusted_keys=trusted_keys()).ok
    assert len(parallel_runs) == 1, "one CPU: sequential"


@pytest.mark.django_db
def test_no_workers_inside_a_transaction_or_on_sqlite(parallel_runs):
    """Workers have their own connections and could not see this (uncommitted) test transaction."""
    audit_events_append([EventSpec(ACTOR, "test.grow", {"type": "item", "id": i}) for i in range(3 * CHUNK)])
    assert not verification._parallel_safe()
    assert verify_database(jobs=2).ok
    assert parallel_runs == []


def test_chunk_levels_are_the_nodes_the_compact_range_completes():
    for count in [*range(1, 70), 128, 129]:
        leaves = [hash_leaf(str(i).encode()) for i in range(count)]
        levels = verification._subtree_levels(leaves)
        compact, completed = CompactRange(), {}
        for size, leaf in enumerate(leaves, start=1):
            completed.update({(level, index): digest for level, index, digest in compact.append(leaf)})
            assert verification._compact_hashes(levels, size) == compact.hashes
        assert completed == {
            (level, index): digest
            for level, hashes in enumerate(levels)
            if level
            for index, digest in enumerate(hashes)
        }


def test_progress_after_a_fallback_is_not_counted_twice():
    seen: list[int] = []
    progress = verification._skip_progress(seen.append, 12_000)
    for count in (5000, 5000, 5000, 5000, 123):
        progress(count)
    assert seen == [3000, 5000, 123]
    assert verification._skip_progress(None, 10) is None
    assert verification._skip_progress(seen.append, 0) == seen.append


# --- tampering: the parallel call returns exactly the sequential Result -------------------------------------------


def byte_flip(head, seq=500):
    raw = bytearray(_raw(seq))
    raw[raw.index(b'"n":') + 4] ^= 0x01
    _set_record(seq, bytes(raw))


def byte_flip_at_chunk_start(head):
    byte_flip(head, 8 * CHUNK)


def byte_flip_in_last_entry(head):
    byte_flip(head, head.size - 1)


def deleted_row(head):
    _sql("DELETE FROM audit_auditevent WHERE seq = 321")


def deleted_last_row(head):
    _sql("DELETE FROM audit_auditevent WHERE seq = %s", [head.size - 1])


def dropped_tail(head):
    _sql("DELETE FROM audit_auditevent WHERE seq >= %s", [head.size - 300])


def swapped_rows(head, a=600):
    first, second = _raw(a), _raw(a + 1)
    _set_record(a, second)
    _set_record(a + 1, first)


def swapped_rows_across_a_chunk_boundary(head):
    swapped_rows(head, 6 * CHUNK - 1)


def duplicated_row_beyond_head(head):
    _sql(
        "INSERT INTO audit_auditevent (seq, record, leaf_hash, ts, actor_type, actor_id, actor_username, action, "
        "object_type, object_id, request_id) SELECT %s, record, leaf_hash, ts, actor_type, actor_id, actor_username, "
        "action, object_type, object_id, request_id FROM audit_auditevent WHERE seq = 10",
        [head.size],
    )


def forged_row_beyond_head(head):
    forged = {
        **_record(head.size - 1),
        "seq": head.size,
        "action": "test.forged",
        "prev": base64.b64encode(bytes(head.last_leaf)).decode(),
    }
    raw = canonical_json(forged)
    _sql(
        "INSERT INTO audit_auditevent (seq, record, leaf_hash, ts, actor_type, actor_id, actor_username, action, "
        "object_type, object_id, request_id) SELECT %s, %s, %s, ts, actor_type, actor_id, actor_username, "
        "'test.forged', object_type, object_id, request_id FROM audit_auditevent WHERE seq = %s",
        [head.size, raw, hash_leaf(raw), head.size - 1],
    )


def changed_prev(head, seq=400):
    record = _record(seq)
    record["prev"] = base64.b64encode(b"\x07" * 32).decode()
    _set_record(seq, canonical_json(record))


def changed_prev_at_chunk_start(head):
    changed_prev(head, 7 * CHUNK)


def resigned_record_with_its_own_leaf_hash(head, seq=9 * CHUNK + 5):
    """The record and its leaf_hash column changed together: only the next entry's prev tells."""
    record = _record(seq)
    record["data"]["n"] = -1
    raw = canonical_json(record)
    _sql("UPDATE audit_auditevent SET record = %s, leaf_hash = %s WHERE seq = %s", [raw, hash_leaf(raw), seq])


def resigned_record_at_chunk_end(head):
    resigned_record_with_its_own_leaf_hash(head, 10 * CHUNK - 1)


def rewritten_chunk(head):
    """Every entry of one chunk rewritten consistently from its original first prev (records, leaf
    hashes, the chain and the stored subtrees inside the chunk): the chunk checks out on its own,
    only the link to the next chunk is broken."""
    sizes = set(AuditCheckpoint.objects.values_list("size", flat=True))
    k = next(
        k for k in range(2, head.size // CHUNK - 2) if not any(k * CHUNK < size <= (k + 1) * CHUNK for size in sizes)
    )
    start = k * CHUNK
    prev = _record(start)["prev"]
    compact = CompactRange()
    rows, nodes = [], []
    for seq in range(start, start + CHUNK):
        record = _record(seq)
        record["prev"], record["data"]["n"] = prev, -seq
        raw = canonical_json(record)
        leaf = hash_leaf(raw)
        rows.append((raw, leaf, seq))
        nodes += [(digest, node_id(level, (start >> level) + index)) for level, index, digest in compact.append(leaf)]
        prev = base64.b64encode(leaf).decode()
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.executemany("UPDATE audit_auditevent SET record = %s, leaf_hash = %s WHERE seq = %s", rows)
        cursor.executemany("UPDATE audit_audittreenode SET hash = %s WHERE id = %s", nodes)


def non_canonical_bytes(head):
    _set_record(250, json.dumps(_record(250), sort_keys=False, separators=(", ", ": ")).encode())


def tree_node_within_a_chunk(head):
    _sql("UPDATE audit_audittreenode SET hash = %s WHERE id = %s", [b"\x02" * 32, node_id(3, 40)])


def tree_node_at_chunk_level(head):
    _sql("UPDATE audit_audittreenode SET hash = %s WHERE id = %s", [b"\x02" * 32, node_id(7, 5)])


def tree_node_above_chunk_level(head):
    _sql("UPDATE audit_audittreenode SET hash = %s WHERE id = %s", [b"\x02" * 32, node_id(9, 1)])


def tree_node_deleted(head):
    _sql("DELETE FROM audit_audittreenode WHERE id = %s", [node_id(8, 3)])


def derived_column(head):
    _sql("UPDATE audit_auditevent SET action = 'test.other' WHERE seq = 1000")


def leaf_hash_column(head):
    _sql("UPDATE audit_auditevent SET leaf_hash = %s WHERE seq = 1200", [b"\x03" * 32])


def head_last_leaf(head):
    _sql("UPDATE audit_audithead SET last_leaf = %s WHERE id = 1", [b"\x04" * 32])


def head_compact_range(head):
    data = bytearray(head.compact_range)
    data[0] ^= 0x01
    _sql("UPDATE audit_audithead SET compact_range = %s WHERE id = 1", [bytes(data)])


MUTATIONS = [
    byte_flip,
    byte_flip_at_chunk_start,
    byte_flip_in_last_entry,
    deleted_row,
    deleted_last_row,
    dropped_tail,
    swapped_rows,
    swapped_rows_across_a_chunk_boundary,
    duplicated_row_beyond_head,
    forged_row_beyond_head,
    changed_prev,
    changed_prev_at_chunk_start,
    resigned_record_with_its_own_leaf_hash,
    resigned_record_at_chunk_end,
    rewritten_chunk,
    non_canonical_bytes,
    tree_node_within_a_chunk,
    tree_node_at_chunk_level,
    tree_node_above_chunk_level,
    tree_node_deleted,
    derived_column,
    leaf_hash_column,
    head_last_leaf,
    head_compact_range,
]


@transactional
@pytest.mark.parametrize("mutate", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_tampering_gives_the_sequential_report(log, parallel_runs, mutate):
    mutate(log)
    sequential_reported: list[int] = []
    sequential = verify_database(trusted_keys=trusted_keys(), jobs=1, progress=sequential_reported.append)
    assert not sequential.ok, "tampering went unnoticed"
    reported: list[int] = []
    parallel = verify_database(trusted_keys=trusted_keys(), jobs=2, progress=reported.append)
    assert parallel_runs == [None], "the parallel pass noticed the anomaly and fell back"
    assert parallel == sequential, (parallel.line(), sequential.line())
    # entries are reported once: the sequential re-run does not report again what the parallel pass did
    assert sum(reported) <= max(log.size, sum(sequential_reported))


@transactional
def test_a_checkpoint_root_is_checked_without_keys(log, parallel_runs):
    """Without trusted keys the signatures are not checked, only each stored root against the
    tree: a checkpoint inside a chunk whose root was changed."""
    size = next(s for s in sorted(AuditCheckpoint.objects.values_list("size", flat=True)) if s > CHUNK and s % CHUNK)
    _sql("UPDATE audit_auditcheckpoint SET root = %s WHERE size = %s", [b"\x05" * 32, size])
    sequential = verify_database(jobs=1)
    assert not sequential.ok and "checkpoint" in sequential.reason
    assert verify_database(jobs=2) == sequential
    assert parallel_runs == [None]


@transactional
def test_a_worker_error_falls_back_to_the_sequential_pass(log, parallel_runs, monkeypatch):
    def broken(start, end):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(verification, "_fetch_range", broken)  # the forked workers inherit it
    assert verify_database(jobs=2) == verify_database(jobs=1)
    assert parallel_runs == [None]


@transactional
def test_no_worker_processes_falls_back_to_the_sequential_pass(log, parallel_runs, monkeypatch):
    import concurrent.futures

    def refused(*args, **kwargs):
        raise OSError("no processes")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refused)
    result = verify_database(trusted_keys=trusted_keys(), jobs=2)
    assert result.ok and result == verify_database(trusted_keys=trusted_keys(), jobs=1)
    assert parallel_runs == [None]


# --- manage.py audit_verify --jobs ---------------------------------------------------------------------------------


@transactional
def test_audit_verify_command_with_jobs(log, parallel_runs):
    out = io.StringIO()
    call_command("audit_verify", "--no-progress", "--jobs", "2", stdout=out)
    assert out.getvalue().startswith(f"PASS: {log.size} entries")
    assert len(parallel_runs) == 1 and parallel_runs[0] is not None
    assert AuditVerification.objects.latest().ok
    byte_flip(log, 1500)
    with pytest.raises(CommandError, match=r"seq 1500\b"):
        call_command("audit_verify", "--no-progress", "--jobs", "2")
    assert parallel_runs[-1] is None
    run = AuditVerification.objects.latest()
    assert run.ok is False and run.first_bad_seq == 1500
    with pytest.raises(CommandError, match="--jobs"):
        call_command("audit_verify", "--no-progress", "--jobs", "0")


@transactional
@pytest.mark.parametrize("jobs", [1, 2])
def test_appends_committed_during_verification_are_not_reported_as_forged(log, monkeypatch, jobs):
    """The log grows while it is verified: events (and a checkpoint) committed by another
    connection after the head was read are left for the next run, not reported as rows
    written without the head lock."""
    import threading

    from django.db import connections

    def append_elsewhere() -> None:
        try:
            audit_events_append([EventSpec(ACTOR, "test.during", {"type": "item", "id": i}) for i in range(3)])
            checkpoints.checkpoint_create()
        finally:
            connections.close_all()

    size = AuditHead.objects.get().size
    for name in ("_verify_sequential", "_verify_parallel"):
        real = getattr(verification, name)

        def racing(*args, _real=real, **kwargs):  # the head is read; the rows are not yet
            thread = threading.Thread(target=append_elsewhere)
            thread.start()
            thread.join()
            return _real(*args, **kwargs)

        monkeypatch.setattr(verification, name, racing)
    result = verify_database(trusted_keys=trusted_keys(), jobs=jobs)
    assert result.ok, result.line()
    assert result.size == size and AuditHead.objects.get().size > size

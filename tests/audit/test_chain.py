"""Invariants 1-4 on the database we run against (SQLite by default, PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import unicodedata
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from audit.context import Actor
from audit.models import AppendOnlyError, AuditEvent, AuditHead
from audit.services import AuditInputError, audit_event_append
from audit.verification import verify_database
from audit.verifier import check_entry_bytes, hash_leaf
from governance.registry.models import RegisteredModel
from tests.audit.helpers import triggers_disabled
from tests.factories.accounts import ADMIN_ACTOR, person
from tests.factories.registry import registered_model

pytestmark = pytest.mark.django_db


def append(n: int, **details) -> list[AuditEvent]:
    return [
        audit_event_append(
            actor=ADMIN_ACTOR, action="test.event", target={"type": "thing", "id": i}, details={"i": i, **details}
        )
        for i in range(n)
    ]


def test_records_are_canonical_chained_and_hashed():
    start = AuditHead.objects.get()
    prev = bytes(start.last_leaf) if start.size else bytes(32)
    events = append(3, note="Cafe\u0301", amount=1.25)
    head = AuditHead.objects.get()
    for expected_seq, event in enumerate(events, start=start.size):
        raw = bytes(AuditEvent.objects.get(seq=event.seq).record)
        record = check_entry_bytes(raw)  # canonical, schema-valid, NFC
        assert record["seq"] == expected_seq
        assert record["prev"] == base64.b64encode(prev).decode()
        assert record["log"] == head.origin
        assert record["data"]["amount"] == "1.25", "floats are stored as decimal strings"
        assert record["data"]["note"] == unicodedata.normalize("NFC", "Cafe\u0301")
        assert bytes(event.leaf_hash) == hash_leaf(raw)
        prev = hash_leaf(raw)
    assert head.size == start.size + 3 and bytes(head.last_leaf) == prev


def test_an_actor_must_be_named():
    with pytest.raises(ValueError, match="named"):
        Actor(type="user", id="")
    with pytest.raises(ValueError):
        Actor(type="nobody", id="x")


@pytest.mark.parametrize(
    "details, field",
    [
        ({"bad key": 1}, "data.bad key"),
        ({"x": float("nan")}, "data.x"),
        ({"x": object()}, "data.x"),
        ({"rows": [1, {"ok": [2, {"bad key": 3}]}]}, "data.rows[1].ok[1].bad key"),
        ({"nested": {"x": "\ud800"}}, "data.nested.x"),
        ({"when": dt.datetime(2026, 1, 1)}, "data.when"),
    ],
)
def test_bad_details_are_refused_and_nothing_is_written(details, field):
    with pytest.raises(AuditInputError) as info:
        audit_event_append(actor=ADMIN_ACTOR, action="test.event", target={"type": "t", "id": 1}, details=details)
    assert info.value.field == field
    assert AuditEvent.objects.count() == AuditHead.objects.get().size


def test_action_must_be_dotted():
    with pytest.raises(AuditInputError, match="dotted"):
        audit_event_append(actor=ADMIN_ACTOR, action="Create", target={"type": "t", "id": 1})


def test_the_event_commits_only_with_its_change():
    developer = person("developer")
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        registered_model(owner=developer, name="rolled-back")
        raise RuntimeError("a failure after the change")
    assert not RegisteredModel.objects.filter(name="rolled-back").exists()
    assert AuditEvent.objects.count() == before
    assert verify_database().ok


def test_a_failing_audit_append_keeps_the_change_out(monkeypatch):
    import audit.services

    def broken_append(*args, **kwargs):
        raise DatabaseError("audit append failed")

    developer = person("developer")
    monkeypatch.setattr(audit.services, "audit_events_append", broken_append)  # what the unit of work calls
    with pytest.raises(DatabaseError):
        registered_model(owner=developer, name="never-kept")
    assert not RegisteredModel.objects.filter(name="never-kept").exists()


def test_orm_refuses_save_over_and_delete():
    event = append(1)[0]
    stored = AuditEvent.objects.get(seq=event.seq)
    stored.action = "test.tampered"
    with pytest.raises(AppendOnlyError):
        stored.save()
    with pytest.raises(AppendOnlyError):
        stored.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(seq=event.seq).update(action="x.y")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'x.y'",
        "DELETE FROM audit_auditevent",
        "DELETE FROM audit_audithead",
        "UPDATE audit_audithead SET size = 0",
    ],
)
def test_raw_sql_cannot_change_or_remove_audit_rows(sql):
    append(2)
    with pytest.raises((DatabaseError, IntegrityError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 2 + 0 or AuditEvent.objects.count() >= 2
    assert verify_database().ok


def test_postgres_truncate_and_replica_mode_are_refused(postgres_only):
    append(2)
    for sql in ("TRUNCATE audit_auditevent CASCADE", "TRUNCATE audit_audithead CASCADE"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditevent")
    assert verify_database().ok


def _tamper(seq: int, record: bytes) -> None:
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET record = %s WHERE seq = %s", [record, seq])


def test_audit_verify_names_the_first_edited_row():
    events = append(10)
    call_command("audit_verify", "--no-progress")
    target = events[6].seq
    original = bytes(AuditEvent.objects.get(seq=target).record)
    edited = original.replace(b'"i":6', b'"i":7')
    assert edited != original
    _tamper(target, edited)
    with pytest.raises(CommandError, match=rf"seq {target}\b"):
        call_command("audit_verify", "--no-progress")


def test_audit_verify_catches_a_changed_prev_and_a_deleted_row():
    events = append(10)
    from audit.verifier import canonical_json

    record = json.loads(bytes(AuditEvent.objects.get(seq=events[4].seq).record))
    record["prev"] = base64.b64encode(b"\x01" * 32).decode()
    _tamper(events[4].seq, canonical_json(record))
    result = verify_database()
    assert not result.ok and result.first_bad_seq == events[4].seq
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[2].seq])
    result = verify_database()
    assert not result.ok and result.first_bad_seq == events[2].seq


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("log", "other.example/log", "log 'other.example/log' differs from checkpoint origin"),
        ("seq", 999, "found seq 999 (row deleted, moved or duplicated)"),
    ],
)
def test_the_database_check_reports_the_auditors_verifier_messages(field, value, reason):
    """One per-entry check (audit.verifier.check_entry / prev_break) for the bundle and the database."""
    from audit.verifier import EntryError, canonical_json, check_entry

    events = append(5)
    seq = events[3].seq
    record = json.loads(bytes(AuditEvent.objects.get(seq=seq).record))
    origin = record["log"]
    record[field] = value
    _tamper(seq, canonical_json(record))
    result = verify_database()
    assert not result.ok and result.first_bad_seq == seq and reason in result.reason, result.reason
    with pytest.raises(EntryError) as exc:
        check_entry(canonical_json(record), seq, origin)
    assert str(exc.value) == result.reason


def test_audit_verify_catches_a_forged_row_beyond_the_head():
    from audit.verifier import canonical_json

    events = append(3)
    last = events[-1]
    forged = json.loads(bytes(AuditEvent.objects.get(seq=last.seq).record))
    forged.update(seq=last.seq + 1, prev=base64.b64encode(bytes(last.leaf_hash)).decode(), action="test.forged")
    raw = canonical_json(forged)
    with triggers_disabled():
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    seq=last.seq + 1,
                    record=raw,
                    leaf_hash=hash_leaf(raw),
                    ts=last.ts,
                    actor_type="system",
                    actor_id="tests",
                    action="test.forged",
                    object_type="thing",
                    object_id="2",
                    request_id=forged["ctx"]["request_id"],
                )
            ]
        )
    result = verify_database()
    assert not result.ok and result.first_bad_seq == last.seq + 1 and "head" in result.reason


class _Rollback(Exception):
    pass


def _run_writers(writers: int, per_writer: int, rollback_every: int | None) -> int:
    """Each thread appends ``per_writer`` events in their own transactions; every
    ``rollback_every``-th transaction is rolled back after its append. Returns the commits."""
    errors: list[BaseException] = []
    committed = [0] * writers
    barrier = threading.Barrier(writers)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                try:
                    with transaction.atomic():
                        audit_event_append(
                            actor=Actor.system(f"writer-{worker}"),
                            action="test.concurrent",
                            target={"type": "w", "id": worker},
                            details={"i": i},
                        )
                        if rollback_every and (i * 7 + worker) % rollback_every == 0:
                            raise _Rollback
                    committed[worker] += 1
                except _Rollback:
                    pass
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return sum(committed)


def _assert_contiguous_and_valid(expected_new: int) -> None:
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(len(seqs))), "seq must be exactly 0..N-1"
    assert AuditEvent.objects.filter(action="test.concurrent").count() == expected_new
    result = verify_database()
    assert result.ok, result.line()
    from audit import checkpoints

    checkpoint = checkpoints.checkpoint_create()
    from audit.merkle import root_from_leaf_hashes

    leaves = [bytes(h) for h in AuditEvent.objects.order_by("seq").values_list("leaf_hash", flat=True)]
    assert bytes(checkpoint.root) == root_from_leaf_hashes(leaves), "signed root equals a recomputation"


@pytest.mark.django_db(transaction=True)
def test_32_writers_with_random_rollbacks_leave_a_gapless_chain(postgres_only):
    committed = _run_writers(writers=32, per_writer=500, rollback_every=10)
    assert 0.85 * 16000 < committed < 16000
    _assert_contiguous_and_valid(committed)


@pytest.mark.django_db(transaction=True)
def test_threaded_writers_on_sqlite_are_serialized(settings):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip(
            "SQLite's threaded-writer variant; on PostgreSQL "
            "test_32_writers_with_random_rollbacks_leave_a_gapless_chain covers concurrency"
        )
    committed = _run_writers(writers=4, per_writer=25, rollback_every=5)
    _assert_contiguous_and_valid(committed)


KILLED_WRITER = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
django.setup()
from django.db import connection, transaction
from audit.context import Actor
from audit.services import audit_event_append
connection.settings_dict["NAME"] = sys.argv[1]
with transaction.atomic():
    audit_event_append(actor=Actor.system("doomed"), action="test.killed", target={"type": "w", "id": 1})
    print("appended", flush=True)
    os._exit(9)  # killed between INSERT and COMMIT
"""


@pytest.mark.django_db(transaction=True)
def test_a_writer_killed_before_commit_leaves_a_log_that_verifies(postgres_only, tmp_path):
    import os
    import subprocess
    import sys

    from django.db import connection

    before = AuditHead.objects.get().size
    script = tmp_path / "killed_writer.py"
    script.write_text(KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run(
        [sys.executable, str(script), connection.settings_dict["NAME"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 9 and "appended" in result.stdout, result.stderr
    assert AuditHead.objects.get().size == before
    assert not AuditEvent.objects.filter(action="test.killed").exists()
    audit_event_append(actor=Actor.system("survivor"), action="test.after", target={"type": "w", "id": 2})
    assert verify_database().ok


def test_rows_below_the_head_cannot_be_inserted():
    """A row may only extend the log: re-inserting a deleted position is refused by a trigger."""
    events = append(3)
    raw = bytes(AuditEvent.objects.get(seq=events[1].seq).record)
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[1].seq])
    insert = (
        "INSERT INTO audit_auditevent (seq, record, leaf_hash, ts, actor_type, actor_id, actor_username, "
        "action, object_type, object_id, request_id) VALUES (%s, %s, %s, %s, 'system', 'x', '', 'test.event', "
        "'t', '1', 'r')"
    )
    with pytest.raises((DatabaseError, IntegrityError), match="below the head"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert, [events[1].seq, raw, hash_leaf(raw), events[1].ts])

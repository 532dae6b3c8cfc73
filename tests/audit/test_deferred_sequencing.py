"""AUDIT_SEQUENCING=deferred: the event commits with its change as a pending row and the
sequencer gives it its place in the log after the commit (PostgreSQL only)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from audit.checkpoints import checkpoint_create
from audit.context import Actor
from audit.external import external_events_append
from audit.models import AuditEvent, AuditHead, AuditPendingEvent
from audit.services import audit_event_append, audit_pending_sequence
from audit.verification import verify_database
from governance.registry.models import RegisteredModel
from tests.audit.test_chain import _assert_contiguous_and_valid, _run_writers
from tests.factories.accounts import person
from tests.factories.registry import registered_model

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deferred(settings, postgres_only):
    settings.AUDIT_SEQUENCING = "deferred"


def test_the_event_waits_for_the_commit_then_joins_the_log(deferred):
    developer = person("developer")
    audit_pending_sequence()  # the person's own events
    size = AuditHead.objects.get().size
    with transaction.atomic():
        model = registered_model(owner=developer, name="deferred-model")
        pending = AuditPendingEvent.objects.get()
        assert pending.parts["action"] == "registered_model.create"
        assert pending.parts["object"]["id"] == str(model.pk)
        assert AuditHead.objects.get().size == size, "no seq is taken inside the business transaction"
    assert AuditPendingEvent.objects.count() == 1, "committed with the change, waiting for the sequencer"
    assert audit_pending_sequence() == 1
    event = AuditEvent.objects.get(action="registered_model.create", object_id=str(model.pk))
    assert event.seq >= size
    record = event.record_json
    assert {name: record[name] for name in pending.parts} == pending.parts, "the event is the pending one"
    assert event.actor_id == record["actor"]["id"] and event.request_id == record["ctx"]["request_id"]
    assert not AuditPendingEvent.objects.exists()
    assert verify_database().ok


def test_a_rolled_back_change_leaves_no_pending_event(deferred):
    developer = person("developer")
    audit_pending_sequence()
    events = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        registered_model(owner=developer, name="rolled-back")
        assert AuditPendingEvent.objects.count() == 1
        raise RuntimeError("a failure after the change")
    assert not RegisteredModel.objects.filter(name="rolled-back").exists()
    assert not AuditPendingEvent.objects.exists()
    assert AuditEvent.objects.count() == events
    assert verify_database().ok


def test_an_unaudited_change_to_a_governed_table_is_still_refused(deferred):
    model = registered_model(owner=person("developer"), name="guarded")
    with pytest.raises(DatabaseError, match="unaudited change"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE registry_registeredmodel SET purpose = 'sneaky' WHERE id = %s", [model.pk])


def test_16_writers_and_two_sequencers_leave_a_gapless_chain(deferred):
    """Writers commit pending events while two sequencers race for them: every committed event
    is sequenced exactly once, in a gapless chain that verifies."""
    stop = threading.Event()
    sequenced: list[int] = []
    errors: list[BaseException] = []

    def sequencer() -> None:
        total = 0
        try:
            while not stop.is_set():
                total += audit_pending_sequence()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            sequenced.append(total)
            connections.close_all()

    threads = [threading.Thread(target=sequencer) for _ in range(2)]
    for thread in threads:
        thread.start()
    committed = _run_writers(writers=16, per_writer=150, rollback_every=10)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    leftover = audit_pending_sequence()
    assert sum(sequenced) + leftover == committed, "each committed event sequenced exactly once"
    assert not AuditPendingEvent.objects.exists()
    _assert_contiguous_and_valid(committed)


def test_pending_events_are_sequenced_before_the_next_checkpoint(deferred):
    """Without a sequencer process, the periodic checkpoint task (every checkpoint) drains them."""
    size = AuditHead.objects.get().size
    for i in range(3):
        audit_event_append(
            actor=Actor.system("dies-after-commit"), action="test.orphaned", target={"type": "w", "id": i}
        )
    assert AuditPendingEvent.objects.count() == 3 and AuditHead.objects.get().size == size
    checkpoint = checkpoint_create()
    assert checkpoint.size == size + 3
    assert list(
        AuditEvent.objects.filter(action="test.orphaned").order_by("seq").values_list("object_id", flat=True)
    ) == ["0", "1", "2"], "sequenced in commit order"
    assert not AuditPendingEvent.objects.exists()
    assert audit_pending_sequence() == 0
    assert verify_database().ok


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditpendingevent SET fields = ''",
        "DELETE FROM audit_auditpendingevent",
        "TRUNCATE audit_auditpendingevent",
    ],
)
def test_pending_events_cannot_be_changed_or_dropped(deferred, sql):
    audit_event_append(actor=Actor.system("tests"), action="test.pending", target={"type": "w", "id": 1})
    with pytest.raises(DatabaseError, match="refused"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditPendingEvent.objects.count() == 1
    assert audit_pending_sequence() == 1


def test_the_batch_api_path_stays_inline_and_returns_its_seq_range(deferred):
    actor = Actor(type="service", id="pipeline", username="pipeline", auth="token")
    with transaction.atomic():
        summary = external_events_append(
            actor=actor,
            events=[{"action": "pipeline.batch_scored", "target": {"type": "batch", "id": str(i)}} for i in range(3)],
        )
    assert summary["count"] == 3 and summary["last_seq"] == summary["first_seq"] + 2
    seqs = AuditEvent.objects.filter(action="external.pipeline.batch_scored").values_list("seq", flat=True)
    assert sorted(seqs) == list(range(summary["first_seq"], summary["last_seq"] + 1))


def test_the_sequencer_command_drains_pending_events(deferred, capsys):
    for i in range(2):
        audit_event_append(actor=Actor.system("tests"), action="test.pending", target={"type": "w", "id": i})
    call_command("audit_sequencer", "--once")
    assert "sequenced 2 pending event(s)" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="test.pending").count() == 2


@pytest.mark.django_db(transaction=False)
def test_the_sequencer_command_explains_that_sqlite_needs_none():
    if connection.vendor != "sqlite":
        pytest.skip(
            "checks the refusal on SQLite; on PostgreSQL the command runs "
            "(test_the_sequencer_command_drains_pending_events)"
        )
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("audit_sequencer", "--once")


@pytest.mark.django_db(transaction=False)
def test_deferred_sequencing_refuses_to_start_on_sqlite():
    env = {
        **os.environ,
        "AUDIT_SEQUENCING": "deferred",
        "DATABASE_URL": "sqlite:///var/never.sqlite3",
        "DJANGO_SETTINGS_MODULE": "governance.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "AUDIT_SEQUENCING=deferred needs PostgreSQL" in result.stderr
    env["AUDIT_SEQUENCING"] = "sometimes"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "must be inline or deferred" in result.stderr


def test_the_admin_shows_events_awaiting_sequencing(deferred, client):
    client.force_login(person(is_superuser=True))
    audit_pending_sequence()
    audit_event_append(actor=Actor.system("tests"), action="test.pending", target={"type": "w", "id": 1})
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert "1 event committed and awaiting sequencing" in page
    assert "test.pending" in client.get("/admin/audit/auditpendingevent/").content.decode()
    audit_pending_sequence()
    assert "committed and awaiting sequencing" not in client.get("/admin/audit/auditevent/").content.decode()


def test_audit_verify_mentions_events_awaiting_sequencing(deferred, capsys):
    audit_event_append(actor=Actor.system("tests"), action="test.pending", target={"type": "w", "id": 1})
    call_command("audit_verify", "--no-progress", "--jobs", "1")
    out = capsys.readouterr().out
    assert out.startswith("PASS") and "1 committed event(s) are awaiting sequencing" in out


@pytest.mark.django_db(transaction=False)
def test_an_unknown_sequencing_mode_is_refused_before_anything_is_written():
    from audit.services import EventSpec, audit_events_append

    size = AuditHead.objects.get().size
    with pytest.raises(ValueError, match="inline or deferred"):
        audit_events_append(
            [EventSpec(Actor.system("tests"), "test.event", {"type": "w", "id": 1})], sequencing="later"
        )
    assert AuditHead.objects.get().size == size


def test_healthz_counts_events_awaiting_sequencing(deferred, client):
    audit_pending_sequence()
    audit_event_append(actor=Actor.system("tests"), action="test.pending", target={"type": "w", "id": 1})
    assert client.get("/healthz").json()["database"]["audit_pending"] == 1

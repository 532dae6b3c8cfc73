"""Defect 1 of issue 10: the governed-data guard on PostgreSQL rests on nothing a client can forge.

A role with only the grants the application needs (``audit.triggers.app_role_grants``) tries
every way around the guard it has: the session settings the old guard trusted, a temporary
table shadowing the mark table, writing the mark table, disabling triggers, replication mode,
deleting or rewriting audit rows, deleting pending events with or without appending something
else. None commits. The same role then runs the service's own write path, which commits.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from audit.models import AuditEvent, AuditHead, AuditPendingEvent
from audit.services import audit_pending_sequence
from audit.triggers import app_role_grants
from tests.factories.accounts import ADMIN, as_user
from tests.factories.registry import model_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app_role(postgres_only):
    """A login role holding only the application's grants on the test database."""
    settings = connection.settings_dict
    role = f"{settings['NAME']}_app"[:63]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if not cursor.fetchone():
            cursor.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        for statement in app_role_grants(role):
            cursor.execute(statement)
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


def _connect(role: str) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, dbname=s["NAME"], user=role, autocommit=False
    )


def _refused(role: str, *statements: str) -> str:
    """Run ``statements`` in one transaction as ``role`` and commit; return the refusal."""
    with _connect(role) as conn:
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            return str(exc)
    raise AssertionError(f"committed: {statements}")


def _governed_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%%\\_audited'")
        return sorted(row[0] for row in cursor.fetchall())


def _populate():
    """A version under review with evidence, an approval and a token: most governed tables hold rows."""
    from governance.accounts.services import api_token_issue
    from tests.factories import workflow
    from tests.factories.accounts import person

    version = model_version()
    workflow.good_evidence(version)
    req = workflow.request(version, version.registered_by)
    workflow.approve(req, person("validator"))
    api_token_issue(by=ADMIN, user=version.registered_by)
    return version


def test_app_role_cannot_commit_an_unaudited_change_to_any_governed_table(app_role):
    version = _populate()
    tables = _governed_tables()
    checked = []
    forge = [
        "SELECT set_config('mlgov.audited_xact', txid_current()::text, true)",
        "SELECT set_config('mlgov.sequenced_xact', txid_current()::text, true)",
    ]
    for table in tables:
        # every governed table refuses a forged mark, for an update of a column its trigger watches
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.attname FROM pg_trigger t JOIN pg_attribute a ON a.attrelid = t.tgrelid "
                "AND (a.attnum = ANY(t.tgattr) OR (cardinality(t.tgattr) = 0 AND a.attnum = 1)) "
                "WHERE t.tgrelid = %s::regclass AND t.tgname LIKE '%%\\_audited' ORDER BY a.attnum LIMIT 1",
                [table],
            )
            column = cursor.fetchone()[0]
        change = f"UPDATE {table} SET {column} = {column}"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            if not cursor.fetchone()[0]:
                continue  # nothing to change (an insert is refused the same way: same trigger, same check)
        message = _refused(app_role, *forge, change)
        assert "unaudited change" in message, (table, message)
        checked.append(table)
    assert {"registry_modelversion", "workflow_approval", "workflow_promotionrequest", "accounts_user"} <= set(
        checked
    ), checked

    version_id = version.pk
    version.refresh_from_db()
    stage = version.stage
    before = AuditEvent.objects.count()
    # a temporary table standing in for the mark table
    message = _refused(
        app_role,
        "CREATE TEMP TABLE audit_xactmark (xact bigint, first_seq bigint, consumed boolean)",
        "INSERT INTO audit_xactmark VALUES (txid_current(), 0, false)",
        f"UPDATE registry_modelversion SET stage = 'production' WHERE id = {version_id}",
    )
    assert "unaudited change" in message
    # the mark table itself
    assert "permission denied" in _refused(app_role, "INSERT INTO public.audit_xactmark (xact) VALUES (txid_current())")
    # switching the triggers off
    assert "must be owner" in _refused(app_role, "ALTER TABLE registry_modelversion DISABLE TRIGGER ALL")
    assert "permission denied" in _refused(app_role, "SET session_replication_role = replica")
    assert "must be owner" in _refused(app_role, "DROP TRIGGER registry_modelversion_audited ON registry_modelversion")
    replaced = _refused(
        app_role, "CREATE OR REPLACE FUNCTION audit_require_event() RETURNS trigger LANGUAGE sql AS 'SELECT NULL'"
    )
    assert "must be owner" in replaced or "permission denied" in replaced
    version.refresh_from_db()
    assert version.stage == stage and AuditEvent.objects.count() == before


def test_app_role_cannot_remove_pending_or_sequenced_events(app_role, settings):
    settings.AUDIT_SEQUENCING = "deferred"
    from governance.registry.services import registered_model_update

    model = model_version().model
    registered_model_update(by=as_user(model.owner), model=model, data={"purpose": "Pending."})
    pending = list(AuditPendingEvent.objects.values_list("id", flat=True))
    assert pending
    first = AuditEvent.objects.order_by("seq").first()
    forge = "SELECT set_config('mlgov.sequenced_xact', txid_current()::text, true)"
    for statement in (
        f"DELETE FROM audit_auditpendingevent WHERE id = {pending[0]}",
        "UPDATE audit_auditpendingevent SET fields = fields",
        "TRUNCATE audit_auditpendingevent",
        f"DELETE FROM audit_auditevent WHERE seq = {first.seq}",
        f"UPDATE audit_auditevent SET action = 'x.y' WHERE seq = {first.seq}",
        "TRUNCATE audit_auditevent",
        "UPDATE audit_audithead SET size = size - 1",
    ):
        _refused(app_role, forge, statement)
    # appending some other (well-formed) event to the log does not license removing a pending one
    head = AuditHead.objects.get()
    _refused(
        app_role,
        "INSERT INTO audit_auditpendingevent (fields) VALUES "
        """('"x.y"' || E'\\n' || '{"id":"1","type":"user"}' || E'\\n' || '{"request_id":"r"}' """
        """|| E'\\n' || '{}' || E'\\n' || '{"id":"1","type":"t"}')""",
        f"DELETE FROM audit_auditpendingevent WHERE id = {pending[0]}",
    )
    # a malformed pending event (which would stall the sequencer) is not accepted as an audit record
    assert "json" in _refused(app_role, "INSERT INTO audit_auditpendingevent (fields) VALUES ('nonsense')")
    assert "malformed" in _refused(
        app_role, """INSERT INTO audit_auditpendingevent (fields) VALUES ('1' || E'\\n{}\\n{}\\n{}\\n{}')"""
    )
    assert AuditHead.objects.get().size == head.size
    assert sorted(AuditPendingEvent.objects.values_list("id", flat=True)) == sorted(pending)


def test_the_app_role_runs_the_service_write_path(app_role, settings):
    """The legitimate path works under the restricted role: an audited change and the sequencer."""
    model = model_version().model
    settings.AUDIT_SEQUENCING = "deferred"
    from governance.registry.services import registered_model_update

    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {app_role}")
    try:
        registered_model_update(by=as_user(model.owner), model=model, data={"purpose": "As the app."})
        assert AuditPendingEvent.objects.count() >= 1
        size = AuditHead.objects.get().size
        assert audit_pending_sequence() >= 1
        assert AuditPendingEvent.objects.count() == 0 and AuditHead.objects.get().size > size
        settings.AUDIT_SEQUENCING = "inline"
        registered_model_update(by=as_user(model.owner), model=model, data={"purpose": "Inline."})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    model.refresh_from_db()
    assert model.purpose == "Inline."
    from audit.verification import verify_database

    assert verify_database().ok

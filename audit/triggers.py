"""Database triggers that make the log append-only (invariant 2) and guard governed tables.

PostgreSQL: BEFORE UPDATE/DELETE row triggers and a BEFORE TRUNCATE statement trigger on the
log tables, marked ENABLE ALWAYS so ``session_replication_role = replica`` does not silence
them. SQLite: BEFORE UPDATE and BEFORE DELETE triggers (SQLite has no TRUNCATE; a DELETE
without WHERE still fires row triggers on a table that has them). On both, the head row may
only grow: its size never decreases and must match the rows written.

Which transactions wrote audit events (PostgreSQL) is recorded in ``audit_xactmark``, a table
the application's database role holds no privilege on: only the trigger functions below, which
are SECURITY DEFINER functions owned by the role that ran the migrations, write it. A client can
therefore not claim that its transaction was audited (a session setting could be forged with
``set_config``; a row in a table it cannot write cannot). Every function pins its
``search_path`` (the migration's schema, then ``pg_temp`` last) so a temporary table cannot stand
in for a real one. The threat model is in docs/architecture.md ("Who can change what").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.apps.registry import Apps
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations import RunPython

MARK_TABLE = "audit_xactmark"

APPEND_ONLY_TABLES = ("audit_auditevent", "audit_audittreenode", "audit_auditcheckpoint")

# {schema} is the schema the migrations run in (``current_schema()``), quoted.
PG_FUNCTIONS = """
CREATE TABLE IF NOT EXISTS audit_xactmark (
  xact bigint PRIMARY KEY,      -- txid_current() of a transaction that wrote audit events
  first_seq bigint,             -- the head size before its first append (NULL: pending events only)
  consumed boolean NOT NULL DEFAULT false  -- its appended events already justified a pending delete
);
REVOKE ALL ON audit_xactmark FROM PUBLIC;

CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = {schema}, pg_temp AS $$
BEGIN
  IF TG_OP <> 'UPDATE' THEN
    RAISE EXCEPTION 'audit head: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.origin <> OLD.origin OR NEW.size < OLD.size THEN
    RAISE EXCEPTION 'audit head may only grow' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.size > OLD.size AND (
       NOT EXISTS (SELECT 1 FROM audit_auditevent WHERE seq = NEW.size - 1)
       OR EXISTS (SELECT 1 FROM audit_auditevent WHERE seq = NEW.size)) THEN
    RAISE EXCEPTION 'audit head size % does not match the rows written', NEW.size
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.size > OLD.size THEN
    -- This transaction appended events [first_seq, NEW.size): governed tables check the mark at
    -- commit, and the pending events it sequenced may be removed. Marks of transactions that
    -- have ended are dropped here (the head lock serialises this).
    DELETE FROM audit_xactmark WHERE xact < txid_snapshot_xmin(txid_current_snapshot());
    INSERT INTO audit_xactmark (xact, first_seq) VALUES (txid_current(), OLD.size)
      ON CONFLICT (xact) DO UPDATE SET first_seq = COALESCE(audit_xactmark.first_seq, EXCLUDED.first_seq);
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION audit_require_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = {schema}, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_xactmark WHERE xact = txid_current()) THEN
    RAISE EXCEPTION 'unaudited change to %: governed data changes only through a service that appends '
      'an audit event in the same transaction', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;

-- The event a pending row holds, as the log's record will hold it (without its position).
CREATE OR REPLACE FUNCTION audit_pending_body(fields text) RETURNS jsonb LANGUAGE sql IMMUTABLE
SET search_path = {schema}, pg_temp AS $$
  SELECT jsonb_build_object(
    'action', split_part(fields, E'\\n', 1)::jsonb, 'actor', split_part(fields, E'\\n', 2)::jsonb,
    'ctx', split_part(fields, E'\\n', 3)::jsonb, 'data', split_part(fields, E'\\n', 4)::jsonb,
    'object', split_part(fields, E'\\n', 5)::jsonb)
  || CASE WHEN split_part(fields, E'\\n', 6) = '' THEN '{{}}'::jsonb
          ELSE jsonb_build_object('reason', split_part(fields, E'\\n', 6)::jsonb) END
$$;

CREATE OR REPLACE FUNCTION audit_pending_mark() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = {schema}, pg_temp AS $$
BEGIN
  -- An event awaiting sequencing audits its transaction's changes just as an appended one does,
  -- provided the sequencer can read it: refuse rows it could not turn into a log entry.
  IF EXISTS (SELECT 1 FROM (SELECT audit_pending_body(fields) AS b FROM new_pending) p
             WHERE jsonb_typeof(b->'action') <> 'string' OR NOT (b->'actor' ?& array['type', 'id'])
                OR NOT (b->'object' ?& array['type', 'id']) OR NOT (b->'ctx' ? 'request_id')) THEN
    RAISE EXCEPTION 'audit events awaiting sequencing: malformed event refused'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO audit_xactmark (xact) VALUES (txid_current()) ON CONFLICT (xact) DO NOTHING;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION audit_pending_guard() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = {schema}, pg_temp AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (
       SELECT 1 FROM audit_xactmark WHERE xact = txid_current() AND first_seq IS NOT NULL AND NOT consumed) THEN
    RETURN OLD;  -- checked again, event by event, once the statement is done (audit_pending_removed)
  END IF;
  RAISE EXCEPTION 'audit events awaiting sequencing: % refused (only the sequencer removes them, '
    'in the transaction that appends them to the log)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION audit_pending_removed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = {schema}, pg_temp AS $$
DECLARE
  mark audit_xactmark%ROWTYPE;
  head_size bigint;
BEGIN
  -- Every removed pending event must be in the log, appended by this transaction: as many
  -- events with the same content as rows removed with it. One removal per transaction.
  SELECT * INTO mark FROM audit_xactmark WHERE xact = txid_current();
  IF mark.first_seq IS NULL OR mark.consumed THEN
    RAISE EXCEPTION 'audit events awaiting sequencing: DELETE refused (no events appended for them)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT size INTO head_size FROM audit_audithead WHERE id = 1;
  IF EXISTS (
    SELECT 1
    FROM (SELECT audit_pending_body(fields) AS body, count(*) AS n FROM removed_pending GROUP BY 1) r
    LEFT JOIN (
      SELECT convert_from(record, 'UTF8')::jsonb - '{{seq,prev,ts,v,log}}'::text[] AS body, count(*) AS n
      FROM audit_auditevent WHERE seq >= mark.first_seq AND seq < head_size GROUP BY 1
    ) a ON a.body = r.body
    WHERE a.n IS NULL OR a.n < r.n) THEN
    RAISE EXCEPTION 'audit events awaiting sequencing: DELETE refused (an event removed is not in the log)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  UPDATE audit_xactmark SET consumed = true WHERE xact = txid_current();
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION audit_event_insert_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
BEGIN
  -- once per statement (a batch of 10,000 events is one COPY), over the rows it inserted
  IF EXISTS (SELECT 1 FROM inserted_events WHERE seq < (SELECT size FROM audit_audithead WHERE id = 1)) THEN
    RAISE EXCEPTION 'audit events below the head were inserted' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;
"""


def pg_functions(connection: BaseDatabaseWrapper) -> str:
    """The functions above for the schema ``connection`` migrates."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        row = cursor.fetchone()
    if row is None:  # pragma: no cover - SELECT of a value always returns one row
        raise RuntimeError("current_schema() returned no row")
    schema = row[0]
    return PG_FUNCTIONS.format(schema=schema)


def pg_statements() -> list[str]:
    """Triggers of the log tables (the functions come from ``pg_functions``)."""
    statements = []
    for table in APPEND_ONLY_TABLES:
        statements += [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_reject_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
        ]
    statements += [
        "CREATE TRIGGER audit_audithead_guard BEFORE UPDATE OR DELETE ON audit_audithead "
        "FOR EACH ROW EXECUTE FUNCTION audit_head_guard()",
        "CREATE TRIGGER audit_audithead_no_truncate BEFORE TRUNCATE ON audit_audithead "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
        "ALTER TABLE audit_audithead ENABLE ALWAYS TRIGGER audit_audithead_guard",
        "ALTER TABLE audit_audithead ENABLE ALWAYS TRIGGER audit_audithead_no_truncate",
        "CREATE TRIGGER audit_auditevent_insert_guard AFTER INSERT ON audit_auditevent "
        "REFERENCING NEW TABLE AS inserted_events FOR EACH STATEMENT EXECUTE FUNCTION audit_event_insert_guard()",
        "ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_auditevent_insert_guard",
    ]
    return statements


PENDING_TABLE = "audit_auditpendingevent"


def pending_pg_statements() -> list[str]:
    """Triggers of the table of events awaiting sequencing (migration 0003)."""
    t = PENDING_TABLE
    return [
        f"CREATE TRIGGER {t}_mark AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_pending "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_mark()",
        f"CREATE TRIGGER {t}_guard BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION audit_pending_guard()",
        f"CREATE TRIGGER {t}_removed AFTER DELETE ON {t} REFERENCING OLD TABLE AS removed_pending "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_removed()",
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
        f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_mark",
        f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_guard",
        f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_removed",
        f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_no_truncate",
    ]


def pending_sqlite_statements() -> list[str]:
    """SQLite does not sequence after commit (one writer at a time anyway): the table stays empty."""
    return [
        f"CREATE TRIGGER {PENDING_TABLE}_no_{op.lower()} BEFORE {op} ON {PENDING_TABLE} "
        f"BEGIN SELECT RAISE(ABORT, 'audit events awaiting sequencing: {op} refused'); END"
        for op in ("INSERT", "UPDATE", "DELETE")
    ]


def governed_pg_statements(table: str, update_columns: tuple[str, ...] | None = None) -> list[str]:
    """A deferred constraint trigger: a transaction that changes ``table`` must also append an
    audit event, or its COMMIT fails. ``update_columns`` limits UPDATE checks to those columns
    (bookkeeping columns such as a token's last-used time stay free)."""
    update = f"UPDATE OF {', '.join(update_columns)}" if update_columns else "UPDATE"
    name = f"{table}_audited"
    return [
        f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT OR {update} OR DELETE ON {table} "
        f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_require_event()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}",
    ]


def sqlite_statements() -> list[str]:
    statements = []
    for table in APPEND_ONLY_TABLES:
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit log is append-only: {op} on {table} refused'); END"
            )
    statements += [
        "CREATE TRIGGER audit_audithead_no_delete BEFORE DELETE ON audit_audithead "
        "BEGIN SELECT RAISE(ABORT, 'audit head: DELETE refused'); END",
        "CREATE TRIGGER audit_audithead_guard BEFORE UPDATE ON audit_audithead "
        "WHEN NEW.origin <> OLD.origin OR NEW.size < OLD.size OR (NEW.size > OLD.size AND ("
        "NOT EXISTS (SELECT 1 FROM audit_auditevent WHERE seq = NEW.size - 1) "
        "OR EXISTS (SELECT 1 FROM audit_auditevent WHERE seq = NEW.size))) "
        "BEGIN SELECT RAISE(ABORT, 'audit head may only grow with the rows written'); END",
        "CREATE TRIGGER audit_auditevent_insert_guard BEFORE INSERT ON audit_auditevent "
        "WHEN NEW.seq < (SELECT size FROM audit_audithead WHERE id = 1) "
        "BEGIN SELECT RAISE(ABORT, 'audit event seq is below the head'); END",
    ]
    return statements


def govern(table: str, update_columns: tuple[str, ...] | None = None) -> RunPython:
    """A migration operation that puts ``table`` under the audit guard (PostgreSQL).

    SQLite has no deferred triggers; there the ORM-level refusals of ``audit.guard`` apply.
    """
    from django.db import migrations

    def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for statement in governed_pg_statements(table, update_columns):
                cursor.execute(statement)

    def backwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_audited ON {table}")

    return migrations.RunPython(forwards, backwards)


def install(schema_editor: BaseDatabaseSchemaEditor, *, pending: bool = False) -> None:
    """Install the log's triggers (migration 0002), or those of the pending table (0003)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # CREATE OR REPLACE: the current functions, whichever migration installs them
        statements = [pg_functions(schema_editor.connection)]
        statements += pending_pg_statements() if pending else pg_statements()
    elif vendor == "sqlite":
        statements = pending_sqlite_statements() if pending else sqlite_statements()
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database for the audit log: {vendor}")
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)  # no params: the PL/pgSQL bodies contain literal '%' placeholders


def upgrade_guard(schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Migration 0004: replace the functions of databases whose guard trusted session settings
    (``mlgov.audited_xact`` / ``mlgov.sequenced_xact``, which any client can set) by the mark
    table, and give the pending table its checked triggers."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    t = PENDING_TABLE
    with connection.cursor() as cursor:
        cursor.execute(pg_functions(connection))
        for name in ("mark", "guard", "removed"):
            cursor.execute(f"DROP TRIGGER IF EXISTS {t}_{name} ON {t}")
        for statement in pending_pg_statements():
            if "_no_truncate" not in statement:
                cursor.execute(statement)


def app_role_grants(role: str, schema: str = "public") -> list[str]:
    """What the application's database role needs, and no more (docs/operations.md).

    Data manipulation on the tables, the sequences, and nothing on the mark table. It owns
    nothing, so it cannot drop, disable or replace a trigger or a function; TRUNCATE, TRIGGER
    and REFERENCES are not granted.
    """
    return [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"REVOKE ALL ON {MARK_TABLE} FROM {role}",
        f"REVOKE UPDATE, DELETE ON {', '.join(APPEND_ONLY_TABLES)} FROM {role}",
    ]

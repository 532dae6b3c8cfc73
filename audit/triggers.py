"""Database triggers that make the log append-only (invariant 2).

PostgreSQL: BEFORE UPDATE/DELETE row triggers and a BEFORE TRUNCATE statement trigger on the
log tables, marked ENABLE ALWAYS so ``session_replication_role = replica`` does not silence
them. SQLite: BEFORE UPDATE and BEFORE DELETE triggers (SQLite has no TRUNCATE; a DELETE
without WHERE still fires row triggers on a table that has them). On both, the head row may
only grow: its size never decreases and must match the rows written.
"""

APPEND_ONLY_TABLES = ("audit_auditevent", "audit_audittreenode", "audit_auditcheckpoint")

PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
    -- Mark this transaction as audited; governed tables check the mark at commit. Only a
    -- transaction that advanced the head may remove the pending events it sequenced.
    PERFORM set_config('mlgov.audited_xact', txid_current()::text, true);
    PERFORM set_config('mlgov.sequenced_xact', txid_current()::text, true);
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION audit_require_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('mlgov.audited_xact', true) IS DISTINCT FROM txid_current()::text THEN
    RAISE EXCEPTION 'unaudited change to %: governed data changes only through a service that appends '
      'an audit event in the same transaction', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION audit_pending_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- an event awaiting sequencing audits its transaction's changes just as an appended one does
  PERFORM set_config('mlgov.audited_xact', txid_current()::text, true);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION audit_pending_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('mlgov.sequenced_xact', true) = txid_current()::text THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit events awaiting sequencing: % refused (only the sequencer removes them, '
    'in the transaction that appends them to the log)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION audit_event_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- once per statement (a batch of 10,000 events is one COPY), over the rows it inserted
  IF EXISTS (SELECT 1 FROM inserted_events WHERE seq < (SELECT size FROM audit_audithead WHERE id = 1)) THEN
    RAISE EXCEPTION 'audit events below the head were inserted' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;
"""


def pg_statements() -> list[str]:
    statements = [PG_FUNCTIONS]
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
        PG_FUNCTIONS,  # CREATE OR REPLACE: also brings the head guard of older databases up to date
        f"CREATE TRIGGER {t}_mark AFTER INSERT ON {t} FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_mark()",
        f"CREATE TRIGGER {t}_guard BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION audit_pending_guard()",
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()",
        f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_mark",
        f"ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_guard",
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


def govern(table: str, update_columns: tuple[str, ...] | None = None):
    """A migration operation that puts ``table`` under the audit guard (PostgreSQL).

    SQLite has no deferred triggers; there the ORM-level refusals of ``audit.guard`` apply.
    """
    from django.db import migrations

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for statement in governed_pg_statements(table, update_columns):
                cursor.execute(statement)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_audited ON {table}")

    return migrations.RunPython(forwards, backwards)


def install(schema_editor, *, pending: bool = False) -> None:
    """Install the log's triggers (migration 0002), or those of the pending table (0003)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = pending_pg_statements() if pending else pg_statements()
    elif vendor == "sqlite":
        statements = pending_sqlite_statements() if pending else sqlite_statements()
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database for the audit log: {vendor}")
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)  # no params: the PL/pgSQL bodies contain literal '%' placeholders

"""Test-only helpers that reach under the append-only guards, the way an attacker with the
database would, to show that verification catches what the triggers did not stop."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection

from audit.triggers import APPEND_ONLY_TABLES, pg_statements, sqlite_statements


@contextmanager
def triggers_disabled():
    disable_triggers()
    try:
        yield
    finally:
        reinstall_triggers()


def triggers_present() -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_auditevent_no_change' "
                           "AND tgenabled = 'A'")
        else:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                           "AND name = 'audit_auditevent_no_update'")
        return cursor.fetchone()[0] > 0


def reinstall_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in pg_statements():
                if statement.startswith("ALTER TABLE"):
                    cursor.execute(statement)
        else:
            for statement in sqlite_statements():
                cursor.execute(statement.replace("CREATE TRIGGER ", "CREATE TRIGGER IF NOT EXISTS ", 1))


def disable_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (*APPEND_ONLY_TABLES, "audit_audithead"):
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'")
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER {name}")

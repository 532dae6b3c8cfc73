"""Test-only helpers that reach under the append-only guards, the way an attacker with the
database would, to show that verification catches what the triggers did not stop."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection

from audit.triggers import (
    APPEND_ONLY_TABLES,
    PENDING_TABLE,
    pending_pg_statements,
    pending_sqlite_statements,
    pg_statements,
    sqlite_statements,
)


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
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_auditevent_no_change' AND tgenabled = 'A'"
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_auditevent_no_update'"
            )
        return cursor.fetchone()[0] > 0


def reinstall_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in pg_statements() + pending_pg_statements():
                if statement.startswith("ALTER TABLE"):
                    cursor.execute(statement)
            for table in _governed_tables(cursor):
                cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_audited")
        else:
            for statement in sqlite_statements() + pending_sqlite_statements():
                cursor.execute(statement.replace("CREATE TRIGGER ", "CREATE TRIGGER IF NOT EXISTS ", 1))


def _governed_tables(cursor) -> list[str]:
    cursor.execute("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%%_audited'")
    return [row[0] for row in cursor.fetchall()]


def disable_triggers(*, governed: bool = False) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = [*APPEND_ONLY_TABLES, "audit_audithead", PENDING_TABLE]
            tables += _governed_tables(cursor) if governed else []
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'")
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP TRIGGER {name}")


def ensure_head() -> None:
    """After a flush the head row is gone; a fresh log starts (as a new database would)."""
    import uuid

    from audit.models import AuditHead

    if not AuditHead.objects.filter(pk=1).exists():
        AuditHead.objects.create(
            pk=1, origin=f"tests/mlgov-audit/{uuid.uuid4()}", size=0, last_leaf=bytes(32), compact_range=b""
        )


# Data migrations that create reference data (roles, default policies). Transactional tests
# flush every table; these idempotent functions put the reference data back afterwards.
REFERENCE_DATA = (
    ("governance.accounts.migrations.0002_roles", "create_roles"),
    ("governance.workflow.migrations.0002_default_policies", "seed"),
    ("governance.evaluations.migrations.0003_role_permissions", "grant"),
    ("governance.reports.migrations.0003_role_permissions", "grant"),
    ("governance.integrations.mlflow.migrations.0002_governed_and_roles", "grant"),
)


def restore_reference_data() -> None:
    import importlib

    from django.apps import apps as global_apps
    from django.db import transaction

    for module_name, function in REFERENCE_DATA:
        with transaction.atomic():  # as in the migration: the data and its audit events commit together
            getattr(importlib.import_module(module_name), function)(global_apps, None)


def raw_write(sql: str, params: list | None = None) -> None:
    """A raw write to a governed table as a database owner would make it, with the guard triggers lifted."""
    disable_triggers(governed=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params or [])
    finally:
        reinstall_triggers()

"""Every governed table has a state replayer (issue 10: ``audit_verify --state`` names a raw edit of
each governed table). A model whose manager is governed (``audit.guard``, the ORM-level guard), and on
PostgreSQL a table carrying the guard's trigger (``audit.triggers.govern``), must be compared by a
replayer in a ``state.py`` module, or this test names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection

from audit.guard import GovernedQuerySet

ROOT = Path(__file__).resolve().parents[2]


def _compared_by_replayers() -> str:
    return "\n".join(path.read_text() for path in ROOT.joinpath("governance").rglob("state.py"))


def _missing(tables: set[str]) -> list[str]:
    replayers = _compared_by_replayers()
    return sorted(table for table in tables if f'"{table}"' not in replayers)


def test_every_model_under_the_orm_guard_is_compared_by_a_replayer():
    governed = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if isinstance(model._default_manager.get_queryset(), GovernedQuerySet)
    }
    assert "workflow_approval" in governed and "accounts_user" in governed
    assert _missing(governed) == []


@pytest.mark.django_db
def test_every_table_under_the_database_guard_is_compared_by_a_replayer():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL-only behaviour (the guard triggers); covered by the PostgreSQL pass of .ci/run")
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%%\\_audited'")
        guarded = {row[0] for row in cursor.fetchall()}
    assert "accounts_user_groups" in guarded
    assert _missing(guarded) == []

"""Defect 2 of issue 10: ``audit_verify --state`` replays the log and names the first table, row and
field that a raw edit behind the services changed (on SQLite and on PostgreSQL, where a database
owner can lift the guard triggers)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.state import verify_state
from tests.audit.helpers import disable_triggers, reinstall_triggers
from tests.factories import workflow
from tests.factories.accounts import as_user, person
from tests.factories.registry import model_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def history(developer):
    """Models and versions created, updated and promoted through the services."""
    from governance.registry.services import registered_model_update

    version = model_version(user=developer)
    registered_model_update(by=as_user(version.model.owner), model=version.model, data={"purpose": "Updated."})
    workflow.good_evidence(version)
    req = workflow.request(version, developer)
    workflow.approve(req, person("validator"))
    version.refresh_from_db()
    other = model_version(model=version.model, user=developer)
    workflow.good_evidence(other)
    workflow.request(other, developer)  # left pending
    return version, other


def _raw(sql: str, params: list) -> None:
    """A raw write as a database owner would make it, with the guard triggers lifted."""
    disable_triggers(governed=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        reinstall_triggers()


def test_state_built_through_the_services_matches_the_log(history):
    result = verify_state()
    assert result.ok, result.message
    assert "registry" in result.replayers
    call_command("audit_verify", "--state", "--no-progress")


@pytest.mark.parametrize(
    "sql, table, field, expected",
    [
        (
            "UPDATE registry_modelversion SET stage = 'production' WHERE id = {other}",
            "registry_modelversion",
            "stage",
            "development",
        ),
        (
            "UPDATE registry_modelversion SET artifact_sha256 = '{zeros}' WHERE id = {version}",
            "registry_modelversion",
            "artifact_sha256",
            None,
        ),
        (
            "UPDATE registry_registeredmodel SET risk_tier = 'tier_3' WHERE id = {model}",
            "registry_registeredmodel",
            "risk_tier",
            None,
        ),
        (
            "UPDATE registry_registeredmodel SET purpose = 'Quietly rewritten.' WHERE id = {model}",
            "registry_registeredmodel",
            "purpose",
            "Updated.",
        ),
    ],
)
def test_a_raw_edit_is_named_by_table_row_and_field(history, sql, table, field, expected):
    version, other = history
    ids = {"other": other.pk, "version": version.pk, "model": version.model_id, "zeros": "0" * 64}
    row = str(other.pk if "{other}" in sql else version.pk if "{version}" in sql else version.model_id)
    _raw(sql.format(**ids), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, row, field), result.message
    if expected is not None:
        assert d.expected == expected
    with pytest.raises(CommandError, match=f"{table} row {row}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.mark.parametrize(
    "sql, table, field",
    [
        ("UPDATE workflow_approval SET justification = 'FORGED'", "workflow_approval", "justification"),
        (
            "UPDATE workflow_approval SET approver_id = (SELECT min(id) FROM accounts_user)",
            "workflow_approval",
            "approver",
        ),
        (
            "UPDATE workflow_promotionrequest SET status = 'approved' WHERE status = 'pending'",
            "workflow_promotionrequest",
            "status",
        ),
    ],
)
def test_a_raw_edit_of_a_request_or_approval_is_named(history, sql, table, field):
    _raw(sql, [])
    result = verify_state()
    assert not result.ok and (result.divergence.table, result.divergence.field) == (table, field), result.message


def test_a_row_inserted_or_deleted_behind_the_services_is_named(history):
    version, _ = history
    spare = model_version(model=version.model)
    _raw("DELETE FROM registry_modelversion WHERE id = %s", [spare.pk])
    result = verify_state()
    assert not result.ok and (result.divergence.table, result.divergence.row) == (
        "registry_modelversion",
        str(spare.pk),
    )
    assert result.divergence.field == "(row)"

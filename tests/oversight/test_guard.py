"""Nothing deleted, nothing changed without an audit event: the ORM refuses bulk writes everywhere,
and on PostgreSQL the audit guard refuses to commit an unaudited change to an oversight table."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from audit.guard import UnauditedWriteRefused
from governance.oversight import services
from governance.oversight.models import Finding
from tests.factories import registry as registry_factories
from tests.factories.accounts import as_user, person


def _finding():
    developer, validator = person("developer"), person("validator")
    version = registry_factories.model_version(
        model=registry_factories.registered_model(owner=developer), user=developer
    )
    validation = services.validation_start(by=as_user(validator), version=version, scope="Scope.")
    return services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="high",
        description="d",
        owner=developer,
        due_date=dt.date.today(),
    )


@pytest.mark.django_db
def test_the_orm_refuses_to_delete_or_bulk_change_findings():
    finding = _finding()
    with pytest.raises(UnauditedWriteRefused):
        Finding.objects.filter(pk=finding.pk).delete()
    with pytest.raises(UnauditedWriteRefused):
        Finding.objects.filter(pk=finding.pk).update(status="closed")
    assert Finding.objects.get().status == "open"


@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_an_unaudited_change_to_a_finding(postgres_only):
    finding = _finding()
    for sql in (
        "UPDATE oversight_finding SET status = 'closed' WHERE id = %s",
        "DELETE FROM oversight_finding WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="unaudited change"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [finding.pk])
    assert Finding.objects.get().status == "open"

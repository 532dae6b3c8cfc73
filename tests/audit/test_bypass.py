"""Attempts to change governed data around the services: each is refused or fails to commit."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from audit.guard import UnauditedWriteRefused
from audit.models import AuditEvent
from governance.accounts.models import ApiToken, User
from governance.accounts.services import api_token_issue
from governance.evaluations.models import Evaluation
from governance.registry.models import ModelVersion, RegisteredModel
from tests.factories.accounts import ADMIN, as_user, person
from tests.factories.registry import model_version, registered_model


@pytest.mark.django_db
@pytest.mark.parametrize(
    "attempt",
    [
        lambda: RegisteredModel.objects.update(risk_tier="tier_3"),
        lambda: RegisteredModel.objects.all().delete(),
        lambda: RegisteredModel.objects.bulk_create([RegisteredModel(name="sneaky")]),
        lambda: ModelVersion.objects.update(artifact_uri="s3://elsewhere"),
        lambda: ModelVersion.objects.all().delete(),
        lambda: User.objects.update(is_superuser=True),
        lambda: ApiToken.objects.update(revoked_at=None),
        lambda: Evaluation.objects.update(metrics={}),
    ],
)
def test_orm_bulk_writes_to_governed_models_are_refused(attempt):
    version = model_version()
    api_token_issue(by=ADMIN, user=version.registered_by)
    with pytest.raises(UnauditedWriteRefused, match="governed data changes only through"):
        attempt()


@pytest.mark.django_db
def test_bookkeeping_fields_stay_writable():
    token, _ = api_token_issue(by=ADMIN, user=person("developer"))
    assert ApiToken.objects.filter(pk=token.pk).update(last_used_at=token.created_at) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("model", [RegisteredModel, ModelVersion, User, ApiToken])
def test_admin_offers_no_bulk_delete_on_governed_models(model):
    request = RequestFactory().get("/admin/")
    request.user = person(is_superuser=True)
    assert "delete_selected" not in site._registry[model].get_actions(request)


def _commit(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_to_commit_unaudited_governed_changes(postgres_only):
    model = registered_model()
    version = model_version(model=model)
    before = AuditEvent.objects.count()
    attempts = [
        ("UPDATE registry_registeredmodel SET risk_tier = 'tier_3' WHERE id = %s", [model.pk]),
        ("UPDATE registry_modelversion SET artifact_sha256 = %s WHERE id = %s", ["0" * 64, version.pk]),
        ("DELETE FROM registry_modelversion WHERE id = %s", [version.pk]),
        ("UPDATE accounts_user SET is_superuser = true WHERE id = %s", [model.owner_id]),
        ("DELETE FROM accounts_user_groups WHERE user_id = %s", [model.owner_id]),
    ]
    for sql, params in attempts:
        with pytest.raises(DatabaseError, match="unaudited change"):
            _commit(sql, params)
    # an ORM save outside any service is caught the same way
    stored = RegisteredModel.objects.get(pk=model.pk)
    stored.purpose = "rewritten quietly"
    with pytest.raises(DatabaseError, match="unaudited change"), transaction.atomic():
        stored.save()
    model.refresh_from_db()
    version.refresh_from_db()
    assert model.risk_tier == "tier_1" and model.purpose != "rewritten quietly"
    assert version.artifact_sha256 != "0" * 64
    assert AuditEvent.objects.count() == before
    # while the services, which audit, commit normally
    from governance.registry.services import registered_model_update

    registered_model_update(by=as_user(model.owner), model=model, data={"purpose": "Audited change."})
    model.refresh_from_db()
    assert model.purpose == "Audited change."

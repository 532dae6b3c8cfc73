from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from audit.models import AuditEvent
from governance.common.errors import ValidationFailed
from governance.registry.models import ModelVersion, StageWriteRefused
from governance.registry.services import model_version_stage_change
from tests.factories.accounts import ADMIN
from tests.factories.registry import model_version, registered_model

pytestmark = pytest.mark.django_db


def test_stage_is_written_only_by_the_stage_service():
    version = model_version()
    version.stage = "production"
    with pytest.raises(StageWriteRefused):
        version.save()
    with pytest.raises(StageWriteRefused):
        ModelVersion.objects.filter(pk=version.pk).update(stage="production")
    version.refresh_from_db()
    assert version.stage == "development"


@pytest.mark.django_db(transaction=True)
def test_stage_service_requires_the_callers_transaction():
    version = model_version()
    with pytest.raises(RuntimeError, match="transaction"):
        model_version_stage_change(by=ADMIN, version=version, to_stage="staging", reason="r")


def test_promotion_to_production_retires_the_previous_one():
    model = registered_model()
    old, new = model_version(model=model), model_version(model=model)
    with transaction.atomic():
        model_version_stage_change(by=ADMIN, version=old, to_stage="staging", reason="tests")
        model_version_stage_change(by=ADMIN, version=old, to_stage="production", reason="tests")
        model_version_stage_change(by=ADMIN, version=new, to_stage="staging", reason="tests")
        moved = model_version_stage_change(by=ADMIN, version=new, to_stage="production", reason="tests")
    assert [(v.version, v.stage) for v in moved] == [(old.version, "retired"), (new.version, "production")]
    old.refresh_from_db()
    assert old.stage == "retired"
    events = AuditEvent.objects.filter(action="model_version.stage_change").order_by("seq")
    assert [e.record_json["data"]["to"] for e in events] == [
        "staging",
        "production",
        "staging",
        "retired",
        "production",
    ]


def test_illegal_stage_moves_are_refused():
    version = model_version()
    with pytest.raises(ValidationFailed, match="cannot move from development to production"), transaction.atomic():
        model_version_stage_change(by=ADMIN, version=version, to_stage="production", reason="skip")


def test_database_allows_one_production_version_per_model():
    model = registered_model()
    first, second = model_version(model=model), model_version(model=model)
    for version in (first, second):
        version.stage = "production"
        version._stage_write_allowed = True
    first.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()


def test_database_rejects_malformed_hashes():
    version = model_version()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE registry_modelversion SET artifact_sha256 = 'not-a-hash' WHERE id = %s", [version.pk])

"""State verification of reference samples (issue 10, defect 2): ``reference_sample.create`` carries
every column of the row, so ``audit_verify --state`` names the sample, and the field, that a raw
edit behind the service changed (SQLite; PostgreSQL with the guard triggers lifted by the owner)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEvent
from audit.state import verify_state
from tests.audit.helpers import raw_write
from tests.factories import evaluations as f
from tests.factories.registry import model_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def samples(developer, pipeline):
    """Reference samples registered through the service, as a demo's pipelines would: a CSV and a
    Parquet sample of one version by the pipeline, a CSV sample of another version by a developer."""
    version = model_version(user=developer)
    other = model_version(model=version.model, user=developer)
    csv = f.reference_sample(version, pipeline)
    parquet = f.reference_sample(version, pipeline, file_format="parquet")
    by_developer = f.reference_sample(other, developer)
    return {"csv": csv.pk, "parquet": parquet.pk, "developer": by_developer.pk, "other": other.pk}


def _fails_on(table: str, row: object, field: str):
    result = verify_state()
    assert not result.ok, result.message
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(row), field), result.message
    with pytest.raises(CommandError, match=re.escape(f"{table} row {row}, field {field}")):
        call_command("audit_verify", "--state", "--no-progress")
    return d


def test_reference_samples_replay_clean(samples):
    result = verify_state()
    assert result.ok, result.message
    assert "reference_samples" in result.replayers
    call_command("audit_verify", "--state", "--no-progress")


def test_the_event_carries_every_column_of_the_sample(samples):
    from governance.evaluations.models import ReferenceSample

    sample = ReferenceSample.objects.get(pk=samples["parquet"])
    event = AuditEvent.objects.get(action="reference_sample.create", object_id=str(sample.pk))
    data = json.loads(bytes(event.record))["data"]
    assert data["file"] == sample.file.name and data["file"].endswith(".parquet")
    assert data["columns"] == sample.columns and data["file_format"] == "parquet"
    assert data["rows"] == sample.rows == 700


@pytest.mark.parametrize(
    "sql, key, field, expected",
    [
        ("UPDATE evaluations_referencesample SET sha256 = '{zeros}' WHERE id = {csv}", "csv", "sha256", None),
        ("UPDATE evaluations_referencesample SET rows = 7 WHERE id = {parquet}", "parquet", "rows", 700),
        (
            "UPDATE evaluations_referencesample SET file = 'reference-samples/forged.csv' WHERE id = {csv}",
            "csv",
            "file",
            None,
        ),
        (
            'UPDATE evaluations_referencesample SET columns = \'{{"features": ["age"]}}\' WHERE id = {csv}',
            "csv",
            "columns",
            None,
        ),
        (
            "UPDATE evaluations_referencesample SET file_format = 'parquet' WHERE id = {csv}",
            "csv",
            "file_format",
            "csv",
        ),
        (
            "UPDATE evaluations_referencesample SET model_version_id = {other} WHERE id = {csv}",
            "csv",
            "model_version",
            None,
        ),
        (
            "UPDATE evaluations_referencesample SET created_by_id = "
            "(SELECT created_by_id FROM evaluations_referencesample WHERE id = {developer}) WHERE id = {csv}",
            "csv",
            "created_by",
            None,
        ),
        (
            "UPDATE evaluations_referencesample SET created_at = "
            "(SELECT created_at FROM evaluations_referencesample WHERE id = {developer}) WHERE id = {csv}",
            "csv",
            "created_at",
            None,
        ),
    ],
)
def test_a_raw_edit_of_a_reference_sample_is_named(samples, sql, key, field, expected):
    raw_write(sql.format(**samples, zeros="0" * 64))
    d = _fails_on("evaluations_referencesample", samples[key], field)
    if expected is not None:
        assert d.expected == expected


def test_a_reference_sample_inserted_behind_the_service_is_named(samples):
    forged = _copy_sample(samples["csv"])
    assert forged not in samples.values()
    _fails_on("evaluations_referencesample", forged, "(row)")


def test_a_reference_sample_deleted_behind_the_service_is_named(samples):
    raw_write("DELETE FROM evaluations_referencesample WHERE id = %s", [samples["parquet"]])
    d = _fails_on("evaluations_referencesample", samples["parquet"], "(row)")
    assert d.stored == "missing"


def test_a_sample_whose_event_predates_the_added_fields_is_checked_on_what_its_event_carries(samples, pipeline):
    """A sample registered before ``reference_sample.create`` carried file, columns and created_at
    (its row and its event as the earlier service wrote them): not checked on those, checked on the rest."""
    from django.db import transaction

    from audit.services import audit_event_append
    from governance.accounts.principal import Principal
    from governance.evaluations.models import ReferenceSample

    old = _copy_sample(samples["csv"])
    sample = ReferenceSample.objects.select_related("model_version__model").get(pk=old)
    with transaction.atomic():
        audit_event_append(
            actor=Principal.for_user(pipeline, auth="token").actor,
            action="reference_sample.create",
            target={
                "type": "reference_sample",
                "id": str(old),
                "model": sample.model_version.model.name,
                "version": sample.model_version.version,
                "model_version": str(sample.model_version_id),
            },
            details={
                "sha256": sample.sha256,
                "rows": sample.rows,
                "file_format": "csv",
                "features": [],
                "categorical": [],
            },
        )
    assert verify_state().ok
    raw_write("UPDATE evaluations_referencesample SET columns = '{}', file = 'elsewhere.csv' WHERE id = %s", [old])
    assert verify_state().ok, "fields its event does not carry are not checked"
    raw_write("UPDATE evaluations_referencesample SET rows = 1 WHERE id = %s", [old])
    _fails_on("evaluations_referencesample", old, "rows")


def _copy_sample(row: int) -> int:
    """INSERT a copy of sample ``row`` behind the service, returning the new row's id."""
    raw_write(
        "INSERT INTO evaluations_referencesample "
        "(model_version_id, file, file_format, sha256, columns, rows, created_by_id, created_at) "
        "SELECT model_version_id, file, file_format, sha256, columns, rows, created_by_id, created_at "
        "FROM evaluations_referencesample WHERE id = %s",
        [row],
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM evaluations_referencesample")
        return cursor.fetchone()[0]

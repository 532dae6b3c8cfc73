"""Registering a version's reference sample for drift."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.base import File

from audit.services import audit_unit
from governance.accounts.principal import Principal
from governance.common.errors import PayloadTooLarge
from governance.common.refusals import refusals
from governance.evaluations import inputs as inputs_core
from governance.evaluations.models import (
    ReferenceSample,
)
from governance.evaluations.services.common import (
    POST_ROLES,
    check_file_size,
    fail,
    input_row_count,
    limits,
    reference_sample_target,
    sha256_file,
    table_format,
    table_source,
)
from governance.registry.models import ModelVersion
from governance.registry.services import version_target


def reference_sample_register(
    *,
    by: Principal,
    model_version: ModelVersion,
    file: File,
    file_format: str | None = None,
    columns: Mapping[str, Any],
) -> ReferenceSample:
    """Store a version's reference sample for drift (a CSV/Parquet table, validated by parsing it as a
    reference) with its SHA-256. Later drift evaluations of the version may omit the reference. The
    request's shape is checked by ``ReferenceSampleCreateSerializer``."""
    version = model_version
    target = {"type": "model_version", "id": str(version.pk)}
    with refusals(by, "reference_sample.create", target):
        by.require_role(
            *POST_ROLES, reason="only pipelines, developers, validators and risk officers register reference samples"
        )
        target.update(version_target(version))
        check_file_size(file)
        fmt = table_format(file, file_format)
        source = table_source(file)
        size = inputs_core.table_size(source, fmt, budget=settings.EVALUATION_SYNC_MAX_BYTES)
        inputs_core.check_table_limits(size, **limits())
        if not size.within_budget or (size.rows or 0) > settings.EVALUATION_SYNC_MAX_ROWS:
            fail(
                "file",
                "a reference sample is read in the request and must stay within EVALUATION_SYNC_MAX_ROWS "
                f"({settings.EVALUATION_SYNC_MAX_ROWS}) rows and EVALUATION_SYNC_MAX_BYTES "
                f"({settings.EVALUATION_SYNC_MAX_BYTES}) decompressed bytes; register a sample of the reference",
                PayloadTooLarge,
            )
        parsed = inputs_core.parse_table(
            "drift",
            size.data if size.data is not None else source,
            file_format=fmt,
            columns=dict(columns),
            role="reference",
            **limits(),
        )
    sample = ReferenceSample(
        model_version=version,
        file_format=fmt,
        sha256=sha256_file(file),
        columns=dict(columns),
        rows=input_row_count(parsed),
        created_by=by.user,
    )
    with audit_unit(by.actor) as audit:
        file.seek(0)
        sample.file.save(PurePath(file.name or "reference").name, file, save=False)
        sample.save()
        audit.add(
            "reference_sample.create",
            reference_sample_target(sample),
            details={
                "sha256": sample.sha256,
                "rows": sample.rows,
                "file_format": fmt,
                "features": sorted(parsed.feature_types),
                "categorical": sorted(n for n, t in parsed.feature_types.items() if t == inputs_core.CATEGORICAL),
                # the rest of the row, so that state verification can check every governed column
                "file": sample.file.name,
                "columns": sample.columns,
                "created_at": sample.created_at,
            },
        )
    return sample

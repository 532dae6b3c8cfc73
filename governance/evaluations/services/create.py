"""Creating an evaluation: validate the request, digest the input, compute small inputs in the
request, and store (done, or queued for a worker)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.utils import timezone

import governance.evaluations.services.paths as paths
from audit.services import audit_unit
from governance.accounts.principal import Principal
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.evaluations import checks as checks_core
from governance.evaluations import inputs as inputs_core
from governance.evaluations import outofcore
from governance.evaluations.models import (
    Evaluation,
    EvaluationKind,
    EvaluationSource,
    EvaluationStatus,
)
from governance.evaluations.services.common import (
    FILE_FORMATS,
    POST_ROLES,
    announce_if_failed,
    announce_recorded,
    audit_details,
    check_feature_thresholds,
    check_file_size,
    evaluation_target,
    fail,
    input_row_count,
    input_summary,
    limits,
    parse_reference,
    reference_sample_for,
    sha256_file,
    table_format,
    table_source,
)
from governance.evaluations.services.computation import (
    compute,
    validate_compute_params,
)
from governance.registry.models import ModelVersion
from governance.registry.services import version_target


def _upload_limits(kind: str) -> dict:
    """The caps on an uploaded table: kinds computed out of core by a worker (bounded memory) take
    the out-of-core caps, the others the in-memory ones."""
    if kind in outofcore.KINDS:
        return {
            "max_rows": settings.EVALUATION_OUT_OF_CORE_MAX_ROWS,
            "max_bytes": settings.EVALUATION_OUT_OF_CORE_MAX_BYTES,
            "names": ("EVALUATION_OUT_OF_CORE_MAX_ROWS", "EVALUATION_OUT_OF_CORE_MAX_BYTES"),
        }
    return limits()


def _library_versions(extra_pyarrow: bool) -> dict:
    versions = dict(inputs_core.library_versions())
    if extra_pyarrow:
        import pyarrow

        versions["pyarrow"] = pyarrow.__version__
    return versions


def _jsonable(value):
    """numpy arrays and scalars in inline data passed by Python callers (the demo, tests)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON")


def _reads_tables(spec: dict) -> bool:
    """Whether pyarrow reads part of the input (an uploaded table or a registered reference sample)."""
    return spec.get("format") in FILE_FORMATS or "reference_sample" in spec


@dataclass
class _Prepared:
    version: ModelVersion
    kind: str
    dataset: str
    params: dict
    thresholds: list[dict]
    source: str = EvaluationSource.COMPUTED
    parsed: inputs_core.Parsed | None = None
    digest: str = ""
    rows: int | None = None
    nbytes: int = 0
    input: dict = field(default_factory=dict)
    file: File | None = None
    data: Any = None
    computed: dict | None = None
    large: bool = False  # too large to read in the request: measured, stored and read by a worker only

    @property
    def sync(self) -> bool:
        if self.large:
            return False
        return (
            self.rows or 0
        ) <= settings.EVALUATION_SYNC_MAX_ROWS and self.nbytes <= settings.EVALUATION_SYNC_MAX_BYTES


def _reported_digest(metrics: dict) -> str:
    canonical = json.dumps(
        {k: repr(float(v)) if isinstance(v, float) else v for k, v in metrics.items()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(b"mlgov.evaluations.reported.v1\x00" + canonical.encode()).hexdigest()


def _prepare_reported(p: _Prepared, data: Mapping[str, float]) -> None:
    """Reported metrics (their shape is the request's: ``EvaluationCreateSerializer``)."""
    metrics = dict(data)
    p.source = EvaluationSource.REPORTED
    p.digest = _reported_digest(metrics)
    p.computed = {
        "metrics": metrics,
        "params": p.params,
        "library_versions": {},
        "warnings": [],
        "checks": checks_core.evaluate_checks("reported", {"metrics": metrics}, p.thresholds),
        "result": {},
    }


def _queue_unread(p: _Prepared, size, sample) -> None:
    """A table too large to read in the request (or referenced by path): measured, checked and queued."""
    p.large = True
    p.rows = size.rows
    if p.kind == EvaluationKind.DRIFT and sample is None:
        fail(
            "reference",
            "a reference sample is required: register one for the version (POST /api/v1/versions/{id}/reference/)",
        )
    if sample is not None:
        p.input.update({"reference_sample": sample.pk, "reference_sha256": sample.sha256})
    used = {"threshold": inputs_core.threshold_param(p.params)} if "threshold" in p.params else {}
    validate_compute_params(p.kind, inputs_core.Parsed(kind=p.kind, arrays={}, params=used), p.params)


def _prepare_path(p: _Prepared, input_uri, data, file, file_format, columns) -> None:
    """An input referenced by path (``input_uri``, allowed by EVALUATION_INPUT_ROOTS): measured here,
    read in place, digested and computed by a worker (``services.paths``)."""
    if data is not None or file is not None:
        fail("input_uri", "give the input one way: inline data, an uploaded file, or input_uri")
    path = paths.resolve(input_uri)
    fmt = table_format(SimpleNamespace(name=path.name), file_format)
    if columns is None:
        fail("columns", "is required with input_uri: a JSON object mapping roles to column names")
    if not isinstance(columns, Mapping):
        fail("columns", "must be an object mapping roles to column names")
    stat = paths.fingerprint(path)
    size = inputs_core.table_size(str(path), fmt, budget=settings.EVALUATION_SYNC_MAX_BYTES)
    inputs_core.check_table_limits(size, **_upload_limits(p.kind))
    p.input = {
        "format": fmt,
        "columns": columns,
        "uri": input_uri,
        "path": str(path),
        "file_name": path.name[:200],
        "stat": stat,
        "compression": size.compression,
    }
    p.nbytes = size.decompressed_bytes or stat["size"]
    _queue_unread(p, size, reference_sample_for(p.version) if p.kind == EvaluationKind.DRIFT else None)


def _prepare_computed(p: _Prepared, data, file, file_format, columns, input_bytes, input_uri=None) -> None:
    """Inline data, an uploaded table with its columns, or a table referenced by path (one of the three:
    the request's shape is checked by ``EvaluationCreateSerializer``): read, checked against the kernel,
    digested, computed when small."""
    if input_uri is not None:
        _prepare_path(p, input_uri, data, file, file_format, columns)
        return
    sample, reference = (None, None)
    needs_reference = p.kind == EvaluationKind.DRIFT and (
        file is not None or (isinstance(data, Mapping) and "reference" not in data)
    )
    if needs_reference:
        sample = reference_sample_for(p.version)
    if file is not None:
        check_file_size(file)
        fmt = table_format(file, file_format)
        source = table_source(file)
        # Measure before reading: Parquet metadata, or the CSV stream decompressed up to the in-request
        # budget and no further. A table over the caps is refused; a large one goes to a worker unread.
        size = inputs_core.table_size(source, fmt, budget=settings.EVALUATION_SYNC_MAX_BYTES)
        inputs_core.check_table_limits(size, **_upload_limits(p.kind))
        p.file = file
        p.input = {
            "format": fmt,
            "columns": columns,
            "file_name": PurePath(file.name or "").name[:200],
            "file_sha256": sha256_file(file),
            "compression": size.compression,
        }
        if not size.within_budget or (size.rows or 0) > settings.EVALUATION_SYNC_MAX_ROWS:
            p.nbytes = size.decompressed_bytes or file.size or 0
            _queue_unread(p, size, sample)
            return
        if sample is not None:
            reference = parse_reference(sample)
        p.parsed = inputs_core.parse_table(
            p.kind,
            size.data if size.data is not None else source,
            file_format=fmt,
            columns=columns,
            reference=reference,
            params=p.params,
            **limits(),
        )
        p.nbytes = size.decompressed_bytes or file.size or 0
    else:
        if sample is not None:
            reference = parse_reference(sample)
        p.parsed = inputs_core.parse_inline(p.kind, data, params=p.params, reference=reference)
        p.nbytes = (
            input_bytes if input_bytes is not None else len(json.dumps(data, separators=(",", ":"), default=_jsonable))
        )
        p.data = data
        p.input = {"format": "json"}
    if p.kind == EvaluationKind.DRIFT and not p.parsed.has_reference:
        fail(
            "data.reference",
            "a reference sample is required: inline, or registered for the version "
            "(POST /api/v1/versions/{id}/reference/)",
        )
    if sample is not None:
        p.input.update({"reference_sample": sample.pk, "reference_sha256": sample.sha256})
    check_feature_thresholds(p.thresholds, p.parsed)
    validate_compute_params(p.kind, p.parsed, p.params)
    p.digest = inputs_core.input_sha256(p.parsed)
    p.rows = input_row_count(p.parsed)
    if p.sync:
        p.computed = compute(p.kind, p.parsed, p.params, p.thresholds)
        p.computed["library_versions"] = _library_versions(_reads_tables(p.input))


@dataclass(frozen=True)
class EvaluationCreated:
    """What ``evaluation_create`` did: the evaluation, and whether it was queued for a worker (the API
    answers 202) rather than computed in the request (201)."""

    evaluation: Evaluation
    queued: bool


def evaluation_create(
    *,
    by: Principal,
    model_version: ModelVersion,
    kind: str,
    dataset: str,
    thresholds: list[dict] | None = None,
    params: dict | None = None,
    data: Any = None,
    file: File | None = None,
    file_format: str | None = None,
    columns: Mapping[str, Any] | None = None,
    input_bytes: int | None = None,
    input_uri: str | None = None,
) -> EvaluationCreated:
    """Digest, check against the kernel and (for small inputs) compute an evaluation; large inputs are
    stored and queued.

    The arguments have the shape ``governance.api.serializers_evaluations.EvaluationCreateSerializer``
    checks (a known ``kind``, a ``dataset`` label, ``thresholds`` as ``[{metric, comparator, threshold}]``
    with known metric names, the kind's ``params``, and either inline ``data``, an uploaded CSV/Parquet
    ``file`` with its ``columns``, or ``input_uri``: such a table referenced by path under
    EVALUATION_INPUT_ROOTS, read by the worker in place); what the data say is checked here, every
    refusal audited.
    """
    target = {"type": "model_version", "id": str(model_version.pk)}
    info = input_summary(kind=kind, dataset=dataset)
    with refusals(by, "evaluation.create", target, details=info):
        by.require_role(*POST_ROLES, reason="only pipelines, developers, validators and risk officers post evaluations")
        target.update(version_target(model_version))
        p = _Prepared(
            version=model_version,
            kind=kind,
            dataset=dataset,
            params=dict(params or {}),
            thresholds=list(thresholds or []),
        )
        if kind == EvaluationKind.REPORTED:
            _prepare_reported(p, data)
        else:
            _prepare_computed(p, data, file, file_format, columns, input_bytes, input_uri)
    evaluation = _store(p, by)
    return EvaluationCreated(evaluation=evaluation, queued=evaluation.status == EvaluationStatus.QUEUED)


def _store(p: _Prepared, by: Principal) -> Evaluation:
    now = timezone.now()
    evaluation = Evaluation(
        model_version=p.version,
        kind=p.kind,
        dataset=p.dataset,
        source=p.source,
        thresholds=p.thresholds,
        input_sha256=p.digest,
        input_rows=p.rows,
        created_by=by.user,
        created_at=now,
    )
    result = {"input": p.input} if p.input else {}
    if p.computed is not None:
        c = p.computed
        evaluation.status = EvaluationStatus.DONE
        evaluation.started_at = evaluation.finished_at = now
        evaluation.params, evaluation.library_versions = c["params"], c["library_versions"]
        evaluation.metrics, evaluation.checks, evaluation.warnings = c["metrics"], c["checks"], c["warnings"]
        evaluation.result = {**c["result"], **result}
    else:
        evaluation.status = EvaluationStatus.QUEUED
        evaluation.params = p.params
        evaluation.library_versions = _library_versions(_reads_tables(p.input))
        evaluation.result = result
    with audit_unit(by.actor) as audit:
        if p.file is not None:
            p.file.seek(0)
            evaluation.input_file.save(PurePath(p.file.name or "input").name, p.file, save=False)
        elif p.computed is None and "path" not in p.input:
            payload = json.dumps(p.data, separators=(",", ":"), allow_nan=False, default=_jsonable).encode()
            evaluation.input_file.save("input.json", ContentFile(payload), save=False)
        evaluation.save()
        audit.add("evaluation.create", evaluation_target(evaluation), details=audit_details(evaluation))
        announce_if_failed(evaluation)
        if evaluation.status == EvaluationStatus.QUEUED:
            announce("evaluation.queued", evaluation_id=evaluation.pk, by=by.as_context())
        else:
            announce_recorded(evaluation, by)
    return evaluation

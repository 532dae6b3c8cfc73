"""Creating an evaluation: validate the request, digest the input, compute small inputs in the
request, and store (done, or queued for a worker)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.utils import timezone

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
    COMPUTED_KINDS,
    FILE_FORMATS,
    MAX_REPORTED_METRICS,
    MAX_THRESHOLDS,
    NAME_RE,
    PARAMS_BY_KIND,
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
    resolve_version,
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


def _clean_kind(kind) -> str:
    if kind not in EvaluationKind.values:
        fail("kind", f"unknown evaluation kind {kind!r} (expected one of: {', '.join(EvaluationKind.values)})")
    return str(kind)


def _clean_dataset(dataset) -> str:
    if not isinstance(dataset, str) or not dataset.strip():
        fail("dataset", "is required: a label such as holdout-2026-10")
    dataset = dataset.strip()
    if len(dataset) > 200:
        fail("dataset", "must be at most 200 characters")
    return dataset


def _plain_scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


def _clean_params(kind: str, params) -> dict:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        fail("params", "must be an object")
    params = dict(params)
    for key, value in params.items():
        if not isinstance(key, str) or not NAME_RE.match(key):
            fail("params", f"parameter names must be 1-64 letters, digits or _ . : - (got {key!r})")
        if kind == EvaluationKind.REPORTED:
            if not _plain_scalar(value) or (isinstance(value, str) and len(value) > 1000):
                fail(
                    f"params.{key}",
                    "reported evaluations take plain values (strings up to 1000 characters, numbers, booleans)",
                )
        elif key not in PARAMS_BY_KIND[kind]:
            fail(f"params.{key}", f"unknown parameter for {kind} (expected one of: {', '.join(PARAMS_BY_KIND[kind])})")
    if kind == EvaluationKind.FAIRNESS and "min_group_size" in params:
        v = params["min_group_size"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            fail("params.min_group_size", "must be a non-negative integer")
    if kind == EvaluationKind.FAIRNESS and "favourable_outcome" in params:
        if params["favourable_outcome"] not in (0, 1) or isinstance(params["favourable_outcome"], bool):
            fail("params.favourable_outcome", "must be 0 or 1 (the predicted label that benefits the person)")
    return params


def _number(value, fname: str) -> float:
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            fail(fname, "must be a finite number")
        if not value.is_finite():
            fail(fname, "must be a finite number")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(fname, "must be a finite number")
    return value


def _clean_thresholds(kind: str, thresholds) -> list[dict]:
    """Structure and metric names, checked before any data is read (so a queued evaluation never
    fails on a typo). Per-feature drift names (``psi:<feature>``) are checked against the data."""
    if thresholds is None:
        return []
    if not isinstance(thresholds, list):
        fail("thresholds", "must be a list of {metric, comparator, threshold}")
    if len(thresholds) > MAX_THRESHOLDS:
        fail("thresholds", f"at most {MAX_THRESHOLDS} thresholds")
    known = [] if kind == EvaluationKind.REPORTED else [n for n in checks_core.metric_names(kind) if ":" not in n]
    out = []
    for i, t in enumerate(thresholds):
        base = f"thresholds[{i}]"
        if not isinstance(t, Mapping):
            fail(base, "must be an object {metric, comparator, threshold}")
        for key in t:
            if key not in ("metric", "comparator", "threshold"):
                fail(f"{base}.{key}", "unknown field (expected metric, comparator, threshold)")
        name = t.get("metric")
        if not isinstance(name, str) or not NAME_RE.match(name):
            fail(f"{base}.metric", "must be a metric name")
        comparator = t.get("comparator")
        if comparator not in checks_core.VALID_COMPARATORS:
            fail(f"{base}.comparator", f"must be one of {', '.join(checks_core.VALID_COMPARATORS)}")
        if "threshold" not in t:
            fail(f"{base}.threshold", "is required")
        value = _number(t["threshold"], f"{base}.threshold")
        if kind in COMPUTED_KINDS and name not in known:
            stat, sep, feature = name.partition(":")
            if not (kind == EvaluationKind.DRIFT and sep and feature and stat in checks_core.DRIFT_FEATURE_STATS):
                fail(
                    f"{base}.metric",
                    f"unknown metric {name!r} for {kind} (known: {', '.join(checks_core.metric_names(kind))})",
                )
        out.append({"metric": name, "comparator": comparator, "threshold": value})
    return out


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


def _prepare_reported(p: _Prepared, data, file) -> None:
    if file is not None:
        fail("file", "reported metrics are sent inline as data {metric: number}, not as a file")
    if data is None:
        fail("data", "is required: a dictionary of metric names to numbers")
    if not isinstance(data, Mapping) or not data:
        fail("data", "must be a non-empty dictionary of metric names to numbers")
    if len(data) > MAX_REPORTED_METRICS:
        fail("data", f"at most {MAX_REPORTED_METRICS} metrics")
    metrics = {}
    for name, value in data.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            fail("data", f"metric names must be 1-64 letters, digits or _ . : - (got {name!r})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(f"data.{name}", "must be a finite number")
        metrics[name] = value
    for i, t in enumerate(p.thresholds):
        if t["metric"] not in metrics:
            # checks.evaluate_checks cannot name the known metrics of a "reported" result (metric_names
            # has no "reported" kind), so unknown names are refused here.
            fail(
                f"thresholds[{i}].metric",
                f"unknown metric {t['metric']!r}: not in the reported data (reported: {', '.join(sorted(metrics))})",
            )
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


def _prepare_computed(p: _Prepared, data, file, file_format, columns, input_bytes) -> None:
    if data is not None and file is not None:
        fail("file", "give the data inline (data) or as a file, not both")
    if data is None and file is None:
        fail("data", "is required: inline JSON data, or upload a CSV or Parquet file with its columns")
    sample, reference = (None, None)
    needs_reference = p.kind == EvaluationKind.DRIFT and (
        file is not None or (isinstance(data, Mapping) and "reference" not in data)
    )
    if needs_reference:
        sample = reference_sample_for(p.version)
    if file is not None:
        check_file_size(file)
        fmt = table_format(file, file_format)
        if columns is None:
            fail("columns", "is required with a file: a JSON object mapping roles to column names")
        if not isinstance(columns, Mapping):
            fail("columns", "must be an object mapping roles to column names")
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
            p.large = True
            p.rows = size.rows
            p.nbytes = size.decompressed_bytes or file.size or 0
            if p.kind == EvaluationKind.DRIFT and sample is None:
                fail(
                    "reference",
                    "a reference sample is required: register one for the version "
                    "(POST /api/v1/versions/{id}/reference/)",
                )
            if sample is not None:
                p.input.update({"reference_sample": sample.pk, "reference_sha256": sample.sha256})
            used = {"threshold": inputs_core._threshold(p.params)} if "threshold" in p.params else {}
            validate_compute_params(p.kind, inputs_core.Parsed(kind=p.kind, arrays={}, params=used), p.params)
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
        if columns is not None or file_format not in (None, ""):
            fail("columns" if columns is not None else "file_format", "only used with an uploaded file")
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


def evaluation_create(
    *,
    by: Principal,
    model_version,
    kind,
    dataset,
    thresholds=None,
    params=None,
    data=None,
    file: File | None = None,
    file_format: str | None = None,
    columns=None,
    input_bytes: int | None = None,
) -> Evaluation:
    """Validate, digest and (for small inputs) compute an evaluation; large inputs are stored and queued.

    ``model_version`` is a ModelVersion or its id; ``data`` is the inline JSON payload, or ``file``
    an uploaded CSV/Parquet table with ``columns`` (and ``file_format``, else inferred from the name).
    Returns the evaluation: status ``done`` when computed here, ``queued`` when sent to a worker.
    """
    target = {"type": "model_version", "id": str(getattr(model_version, "pk", model_version))[:100]}
    info = input_summary(kind=kind, dataset=dataset)
    with refusals(by, "evaluation.create", target, details=info):
        by.require_role(*POST_ROLES, reason="only pipelines, developers, validators and risk officers post evaluations")
        version = resolve_version(model_version)
        target.update(version_target(version))
        kind = _clean_kind(kind)
        p = _Prepared(
            version=version,
            kind=kind,
            dataset=_clean_dataset(dataset),
            params=_clean_params(kind, params),
            thresholds=_clean_thresholds(kind, thresholds),
        )
        if kind == EvaluationKind.REPORTED:
            _prepare_reported(p, data, file)
        else:
            _prepare_computed(p, data, file, file_format, columns, input_bytes)
    return _store(p, by)


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
        elif p.computed is None:
            payload = json.dumps(p.data, separators=(",", ":"), allow_nan=False, default=_jsonable).encode()
            evaluation.input_file.save("input.json", ContentFile(payload), save=False)
        evaluation.save()
        audit.add("evaluation.create", evaluation_target(evaluation), details=audit_details(evaluation))
        announce_if_failed(evaluation)
        if evaluation.status == EvaluationStatus.QUEUED:
            announce("evaluation.queued", evaluation_id=evaluation.pk, by=by.as_context())
        else:
            announce_recorded(evaluation, by)
    evaluation.was_queued = evaluation.status == EvaluationStatus.QUEUED  # for the API's 201 / 202
    return evaluation

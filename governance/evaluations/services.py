"""Evaluation rules: validate and digest inputs, compute (in the request or on a Celery worker),
record the result as evidence, and register reference samples for drift.

Every state change appends exactly one audit event in the same transaction (invariant 1):
``evaluation.create`` (status done for inputs computed in the request, queued otherwise),
``evaluation.start``, ``evaluation.complete``, ``evaluation.fail`` and ``reference_sample.create``.
Refused attempts are audited as ``evaluation.create.denied`` / ``reference_sample.create.denied``
with the reason and the field. Metrics computed here carry the SHA-256 of their inputs, the
library versions and the parameters used (invariant 6); reported metrics are stored as source
``reported`` and never as computed.

The computation core (``inputs``, ``fairness``, ``drift``, ``performance``, ``checks``) is pure
and is wrapped, not changed, here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
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
from governance.accounts.roles import DEVELOPER, PIPELINE, RISK_OFFICER, VALIDATOR
from governance.common.errors import DomainError, PayloadTooLarge, ValidationFailed
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.evaluations import checks as checks_core
from governance.evaluations import drift as drift_core
from governance.evaluations import inputs as inputs_core
from governance.evaluations import outofcore
from governance.evaluations import performance as performance_core
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.models import (
    Evaluation,
    EvaluationKind,
    EvaluationSource,
    EvaluationStatus,
    ReferenceSample,
)
from governance.registry.models import ModelVersion
from governance.registry.services import version_target

logger = logging.getLogger(__name__)

POST_ROLES = (PIPELINE, DEVELOPER, VALIDATOR, RISK_OFFICER)
COMPUTED_KINDS = (EvaluationKind.FAIRNESS, EvaluationKind.DRIFT, EvaluationKind.PERFORMANCE)
FILE_FORMATS = ("csv", "parquet")
FORMAT_BY_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".parq": "parquet"}
PARAMS_BY_KIND = {
    "fairness": ("threshold", "min_group_size", "favourable_outcome"),
    "performance": ("threshold", "n_boot", "seed", "ci_level"),
    "drift": ("categorical", *drift_core.DEFAULTS),
}
MAX_THRESHOLDS = 100
MAX_REPORTED_METRICS = 200
MAX_REASON = 2000
MAX_AUDIT_DETAIL_BYTES = 32 * 1024
# Metric names and parameter keys end up as keys of audit records (audit.services.KEY_RE).
NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
# Result keys stored in their own columns, not in ``Evaluation.result``.
OWN_COLUMNS = ("kind", "metrics", "params", "library_versions", "warnings")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def evaluation_target(evaluation: Evaluation) -> dict:
    version = evaluation.model_version
    return {
        "type": "evaluation",
        "id": str(evaluation.pk),
        "model": version.model.name,
        "version": version.version,
        "model_version": str(version.pk),
    }


def reference_sample_target(sample: ReferenceSample) -> dict:
    version = sample.model_version
    return {
        "type": "reference_sample",
        "id": str(sample.pk),
        "model": version.model.name,
        "version": version.version,
        "model_version": str(version.pk),
    }


def _input_summary(**values) -> dict:
    """What a refusal records about the caller's own values: short strings, nothing empty."""
    return {k: str(v)[:200] for k, v in values.items() if isinstance(v, str) and v}


def _fail(field_name: str, message: str, error: type[DomainError] = ValidationFailed):
    raise error(f"{field_name}: {message}", field=field_name)


def _resolve_version(model_version) -> ModelVersion:
    if isinstance(model_version, ModelVersion):
        return model_version
    if model_version is None or model_version == "":
        _fail("model_version", "is required")
    if isinstance(model_version, bool) or not (
        isinstance(model_version, int) or (isinstance(model_version, str) and model_version.isdigit())
    ):
        _fail("model_version", "must be a model version id (an integer)")
    version = ModelVersion.objects.select_related("model").filter(pk=int(model_version)).first()
    if version is None:
        _fail("model_version", f"model version {model_version} does not exist")
    return version


def _clean_kind(kind) -> str:
    if kind not in EvaluationKind.values:
        _fail("kind", f"unknown evaluation kind {kind!r} (expected one of: {', '.join(EvaluationKind.values)})")
    return str(kind)


def _clean_dataset(dataset) -> str:
    if not isinstance(dataset, str) or not dataset.strip():
        _fail("dataset", "is required: a label such as holdout-2026-10")
    dataset = dataset.strip()
    if len(dataset) > 200:
        _fail("dataset", "must be at most 200 characters")
    return dataset


def _plain_scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


def _clean_params(kind: str, params) -> dict:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        _fail("params", "must be an object")
    params = dict(params)
    for key, value in params.items():
        if not isinstance(key, str) or not NAME_RE.match(key):
            _fail("params", f"parameter names must be 1-64 letters, digits or _ . : - (got {key!r})")
        if kind == EvaluationKind.REPORTED:
            if not _plain_scalar(value) or (isinstance(value, str) and len(value) > 1000):
                _fail(
                    f"params.{key}",
                    "reported evaluations take plain values (strings up to 1000 characters, numbers, booleans)",
                )
        elif key not in PARAMS_BY_KIND[kind]:
            _fail(f"params.{key}", f"unknown parameter for {kind} (expected one of: {', '.join(PARAMS_BY_KIND[kind])})")
    if kind == EvaluationKind.FAIRNESS and "min_group_size" in params:
        v = params["min_group_size"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            _fail("params.min_group_size", "must be a non-negative integer")
    if kind == EvaluationKind.FAIRNESS and "favourable_outcome" in params:
        if params["favourable_outcome"] not in (0, 1) or isinstance(params["favourable_outcome"], bool):
            _fail("params.favourable_outcome", "must be 0 or 1 (the predicted label that benefits the person)")
    return params


def _number(value, fname: str) -> float:
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            _fail(fname, "must be a finite number")
        if not value.is_finite():
            _fail(fname, "must be a finite number")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(fname, "must be a finite number")
    return value


def _clean_thresholds(kind: str, thresholds) -> list[dict]:
    """Structure and metric names, checked before any data is read (so a queued evaluation never
    fails on a typo). Per-feature drift names (``psi:<feature>``) are checked against the data."""
    if thresholds is None:
        return []
    if not isinstance(thresholds, list):
        _fail("thresholds", "must be a list of {metric, comparator, threshold}")
    if len(thresholds) > MAX_THRESHOLDS:
        _fail("thresholds", f"at most {MAX_THRESHOLDS} thresholds")
    known = [] if kind == EvaluationKind.REPORTED else [n for n in checks_core.metric_names(kind) if ":" not in n]
    out = []
    for i, t in enumerate(thresholds):
        base = f"thresholds[{i}]"
        if not isinstance(t, Mapping):
            _fail(base, "must be an object {metric, comparator, threshold}")
        for key in t:
            if key not in ("metric", "comparator", "threshold"):
                _fail(f"{base}.{key}", "unknown field (expected metric, comparator, threshold)")
        name = t.get("metric")
        if not isinstance(name, str) or not NAME_RE.match(name):
            _fail(f"{base}.metric", "must be a metric name")
        comparator = t.get("comparator")
        if comparator not in checks_core.VALID_COMPARATORS:
            _fail(f"{base}.comparator", f"must be one of {', '.join(checks_core.VALID_COMPARATORS)}")
        if "threshold" not in t:
            _fail(f"{base}.threshold", "is required")
        value = _number(t["threshold"], f"{base}.threshold")
        if kind in COMPUTED_KINDS and name not in known:
            stat, sep, feature = name.partition(":")
            if not (kind == EvaluationKind.DRIFT and sep and feature and stat in checks_core.DRIFT_FEATURE_STATS):
                _fail(
                    f"{base}.metric",
                    f"unknown metric {name!r} for {kind} (known: {', '.join(checks_core.metric_names(kind))})",
                )
        out.append({"metric": name, "comparator": comparator, "threshold": value})
    return out


def _check_feature_thresholds(thresholds: list[dict], parsed: inputs_core.Parsed) -> None:
    for i, t in enumerate(thresholds):
        stat, sep, feature = t["metric"].partition(":")
        if not sep:
            continue
        ftype = parsed.feature_types.get(feature)
        if ftype is None:
            _fail(
                f"thresholds[{i}].metric",
                f"unknown feature {feature!r} (features: {', '.join(sorted(parsed.feature_types))})",
            )
        numeric_only = {"ks_statistic", "ks_pvalue", "wasserstein_normalized"}
        categorical_only = {"chi2_statistic", "chi2_pvalue"}
        if (ftype == inputs_core.CATEGORICAL and stat in numeric_only) or (
            ftype == inputs_core.NUMERIC and stat in categorical_only
        ):
            _fail(f"thresholds[{i}].metric", f"statistic {stat!r} does not apply to {ftype} feature {feature!r}")


def _sha256_file(file: File) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def _table_source(file: File):
    """What ``inputs.parse_table`` reads: a path when the upload is on disk, else its bytes."""
    path = getattr(file, "temporary_file_path", None)
    if path is not None:
        return path()
    file.seek(0)
    data = file.read()
    file.seek(0)
    return data


def _stored_source(field_file):
    try:
        return field_file.path
    except (NotImplementedError, ValueError):
        with field_file.open("rb") as handle:
            return handle.read()


def _file_format(file: File, file_format) -> str:
    if file_format not in (None, ""):
        if file_format not in FILE_FORMATS:
            _fail("file_format", "must be 'csv' or 'parquet'")
        return file_format
    name = PurePath(getattr(file, "name", "") or "")
    suffix = name.suffix.lower()
    if suffix == ".gz":  # a gzip-compressed CSV (the only compression accepted for CSV)
        suffix = PurePath(name.stem).suffix.lower()
        if suffix != ".csv":
            _fail("file_format", "only CSV may be gzip-compressed (name it .csv.gz); Parquet compresses inside")
    if suffix not in FORMAT_BY_SUFFIX:
        _fail("file_format", "cannot be inferred from the file name; give file_format 'csv' or 'parquet'")
    return FORMAT_BY_SUFFIX[suffix]


def _check_file_size(file: File) -> None:
    size = getattr(file, "size", None)
    if size is not None and size > settings.MAX_UPLOAD_BYTES:
        _fail("file", f"the file has {size} bytes, more than the limit of {settings.MAX_UPLOAD_BYTES}", PayloadTooLarge)


def _limits() -> dict:
    """The caps on what any process reads from a table into memory (docs/operations.md)."""
    return {"max_rows": settings.EVALUATION_MAX_ROWS, "max_bytes": settings.EVALUATION_MAX_DECOMPRESSED_BYTES}


def _upload_limits(kind: str) -> dict:
    """The caps on an uploaded table: kinds computed out of core by a worker (bounded memory) take
    the out-of-core caps, the others the in-memory ones."""
    if kind in outofcore.KINDS:
        return {
            "max_rows": settings.EVALUATION_OUT_OF_CORE_MAX_ROWS,
            "max_bytes": settings.EVALUATION_OUT_OF_CORE_MAX_BYTES,
            "names": ("EVALUATION_OUT_OF_CORE_MAX_ROWS", "EVALUATION_OUT_OF_CORE_MAX_BYTES"),
        }
    return _limits()


def _out_of_core(evaluation: Evaluation, spec: dict) -> bool:
    """A stored table of a kind the out-of-core path computes, too large for the in-memory path: more
    rows than EVALUATION_OUT_OF_CORE_MIN_ROWS (Parquet metadata), or a CSV measured too large to read
    in the request (its rows are unknown until read)."""
    if evaluation.kind not in outofcore.KINDS or spec.get("format") not in FILE_FORMATS:
        return False
    rows = evaluation.input_rows
    return (rows is None and spec.get("format") == "csv") or (rows or 0) > settings.EVALUATION_OUT_OF_CORE_MIN_ROWS


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


def _rows(parsed: inputs_core.Parsed) -> int:
    """Rows of the input: for drift the reference and current rows together."""
    if parsed.kind == EvaluationKind.DRIFT:
        ref = next(iter(parsed.sample("reference").values()), ())
        cur = next(iter(parsed.sample("current").values()), ())
        return len(ref) + len(cur)
    return parsed.n_rows


def _reference_sample(version: ModelVersion, sample_id: int | None = None) -> ReferenceSample | None:
    qs = ReferenceSample.objects.filter(model_version=version)
    return qs.filter(pk=sample_id).first() if sample_id else qs.order_by("-created_at", "-id").first()


def _parse_reference(sample: ReferenceSample) -> inputs_core.Parsed:
    return inputs_core.parse_table(
        "drift",
        _stored_source(sample.file),
        file_format=sample.file_format,
        columns=sample.columns,
        role="reference",
        **_limits(),
    )


def _reference(
    version: ModelVersion, sample_id: int | None = None
) -> tuple[ReferenceSample | None, inputs_core.Parsed | None]:
    sample = _reference_sample(version, sample_id)
    if sample is None:
        return None, None
    return sample, _parse_reference(sample)


# ---------------------------------------------------------------------------------------------
# computation (pure given a Parsed)
# ---------------------------------------------------------------------------------------------


def compute(kind: str, parsed: inputs_core.Parsed, params: dict, thresholds: list[dict]) -> dict:
    """Run the core for ``kind`` and split its output into the Evaluation's columns."""
    if kind == EvaluationKind.FAIRNESS:
        out = compute_fairness(
            parsed,
            min_group_size=params.get("min_group_size", settings.EVALUATION_MIN_GROUP_SIZE),
            favourable_outcome=params.get("favourable_outcome", 1),
        )
    elif kind == EvaluationKind.DRIFT:
        out = drift_core.compute_drift(parsed, params={k: v for k, v in params.items() if k != "categorical"})
    else:
        out = performance_core.compute_performance(parsed, params=params)
    return _split(kind, out, thresholds)


def _split(kind: str, out: dict, thresholds: list[dict]) -> dict:
    """A kernel's output split into the Evaluation's columns, with its checks."""
    return {
        "metrics": dict(out["metrics"]),
        "params": dict(out["params"]),
        "library_versions": dict(out["library_versions"]),
        "warnings": list(out.get("warnings", [])),
        "checks": checks_core.evaluate_checks(kind, out, thresholds),
        "result": {k: v for k, v in out.items() if k not in OWN_COLUMNS},
    }


def _validate_compute_params(kind: str, parsed: inputs_core.Parsed, params: dict) -> None:
    """The core validates its parameters when it computes; do it now so a queued input never fails on them."""
    if kind == EvaluationKind.DRIFT:
        drift_core._params(params, parsed)  # the core's own validator
    elif kind == EvaluationKind.PERFORMANCE:
        performance_core._params(params, parsed)


# ---------------------------------------------------------------------------------------------
# creation
# ---------------------------------------------------------------------------------------------


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
        _fail("file", "reported metrics are sent inline as data {metric: number}, not as a file")
    if data is None:
        _fail("data", "is required: a dictionary of metric names to numbers")
    if not isinstance(data, Mapping) or not data:
        _fail("data", "must be a non-empty dictionary of metric names to numbers")
    if len(data) > MAX_REPORTED_METRICS:
        _fail("data", f"at most {MAX_REPORTED_METRICS} metrics")
    metrics = {}
    for name, value in data.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            _fail("data", f"metric names must be 1-64 letters, digits or _ . : - (got {name!r})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(f"data.{name}", "must be a finite number")
        metrics[name] = value
    for i, t in enumerate(p.thresholds):
        if t["metric"] not in metrics:
            # checks.evaluate_checks cannot name the known metrics of a "reported" result (metric_names
            # has no "reported" kind), so unknown names are refused here.
            _fail(
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
        _fail("file", "give the data inline (data) or as a file, not both")
    if data is None and file is None:
        _fail("data", "is required: inline JSON data, or upload a CSV or Parquet file with its columns")
    sample, reference = (None, None)
    needs_reference = p.kind == EvaluationKind.DRIFT and (
        file is not None or (isinstance(data, Mapping) and "reference" not in data)
    )
    if needs_reference:
        sample = _reference_sample(p.version)
    if file is not None:
        _check_file_size(file)
        fmt = _file_format(file, file_format)
        if columns is None:
            _fail("columns", "is required with a file: a JSON object mapping roles to column names")
        if not isinstance(columns, Mapping):
            _fail("columns", "must be an object mapping roles to column names")
        source = _table_source(file)
        # Measure before reading: Parquet metadata, or the CSV stream decompressed up to the in-request
        # budget and no further. A table over the caps is refused; a large one goes to a worker unread.
        size = inputs_core.table_size(source, fmt, budget=settings.EVALUATION_SYNC_MAX_BYTES)
        inputs_core.check_table_limits(size, **_upload_limits(p.kind))
        p.file = file
        p.input = {
            "format": fmt,
            "columns": columns,
            "file_name": PurePath(file.name or "").name[:200],
            "file_sha256": _sha256_file(file),
            "compression": size.compression,
        }
        if not size.within_budget or (size.rows or 0) > settings.EVALUATION_SYNC_MAX_ROWS:
            p.large = True
            p.rows = size.rows
            p.nbytes = size.decompressed_bytes or file.size or 0
            if p.kind == EvaluationKind.DRIFT and sample is None:
                _fail(
                    "reference",
                    "a reference sample is required: register one for the version "
                    "(POST /api/v1/versions/{id}/reference/)",
                )
            if sample is not None:
                p.input.update({"reference_sample": sample.pk, "reference_sha256": sample.sha256})
            used = {"threshold": inputs_core._threshold(p.params)} if "threshold" in p.params else {}
            _validate_compute_params(p.kind, inputs_core.Parsed(kind=p.kind, arrays={}, params=used), p.params)
            return
        if sample is not None:
            reference = _parse_reference(sample)
        p.parsed = inputs_core.parse_table(
            p.kind,
            size.data if size.data is not None else source,
            file_format=fmt,
            columns=columns,
            reference=reference,
            params=p.params,
            **_limits(),
        )
        p.nbytes = size.decompressed_bytes or file.size or 0
    else:
        if columns is not None or file_format not in (None, ""):
            _fail("columns" if columns is not None else "file_format", "only used with an uploaded file")
        if sample is not None:
            reference = _parse_reference(sample)
        p.parsed = inputs_core.parse_inline(p.kind, data, params=p.params, reference=reference)
        p.nbytes = (
            input_bytes if input_bytes is not None else len(json.dumps(data, separators=(",", ":"), default=_jsonable))
        )
        p.data = data
        p.input = {"format": "json"}
    if p.kind == EvaluationKind.DRIFT and not p.parsed.has_reference:
        _fail(
            "data.reference",
            "a reference sample is required: inline, or registered for the version "
            "(POST /api/v1/versions/{id}/reference/)",
        )
    if sample is not None:
        p.input.update({"reference_sample": sample.pk, "reference_sha256": sample.sha256})
    _check_feature_thresholds(p.thresholds, p.parsed)
    _validate_compute_params(p.kind, p.parsed, p.params)
    p.digest = inputs_core.input_sha256(p.parsed)
    p.rows = _rows(p.parsed)
    if p.sync:
        p.computed = compute(p.kind, p.parsed, p.params, p.thresholds)
        p.computed["library_versions"] = _library_versions(_reads_tables(p.input))


def _details(evaluation: Evaluation) -> dict:
    """What an audit event says about an evaluation: its input digest and (when done) metrics and checks.
    Small enough for an audit record: per-group and per-feature rows stay in the evaluation."""
    details = {
        "kind": evaluation.kind,
        "dataset": evaluation.dataset,
        "source": evaluation.source,
        "status": evaluation.status,
        "input_sha256": evaluation.input_sha256,
        "input_rows": evaluation.input_rows,
    }
    inp = (evaluation.result or {}).get("input") or {}
    details["input"] = {
        k: inp[k] for k in ("format", "file_sha256", "reference_sample", "reference_sha256") if k in inp
    }
    if evaluation.status in (EvaluationStatus.DONE, EvaluationStatus.FAILED):
        details.update(
            {
                "params": evaluation.params,
                "library_versions": evaluation.library_versions,
                "thresholds": evaluation.thresholds,
            }
        )
    if evaluation.status == EvaluationStatus.DONE:
        details.update(
            {
                "metrics": evaluation.metrics,
                "checks": evaluation.checks,
                "passed": evaluation.passed,
                "warnings": len(evaluation.warnings),
            }
        )
    if evaluation.status == EvaluationStatus.FAILED:
        details["failure_reason"] = evaluation.failure_reason[:2000]
    for key in ("params", "checks", "thresholds"):  # keep the record well under the audit log's size limit
        if key in details and len(json.dumps(details, default=str)) > MAX_AUDIT_DETAIL_BYTES:
            details[key] = {
                "sha256": hashlib.sha256(json.dumps(details[key], sort_keys=True, default=str).encode()).hexdigest(),
                "omitted": "too large for the record",
            }
    return details


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
    info = _input_summary(kind=kind, dataset=dataset)
    with refusals(by, "evaluation.create", target, details=info):
        by.require_role(*POST_ROLES, reason="only pipelines, developers, validators and risk officers post evaluations")
        version = _resolve_version(model_version)
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
        audit.add("evaluation.create", evaluation_target(evaluation), details=_details(evaluation))
        _announce_if_failed(evaluation)
        if evaluation.status == EvaluationStatus.QUEUED:
            announce("evaluation.queued", evaluation_id=evaluation.pk, by=by.as_context())
        else:
            _recorded(evaluation, by)
    evaluation.was_queued = evaluation.status == EvaluationStatus.QUEUED  # for the API's 201 / 202
    return evaluation


def _recorded(evaluation: Evaluation, by: Principal) -> None:
    """Announce new evidence (inside the unit; subscribers, e.g. the workflow's gate refresh, run
    after the commit)."""
    announce("evaluation.recorded", evaluation_id=evaluation.pk, by=by.as_context())


# ---------------------------------------------------------------------------------------------
# the queued path (Celery)
# ---------------------------------------------------------------------------------------------


def evaluation_start(*, by: Principal, evaluation_id: int, runner: dict | None = None) -> Evaluation | None:
    """queued -> running (audited). Returns None when the evaluation is already finished. A running one
    (a redelivered task whose worker died) starts again: its start time and runner are renewed (audited
    as ``evaluation.start`` with ``restart: true``) and the computation is retried. ``runner`` names the
    process computing it (``governance.evaluations.jobs.runner_identity``) so a reaper can tell a live
    computation from an orphan."""
    with audit_unit(by.actor) as audit:
        evaluation = Evaluation.objects.select_for_update().select_related("model_version__model").get(pk=evaluation_id)
        if evaluation.status not in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING):
            return None
        restart = evaluation.status == EvaluationStatus.RUNNING
        evaluation.status = EvaluationStatus.RUNNING
        evaluation.started_at = timezone.now()
        evaluation.result = {**(evaluation.result or {}), "runner": dict(runner or {})}
        evaluation.save()
        details = _details(evaluation)
        if restart:
            details["restart"] = True
        if runner:
            details["runner"] = {k: str(v)[:200] for k, v in runner.items()}
        audit.add("evaluation.start", evaluation_target(evaluation), details=details)
    return evaluation


def evaluation_requeue(*, by: Principal, evaluation_id: int, reason: str) -> Evaluation | None:
    """running -> queued again, with the reason (audited ``evaluation.requeue``); the task is sent again
    after commit. Used by the reaper for a computation whose worker stopped; at most once per evaluation
    (``result.requeued``): a second stale run fails instead."""
    with audit_unit(by.actor) as audit:
        evaluation = Evaluation.objects.select_for_update().select_related("model_version__model").get(pk=evaluation_id)
        if evaluation.status != EvaluationStatus.RUNNING or (evaluation.result or {}).get("requeued"):
            return None
        evaluation.status = EvaluationStatus.QUEUED
        evaluation.result = {
            **{k: v for k, v in (evaluation.result or {}).items() if k != "runner"},
            "requeued": (reason or "requeued")[:500],
        }
        evaluation.save()
        details = _details(evaluation)
        details["reason"] = (reason or "requeued")[:500]
        audit.add("evaluation.requeue", evaluation_target(evaluation), details=details)
        announce("evaluation.queued", evaluation_id=evaluation.pk, by=by.as_context())
    return evaluation


def _check_stored_file(evaluation: Evaluation, spec: dict) -> None:
    """Refuse a stored input file whose bytes changed after the digest taken when it was received."""
    if not spec.get("file_sha256"):
        return
    with evaluation.input_file.open("rb") as handle:
        digest = _sha256_file(File(handle))
    if digest != spec["file_sha256"]:
        raise ValidationFailed(
            f"the stored input file changed after it was received: its SHA-256 is {digest}, "
            f"the digest taken at creation was {spec['file_sha256']}; post the evaluation again",
            field="file",
        )


def _compute_out_of_core(evaluation: Evaluation, spec: dict) -> dict:
    """The worker's out-of-core path (governance.evaluations.outofcore, DuckDB): bounded memory, results
    equal to the in-memory path. The input digest is the SHA-256 of the file's exact bytes."""
    _check_stored_file(evaluation, spec)
    reference = None
    if spec.get("reference_sample"):
        sample, reference = _reference(evaluation.model_version, spec["reference_sample"])
        if sample is None or sample.sha256 != spec.get("reference_sha256"):
            raise ValidationFailed("the registered reference sample is missing or changed", field="reference")
    params = evaluation.params
    pk = evaluation.pk

    def progress(stage: str, fraction: float, rows: int = 0) -> None:
        logger.info("evaluation %s out of core: %s (%.0f%%)", pk, stage, 100 * fraction)

    out, rows = outofcore.compute(
        evaluation.kind,
        _stored_source(evaluation.input_file),
        file_format=spec["format"],
        columns=spec.get("columns") or {},
        params={k: v for k, v in params.items() if k != "categorical"}
        if evaluation.kind == EvaluationKind.DRIFT
        else params,
        reference=reference,
        min_group_size=params.get("min_group_size", settings.EVALUATION_MIN_GROUP_SIZE),
        memory_limit=settings.EVALUATION_OUT_OF_CORE_MEMORY,
        threads=settings.EVALUATION_OUT_OF_CORE_THREADS,
        max_bytes=settings.EVALUATION_OUT_OF_CORE_MAX_BYTES,
        progress=progress,
    )
    if evaluation.kind == EvaluationKind.DRIFT:
        types = {f["feature"]: f["type"] for f in out["features"]}
        _check_feature_thresholds(
            evaluation.thresholds, inputs_core.Parsed(kind="drift", arrays={}, feature_types=types)
        )
    computed = _split(evaluation.kind, out, evaluation.thresholds)
    computed["library_versions"]["duckdb"] = outofcore.duckdb_version()
    computed["result"]["computed_out_of_core"] = True
    computed["input_sha256"] = spec["file_sha256"]
    computed["input_rows"] = rows + (len(next(iter(reference.sample("reference").values()))) if reference else 0)
    return computed


def _load_parsed(evaluation: Evaluation) -> inputs_core.Parsed:
    spec = (evaluation.result or {}).get("input") or {}
    reference = None
    if spec.get("reference_sample"):
        sample, reference = _reference(evaluation.model_version, spec["reference_sample"])
        if sample is None or sample.sha256 != spec.get("reference_sha256"):
            raise ValidationFailed("the registered reference sample is missing or changed", field="reference")
    if spec.get("format") == "json":
        with evaluation.input_file.open("rb") as handle:
            data = json.loads(handle.read())
        return inputs_core.parse_inline(evaluation.kind, data, params=evaluation.params, reference=reference)
    _check_stored_file(evaluation, spec)
    return inputs_core.parse_table(
        evaluation.kind,
        _stored_source(evaluation.input_file),
        file_format=spec.get("format"),
        columns=spec.get("columns") or {},
        reference=reference,
        params=evaluation.params,
        **_limits(),
    )


def evaluation_complete(*, by: Principal, evaluation_id: int, computed: dict) -> Evaluation | None:
    """running -> done with the computed metrics (audited with the input digest and the metrics)."""
    with audit_unit(by.actor) as audit:
        evaluation = Evaluation.objects.select_for_update().select_related("model_version__model").get(pk=evaluation_id)
        if evaluation.status != EvaluationStatus.RUNNING:
            return None
        evaluation.status = EvaluationStatus.DONE
        evaluation.finished_at = timezone.now()
        evaluation.params = computed["params"]
        evaluation.library_versions = {**evaluation.library_versions, **computed["library_versions"]}
        evaluation.metrics, evaluation.checks = computed["metrics"], computed["checks"]
        evaluation.warnings = computed["warnings"]
        evaluation.result = {**computed["result"], "input": (evaluation.result or {}).get("input", {})}
        if not evaluation.input_sha256:  # a large input, measured but not read at creation
            evaluation.input_sha256 = computed.get("input_sha256", "")
            evaluation.input_rows = computed.get("input_rows")
        evaluation.save()
        audit.add("evaluation.complete", evaluation_target(evaluation), details=_details(evaluation))
        _announce_if_failed(evaluation)
        _recorded(evaluation, by)
    return evaluation


def _announce_if_failed(evaluation: Evaluation) -> None:
    """A finished evaluation whose own checks (thresholds) fail is announced (after the commit)."""
    if evaluation.status == EvaluationStatus.DONE and evaluation.passed is False:
        failing = [check for check in evaluation.checks if not check.get("passed")]
        announce("evaluation.gate_failed", evaluation_id=evaluation.pk, checks=failing)


def evaluation_fail(*, by: Principal, evaluation_id: int, reason: str) -> Evaluation | None:
    """queued or running -> failed with a reason (audited)."""
    with audit_unit(by.actor) as audit:
        evaluation = Evaluation.objects.select_for_update().select_related("model_version__model").get(pk=evaluation_id)
        if evaluation.status not in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING):
            return None
        evaluation.status = EvaluationStatus.FAILED
        evaluation.finished_at = timezone.now()
        evaluation.failure_reason = (reason or "failed")[:5000]
        evaluation.save()
        audit.add("evaluation.fail", evaluation_target(evaluation), details=_details(evaluation))
    return evaluation


def evaluation_run(*, by: Principal, evaluation_id: int, runner: dict | None = None) -> Evaluation | None:
    """The worker's job: start, re-read and re-digest the stored input, compute, complete or fail.
    Idempotent: a finished evaluation is left alone, a running one (redelivered) is computed again."""
    evaluation = evaluation_start(by=by, evaluation_id=evaluation_id, runner=runner)
    if evaluation is None:
        return None
    try:
        spec = (evaluation.result or {}).get("input") or {}
        if _out_of_core(evaluation, spec):
            computed = _compute_out_of_core(evaluation, spec)
            evaluation = evaluation_complete(by=by, evaluation_id=evaluation_id, computed=computed)
            if evaluation is not None:
                _recorded(evaluation, by)
            return evaluation
        parsed = _load_parsed(evaluation)
        digest = inputs_core.input_sha256(parsed)
        if evaluation.input_sha256 and digest != evaluation.input_sha256:
            raise ValidationFailed(
                f"the stored input's digest {digest} differs from the digest recorded at "
                f"creation {evaluation.input_sha256}",
                field="input_sha256",
            )
        if evaluation.kind == EvaluationKind.DRIFT:
            _check_feature_thresholds(evaluation.thresholds, parsed)
        computed = compute(evaluation.kind, parsed, evaluation.params, evaluation.thresholds)
        computed["input_sha256"], computed["input_rows"] = digest, _rows(parsed)
    except DomainError as exc:
        return evaluation_fail(by=by, evaluation_id=evaluation_id, reason=exc.message)
    except Exception as exc:
        logger.exception("evaluation %s failed", evaluation_id)
        return evaluation_fail(
            by=by, evaluation_id=evaluation_id, reason=f"internal error: {type(exc).__name__}: {exc}"
        )
    return evaluation_complete(by=by, evaluation_id=evaluation_id, computed=computed)


# ---------------------------------------------------------------------------------------------
# reference samples
# ---------------------------------------------------------------------------------------------


def reference_sample_register(
    *, by: Principal, model_version, file: File | None, file_format: str | None = None, columns=None
) -> ReferenceSample:
    """Store a version's reference sample for drift (a CSV/Parquet table, validated by parsing it as a
    reference) with its SHA-256. Later drift evaluations of the version may omit the reference."""
    target = {"type": "model_version", "id": str(getattr(model_version, "pk", model_version))[:100]}
    with refusals(by, "reference_sample.create", target):
        by.require_role(
            *POST_ROLES, reason="only pipelines, developers, validators and risk officers register reference samples"
        )
        version = _resolve_version(model_version)
        target.update(version_target(version))
        if file is None:
            _fail("file", "is required: a CSV or Parquet table")
        _check_file_size(file)
        fmt = _file_format(file, file_format)
        if columns is None:
            _fail("columns", 'is required: {"features": [...], "categorical": [...]}')
        if not isinstance(columns, Mapping):
            _fail("columns", "must be an object")
        source = _table_source(file)
        size = inputs_core.table_size(source, fmt, budget=settings.EVALUATION_SYNC_MAX_BYTES)
        inputs_core.check_table_limits(size, **_limits())
        if not size.within_budget or (size.rows or 0) > settings.EVALUATION_SYNC_MAX_ROWS:
            _fail(
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
            columns=columns,
            role="reference",
            **_limits(),
        )
    sample = ReferenceSample(
        model_version=version,
        file_format=fmt,
        sha256=_sha256_file(file),
        columns=dict(columns),
        rows=_rows(parsed),
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
            },
        )
    return sample

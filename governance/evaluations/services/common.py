"""What the evaluation services share: audit targets and details, field refusals, the model
version, uploaded and stored tables, the caps, registered reference samples, and the announcements."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.files.base import File

from audit.state import json_sha256
from governance.accounts.principal import Principal
from governance.accounts.roles import DEVELOPER, PIPELINE, RISK_OFFICER, VALIDATOR
from governance.common.errors import DomainError, PayloadTooLarge, ValidationFailed
from governance.common.events import announce
from governance.evaluations import drift as drift_core
from governance.evaluations import inputs as inputs_core
from governance.evaluations.models import (
    Evaluation,
    EvaluationKind,
    EvaluationStatus,
    ReferenceSample,
)
from governance.registry.models import ModelVersion

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


def input_summary(**values) -> dict:
    """What a refusal records about the caller's own values: short strings, nothing empty."""
    return {k: str(v)[:200] for k, v in values.items() if isinstance(v, str) and v}


def fail(field_name: str, message: str, error: type[DomainError] = ValidationFailed):
    raise error(f"{field_name}: {message}", field=field_name)


def check_feature_thresholds(thresholds: list[dict], parsed: inputs_core.Parsed) -> None:
    for i, t in enumerate(thresholds):
        stat, sep, feature = t["metric"].partition(":")
        if not sep:
            continue
        ftype = parsed.feature_types.get(feature)
        if ftype is None:
            fail(
                f"thresholds[{i}].metric",
                f"unknown feature {feature!r} (features: {', '.join(sorted(parsed.feature_types))})",
            )
        numeric_only = {"ks_statistic", "ks_pvalue", "wasserstein_normalized"}
        categorical_only = {"chi2_statistic", "chi2_pvalue"}
        if (ftype == inputs_core.CATEGORICAL and stat in numeric_only) or (
            ftype == inputs_core.NUMERIC and stat in categorical_only
        ):
            fail(f"thresholds[{i}].metric", f"statistic {stat!r} does not apply to {ftype} feature {feature!r}")


def sha256_file(file: File) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def table_source(file: File):
    """What ``inputs.parse_table`` reads: a path when the upload is on disk, else its bytes."""
    path = getattr(file, "temporary_file_path", None)
    if path is not None:
        return path()
    file.seek(0)
    data = file.read()
    file.seek(0)
    return data


def stored_source(field_file):
    try:
        return field_file.path
    except (NotImplementedError, ValueError):
        with field_file.open("rb") as handle:
            return handle.read()


def table_format(file: object, file_format) -> str:
    """The table's format: as given, else from the name of ``file`` (an upload, or anything with a ``name``)."""
    if file_format not in (None, ""):
        if file_format not in FILE_FORMATS:
            fail("file_format", "must be 'csv' or 'parquet'")
        return file_format
    name = PurePath(getattr(file, "name", "") or "")
    suffix = name.suffix.lower()
    if suffix == ".gz":  # a gzip-compressed CSV (the only compression accepted for CSV)
        suffix = PurePath(name.stem).suffix.lower()
        if suffix != ".csv":
            fail("file_format", "only CSV may be gzip-compressed (name it .csv.gz); Parquet compresses inside")
    if suffix not in FORMAT_BY_SUFFIX:
        fail("file_format", "cannot be inferred from the file name; give file_format 'csv' or 'parquet'")
    return FORMAT_BY_SUFFIX[suffix]


def check_file_size(file: File) -> None:
    size = getattr(file, "size", None)
    if size is not None and size > settings.MAX_UPLOAD_BYTES:
        fail("file", f"the file has {size} bytes, more than the limit of {settings.MAX_UPLOAD_BYTES}", PayloadTooLarge)


def limits() -> dict:
    """The caps on what any process reads from a table into memory (docs/operations.md)."""
    return {"max_rows": settings.EVALUATION_MAX_ROWS, "max_bytes": settings.EVALUATION_MAX_DECOMPRESSED_BYTES}


def input_row_count(parsed: inputs_core.Parsed) -> int:
    """Rows of the input: for drift the reference and current rows together."""
    if parsed.kind == EvaluationKind.DRIFT:
        ref = next(iter(parsed.sample("reference").values()), ())
        cur = next(iter(parsed.sample("current").values()), ())
        return len(ref) + len(cur)
    return parsed.n_rows


def reference_sample_for(version: ModelVersion, sample_id: int | None = None) -> ReferenceSample | None:
    qs = ReferenceSample.objects.filter(model_version=version)
    return qs.filter(pk=sample_id).first() if sample_id else qs.order_by("-created_at", "-id").first()


def parse_reference(sample: ReferenceSample) -> inputs_core.Parsed:
    return inputs_core.parse_table(
        "drift",
        stored_source(sample.file),
        file_format=sample.file_format,
        columns=sample.columns,
        role="reference",
        **limits(),
    )


def load_reference(
    version: ModelVersion, sample_id: int | None = None
) -> tuple[ReferenceSample | None, inputs_core.Parsed | None]:
    sample = reference_sample_for(version, sample_id)
    if sample is None:
        return None, None
    return sample, parse_reference(sample)


def audit_details(evaluation: Evaluation) -> dict:
    """What an audit event says about an evaluation: its input digest, (when done) metrics and checks, and
    the SHA-256 of its whole stored result. Small enough for an audit record: per-group and per-feature
    rows stay in the evaluation, the digest stands for them. Called after the evaluation is saved."""
    details: dict[str, Any] = {
        "kind": evaluation.kind,
        "dataset": evaluation.dataset,
        "source": evaluation.source,
        "status": evaluation.status,
        "input_sha256": evaluation.input_sha256,
        "input_rows": evaluation.input_rows,
    }
    # Of the whole result (per-group and per-feature detail included) as the database returns it after
    # the save: a replay compares it with the stored result (audit.state, evaluations/state.py).
    details["result_sha256"] = json_sha256(Evaluation.objects.values_list("result", flat=True).get(pk=evaluation.pk))
    inp = (evaluation.result or {}).get("input") or {}
    details["input"] = {
        k: inp[k] for k in ("format", "file_sha256", "uri", "reference_sample", "reference_sha256") if k in inp
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


def announce_recorded(evaluation: Evaluation, by: Principal) -> None:
    """Announce new evidence (inside the unit; subscribers, e.g. the workflow's gate refresh, run
    after the commit)."""
    announce("evaluation.recorded", evaluation_id=evaluation.pk, by=by.as_context())


def announce_if_failed(evaluation: Evaluation) -> None:
    """A finished evaluation whose own checks (thresholds) fail is announced (after the commit)."""
    if evaluation.status == EvaluationStatus.DONE and evaluation.passed is False:
        failing = [check for check in evaluation.checks if not check.get("passed")]
        announce("evaluation.gate_failed", evaluation_id=evaluation.pk, checks=failing)

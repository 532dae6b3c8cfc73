"""The queued path (Celery) and the state machine: queued -> running -> done or failed, with
requeue for a computation whose worker stopped."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.files.base import File
from django.utils import timezone

from audit.services import audit_unit
from governance.accounts.principal import Principal
from governance.common.errors import DomainError, ValidationFailed
from governance.common.events import announce
from governance.evaluations import inputs as inputs_core
from governance.evaluations import outofcore
from governance.evaluations.models import (
    Evaluation,
    EvaluationKind,
    EvaluationStatus,
)
from governance.evaluations.services.common import (
    FILE_FORMATS,
    announce_if_failed,
    announce_recorded,
    audit_details,
    check_feature_thresholds,
    evaluation_target,
    input_row_count,
    limits,
    load_reference,
    sha256_file,
    stored_source,
)
from governance.evaluations.services.computation import (
    compute,
    split_output,
)

logger = logging.getLogger(__name__)


def _out_of_core(evaluation: Evaluation, spec: dict) -> bool:
    """A stored table of a kind the out-of-core path computes, too large for the in-memory path: more
    rows than EVALUATION_OUT_OF_CORE_MIN_ROWS (Parquet metadata), or a CSV measured too large to read
    in the request (its rows are unknown until read)."""
    if evaluation.kind not in outofcore.KINDS or spec.get("format") not in FILE_FORMATS:
        return False
    rows = evaluation.input_rows
    return (rows is None and spec.get("format") == "csv") or (rows or 0) > settings.EVALUATION_OUT_OF_CORE_MIN_ROWS


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
        details = audit_details(evaluation)
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
        details = audit_details(evaluation)
        details["reason"] = (reason or "requeued")[:500]
        audit.add("evaluation.requeue", evaluation_target(evaluation), details=details)
        announce("evaluation.queued", evaluation_id=evaluation.pk, by=by.as_context())
    return evaluation


def _check_stored_file(evaluation: Evaluation, spec: dict) -> None:
    """Refuse a stored input file whose bytes changed after the digest taken when it was received."""
    if not spec.get("file_sha256"):
        return
    with evaluation.input_file.open("rb") as handle:
        digest = sha256_file(File(handle))
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
        sample, reference = load_reference(evaluation.model_version, spec["reference_sample"])
        if sample is None or sample.sha256 != spec.get("reference_sha256"):
            raise ValidationFailed("the registered reference sample is missing or changed", field="reference")
    params = evaluation.params
    pk = evaluation.pk

    def progress(stage: str, fraction: float) -> None:
        logger.info("evaluation %s out of core: %s (%.0f%%)", pk, stage, 100 * fraction)

    out, rows = outofcore.compute(
        evaluation.kind,
        stored_source(evaluation.input_file),
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
        check_feature_thresholds(
            evaluation.thresholds, inputs_core.Parsed(kind="drift", arrays={}, feature_types=types)
        )
    computed = split_output(evaluation.kind, out, evaluation.thresholds)
    computed["library_versions"]["duckdb"] = outofcore.duckdb_version()
    computed["result"]["computed_out_of_core"] = True
    computed["input_sha256"] = spec["file_sha256"]
    computed["input_rows"] = rows + (len(next(iter(reference.sample("reference").values()))) if reference else 0)
    return computed


def _load_parsed(evaluation: Evaluation) -> inputs_core.Parsed:
    spec = (evaluation.result or {}).get("input") or {}
    reference = None
    if spec.get("reference_sample"):
        sample, reference = load_reference(evaluation.model_version, spec["reference_sample"])
        if sample is None or sample.sha256 != spec.get("reference_sha256"):
            raise ValidationFailed("the registered reference sample is missing or changed", field="reference")
    if spec.get("format") == "json":
        with evaluation.input_file.open("rb") as handle:
            data = json.loads(handle.read())
        return inputs_core.parse_inline(evaluation.kind, data, params=evaluation.params, reference=reference)
    _check_stored_file(evaluation, spec)
    return inputs_core.parse_table(
        evaluation.kind,
        stored_source(evaluation.input_file),
        file_format=spec.get("format"),
        columns=spec.get("columns") or {},
        reference=reference,
        params=evaluation.params,
        **limits(),
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
        audit.add("evaluation.complete", evaluation_target(evaluation), details=audit_details(evaluation))
        announce_if_failed(evaluation)
        announce_recorded(evaluation, by)
    return evaluation


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
        audit.add("evaluation.fail", evaluation_target(evaluation), details=audit_details(evaluation))
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
                announce_recorded(evaluation, by)
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
            check_feature_thresholds(evaluation.thresholds, parsed)
        computed = compute(evaluation.kind, parsed, evaluation.params, evaluation.thresholds)
        computed["input_sha256"], computed["input_rows"] = digest, input_row_count(parsed)
    except DomainError as exc:
        return evaluation_fail(by=by, evaluation_id=evaluation_id, reason=exc.message)
    except Exception as exc:
        logger.exception("evaluation %s failed", evaluation_id)
        return evaluation_fail(
            by=by, evaluation_id=evaluation_id, reason=f"internal error: {type(exc).__name__}: {exc}"
        )
    return evaluation_complete(by=by, evaluation_id=evaluation_id, computed=computed)

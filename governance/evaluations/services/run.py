"""The queued path (Celery) and the state machine: queued -> running -> done or failed, with
requeue for a computation whose worker stopped."""

from __future__ import annotations

import json
import logging
import time
from typing import cast

from django.conf import settings
from django.core.files.base import File
from django.utils import timezone

import governance.evaluations.services.paths as paths
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

PROGRESS_INTERVAL_SECONDS = 1.0


class _ProgressRecorder:
    """Writes a running evaluation's ``progress`` (stage, rows read, percent): bookkeeping that the API,
    the admin and the version page show while a worker computes, and that tells the reaper the
    computation is alive. Not evidence, so not audited; written at most once a second (and at each new
    stage), and only while the evaluation is ``running``."""

    def __init__(self, evaluation_id: int, rows_total: int | None):
        self.evaluation_id = evaluation_id
        self.rows_total = rows_total
        self.last = 0.0
        self.stage = ""

    def __call__(self, stage: str, fraction: float, rows: int | None = 0) -> None:
        now = time.monotonic()
        if stage == self.stage and now - self.last < PROGRESS_INTERVAL_SECONDS:
            return
        self.stage, self.last = stage, now
        progress = {
            "stage": stage,
            "rows_read": None if rows is None else int(rows),  # None: not known yet (a CSV being loaded)
            "rows_total": self.rows_total,
            "percent": round(100.0 * min(max(fraction, 0.0), 1.0), 1),
            "updated_at": timezone.now().isoformat(),
        }
        Evaluation.objects.filter(pk=self.evaluation_id, status=EvaluationStatus.RUNNING).update(progress=progress)
        read = "rows read not known yet" if rows is None else f"{int(rows)} rows read"
        logger.info("evaluation %s: %s (%.1f%%, %s)", self.evaluation_id, stage, progress["percent"], read)


def out_of_core(evaluation: Evaluation, spec: dict) -> bool:
    """A stored table of a kind the out-of-core path computes, too large for the in-memory path: more
    rows than EVALUATION_OUT_OF_CORE_MIN_ROWS (Parquet metadata), or a CSV measured too large to read
    in the request (its rows are unknown until read)."""
    if evaluation.kind not in outofcore.KINDS or spec.get("format") not in FILE_FORMATS:
        return False
    if spec.get("path"):  # referenced by path: always read in place by the engine
        return True
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
        evaluation.progress = {
            "stage": "started",
            "rows_read": 0,
            "rows_total": evaluation.input_rows,
            "percent": 0.0,
            "updated_at": evaluation.started_at.isoformat(),
        }
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


def checked_input(evaluation: Evaluation, spec: dict) -> tuple[str, str]:
    """(where the engine reads the input, the SHA-256 of its exact bytes), after checking it is the file
    that was received or referenced (a changed file is refused)."""
    if spec.get("path"):
        if str(paths.resolve(spec.get("uri"))) != spec["path"]:
            raise ValidationFailed(
                f"{paths.FIELD}: now names another file than when it was referenced", field=paths.FIELD
            )
        return spec["path"], paths.digest(spec["path"], spec["stat"])
    _check_stored_file(evaluation, spec)
    return stored_source(evaluation.input_file), spec["file_sha256"]


def input_source(evaluation: Evaluation, spec: dict) -> str:
    """Where the engine reads the input (no digest: see ``checked_input``); a path input is refused if
    it changed since it was referenced."""
    if spec.get("path"):
        paths.check_unchanged(spec["path"], spec["stat"], "after its digest was taken")
        return spec["path"]
    return stored_source(evaluation.input_file)


def input_reference(evaluation: Evaluation, spec: dict) -> inputs_core.Parsed | None:
    """The registered reference sample a drift evaluation was queued with (refused if it changed)."""
    if not spec.get("reference_sample"):
        return None
    sample, reference = load_reference(evaluation.model_version, spec["reference_sample"])
    if sample is None or sample.sha256 != spec.get("reference_sha256"):
        raise ValidationFailed("the registered reference sample is missing or changed", field="reference")
    return reference


def out_of_core_params(evaluation: Evaluation) -> dict:
    params = evaluation.params
    return (
        {k: v for k, v in params.items() if k != "categorical"} if evaluation.kind == EvaluationKind.DRIFT else params
    )


def out_of_core_computed(
    evaluation: Evaluation, out: dict, rows: int, reference: inputs_core.Parsed | None, file_sha256: str
) -> dict:
    """The evaluation's columns from an out-of-core result."""
    if evaluation.kind == EvaluationKind.DRIFT:
        types = {f["feature"]: f["type"] for f in out["features"]}
        check_feature_thresholds(
            evaluation.thresholds, inputs_core.Parsed(kind="drift", arrays={}, feature_types=types)
        )
    computed = split_output(evaluation.kind, out, evaluation.thresholds)
    computed["library_versions"]["duckdb"] = outofcore.duckdb_version()
    computed["result"]["computed_out_of_core"] = True
    computed["input_sha256"] = file_sha256
    computed["input_rows"] = rows + (len(next(iter(reference.sample("reference").values()))) if reference else 0)
    return computed


def _compute_out_of_core(evaluation: Evaluation, spec: dict) -> dict:
    """The worker's out-of-core path (governance.evaluations.outofcore, DuckDB): bounded memory, results
    equal to the in-memory path. The input digest is the SHA-256 of the file's exact bytes."""
    progress = _ProgressRecorder(evaluation.pk, evaluation.input_rows)
    progress("checking the input digest", 0.0, 0)
    source, file_sha256 = checked_input(evaluation, spec)
    reference = input_reference(evaluation, spec)
    params = evaluation.params
    changed = "after its digest was taken, while it was evaluated"
    try:
        out, rows = outofcore.compute(
            evaluation.kind,
            source,
            file_format=spec["format"],
            columns=spec.get("columns") or {},
            params=out_of_core_params(evaluation),
            reference=reference,
            min_group_size=params.get("min_group_size", settings.EVALUATION_MIN_GROUP_SIZE),
            memory_limit=settings.EVALUATION_OUT_OF_CORE_MEMORY,
            threads=settings.EVALUATION_OUT_OF_CORE_THREADS,
            max_bytes=settings.EVALUATION_OUT_OF_CORE_MAX_BYTES,
            progress=progress,
        )
    except Exception:
        if spec.get("path"):  # a file changed under the engine makes it fail: say so rather than how
            paths.check_unchanged(source, spec["stat"], changed)
        raise
    if spec.get("path"):
        paths.check_unchanged(source, spec["stat"], changed)
    return out_of_core_computed(evaluation, out, rows, reference, file_sha256)


def _load_parsed(evaluation: Evaluation) -> inputs_core.Parsed:
    spec = (evaluation.result or {}).get("input") or {}
    reference = input_reference(evaluation, spec)
    if spec.get("format") == "json":
        with evaluation.input_file.open("rb") as handle:
            data = json.loads(handle.read())
        return inputs_core.parse_inline(evaluation.kind, data, params=evaluation.params, reference=reference)
    _check_stored_file(evaluation, spec)
    return inputs_core.parse_table(
        evaluation.kind,
        stored_source(evaluation.input_file),
        file_format=cast(str, spec.get("format")),  # a stored table always has its format (create)
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
        rows_read = computed.get("input_rows") or evaluation.input_rows
        evaluation.progress = {
            "stage": "done",
            "rows_read": rows_read,
            "rows_total": rows_read,
            "percent": 100.0,
            "updated_at": evaluation.finished_at.isoformat(),
        }
        evaluation.params = computed["params"]
        evaluation.library_versions = {**evaluation.library_versions, **computed["library_versions"]}
        evaluation.metrics, evaluation.checks = computed["metrics"], computed["checks"]
        evaluation.warnings = computed["warnings"]
        spec = dict((evaluation.result or {}).get("input", {}))
        if spec.get("path") and computed.get("input_sha256"):  # referenced by path: digested by the worker
            spec["file_sha256"] = computed["input_sha256"]
        evaluation.result = {**computed["result"], "input": spec}
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
    return evaluation_compute(by=by, evaluation=evaluation)


def evaluation_compute(*, by: Principal, evaluation: Evaluation, note: dict | None = None) -> Evaluation | None:
    """Compute a started evaluation on this worker, then complete or fail it. ``note``: keys added to
    its result (a fan-out that kept it on one worker says why: ``fanout.not_split``)."""
    evaluation_id = evaluation.pk
    try:
        spec = (evaluation.result or {}).get("input") or {}
        if out_of_core(evaluation, spec):
            computed = _compute_out_of_core(evaluation, spec)
            computed["result"].update(note or {})
            completed = evaluation_complete(by=by, evaluation_id=evaluation_id, computed=computed)
            if completed is not None:
                announce_recorded(completed, by)
            return completed
        progress = _ProgressRecorder(evaluation_id, evaluation.input_rows)
        progress("reading the input", 0.0, 0)
        parsed = _load_parsed(evaluation)
        progress("computing", 0.5, input_row_count(parsed))
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
        computed["result"].update(note or {})
    except DomainError as exc:
        return evaluation_fail(by=by, evaluation_id=evaluation_id, reason=exc.message)
    except Exception as exc:
        logger.exception("evaluation %s failed", evaluation_id)
        return evaluation_fail(
            by=by, evaluation_id=evaluation_id, reason=f"internal error: {type(exc).__name__}: {exc}"
        )
    return evaluation_complete(by=by, evaluation_id=evaluation_id, computed=computed)

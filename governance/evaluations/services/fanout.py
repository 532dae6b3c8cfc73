"""A large evaluation split by row ranges over several Celery workers (issue 15.3).

When ``EVALUATION_FANOUT_CHUNKS`` is 2 or more, a Parquet fairness or drift input computed out of core
with at least ``EVALUATION_FANOUT_MIN_ROWS`` rows is split into that many row ranges. The task that
picked the evaluation up starts it and checks its input once (``evaluation_fanout_start``: the digest
of the exact bytes); a Celery chord then runs one chunk task per range on whichever workers take them
(``evaluation_chunk``: the range's mergeable statistics, written as an .npz file to the default
storage), and its callback (``evaluation_merge``) adds them up and finishes exactly as one worker
would (``outofcore.finish``; drift reads the values of the gaps where the eCDFs cross in one more
scan). The statistics are counts and sums, so the result equals the single-worker one (tested to
1e-12 over two real workers). A chunk never raises: bad input comes back as the chunk's error and the
merge fails the evaluation with the error of the earliest range (the first bad row of the file), so
nothing but the failure is stored. A chord needs a result backend (``CELERY_RESULT_BACKEND``); without
one the evaluation runs on one worker."""

from __future__ import annotations

import logging
import math
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from governance.accounts.principal import Principal
from governance.common.errors import DomainError
from governance.evaluations import outofcore
from governance.evaluations.jobs import runner_identity
from governance.evaluations.models import Evaluation, EvaluationStatus
from governance.evaluations.services.run import (
    _ProgressRecorder,
    checked_input,
    evaluation_complete,
    evaluation_fail,
    evaluation_start,
    input_reference,
    input_source,
    out_of_core,
    out_of_core_computed,
    out_of_core_params,
)

logger = logging.getLogger(__name__)
PARTIALS_DIR = "evaluation-partials"


def evaluation_fanout_ranges(*, evaluation_id: int) -> list[tuple[int, int]] | None:
    """The row ranges a queued evaluation is split into, or None when it runs on one worker."""
    chunks = int(settings.EVALUATION_FANOUT_CHUNKS)
    if chunks < 2:
        return None
    evaluation = Evaluation.objects.filter(pk=evaluation_id).first()
    if evaluation is None or evaluation.status not in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING):
        return None
    spec = (evaluation.result or {}).get("input") or {}
    rows = evaluation.input_rows or 0
    if (
        evaluation.kind not in outofcore.FANOUT_KINDS
        or spec.get("format") != "parquet"
        or rows < settings.EVALUATION_FANOUT_MIN_ROWS
        or not out_of_core(evaluation, spec)
    ):
        return None
    step = math.ceil(rows / chunks)
    return [(start, min(start + step, rows)) for start in range(0, rows, step)]


def evaluation_fanout_start(*, by: Principal, evaluation_id: int) -> str | None:
    """Start the evaluation (no runner: its chunks run anywhere; the reaper watches its progress) and
    check its input once. Returns the SHA-256 of the input's bytes, or None when there is nothing to do
    (already finished, or failed here with the reason)."""
    evaluation = evaluation_start(by=by, evaluation_id=evaluation_id, runner={})
    if evaluation is None:
        return None
    spec = (evaluation.result or {}).get("input") or {}
    try:
        _ProgressRecorder(evaluation_id, evaluation.input_rows)("checking the input digest", 0.0, 0)
        _source, digest = checked_input(evaluation, spec)
        input_reference(evaluation, spec)
    except DomainError as exc:
        evaluation_fail(by=by, evaluation_id=evaluation_id, reason=exc.message)
        return None
    return digest


def evaluation_chunk(*, evaluation_id: int, start: int, stop: int, index: int, count: int) -> dict:
    """The statistics of rows [start, stop), stored as a file: ``{"index", "partial": storage name,
    "runner"}``, or ``{"index", "error"}`` (bad input, or anything else that went wrong)."""
    evaluation = Evaluation.objects.select_related("model_version").get(pk=evaluation_id)
    out: dict = {"index": index, "runner": runner_identity()}
    if evaluation.status != EvaluationStatus.RUNNING:
        return {**out, "error": f"the evaluation is {evaluation.status}, not running"}
    spec = (evaluation.result or {}).get("input") or {}
    progress = _ProgressRecorder(evaluation_id, evaluation.input_rows)
    try:
        part = outofcore.partial(
            evaluation.kind,
            input_source(evaluation, spec),
            row_range=(start, stop),
            total_rows=evaluation.input_rows or stop,
            columns=spec.get("columns") or {},
            params=out_of_core_params(evaluation),
            reference=input_reference(evaluation, spec),
            memory_limit=settings.EVALUATION_OUT_OF_CORE_MEMORY,
            threads=settings.EVALUATION_OUT_OF_CORE_THREADS,
            progress=lambda stage, fraction, rows: progress(
                f"part {index + 1} of {count}: {stage}", fraction, start + (rows or 0)
            ),
        )
    except DomainError as exc:
        return {**out, "error": exc.message}
    except Exception as exc:
        logger.exception("evaluation %s: rows %s-%s failed", evaluation_id, start, stop)
        return {**out, "error": f"internal error: {type(exc).__name__}: {exc}"}
    name = default_storage.save(
        f"{PARTIALS_DIR}/{evaluation_id}/{index:05d}-{uuid.uuid4().hex}.npz", ContentFile(outofcore.dump_partial(part))
    )
    return {**out, "partial": name}


def evaluation_merge(*, by: Principal, evaluation_id: int, digest: str, chunks: list[dict]) -> Evaluation | None:
    """The chord's last step: merge the chunks' statistics and complete the evaluation (or fail it with
    the earliest chunk's error). The chunks' files are deleted either way."""
    chunks = sorted(chunks, key=lambda c: c["index"])
    try:
        errors = [c for c in chunks if c.get("error")]
        if errors:
            return evaluation_fail(by=by, evaluation_id=evaluation_id, reason=errors[0]["error"])
        evaluation = Evaluation.objects.select_related("model_version").get(pk=evaluation_id)
        if evaluation.status != EvaluationStatus.RUNNING:
            return None
        spec = (evaluation.result or {}).get("input") or {}
        try:
            _ProgressRecorder(evaluation_id, evaluation.input_rows)(
                "merging the parts", 1.0, evaluation.input_rows or 0
            )
            partials = []
            for c in chunks:
                with default_storage.open(c["partial"], "rb") as handle:
                    partials.append(outofcore.load_partial(handle.read()))
            reference = input_reference(evaluation, spec)
            source = input_source(evaluation, spec)
            out, rows = outofcore.finish(
                evaluation.kind,
                source,
                partials,
                columns=spec.get("columns") or {},
                params=out_of_core_params(evaluation),
                reference=reference,
                min_group_size=evaluation.params.get("min_group_size", settings.EVALUATION_MIN_GROUP_SIZE),
                memory_limit=settings.EVALUATION_OUT_OF_CORE_MEMORY,
                threads=settings.EVALUATION_OUT_OF_CORE_THREADS,
            )
            input_source(evaluation, spec)  # a path input must still be the file that was digested
            computed = out_of_core_computed(evaluation, out, rows, reference, digest)
        except DomainError as exc:
            return evaluation_fail(by=by, evaluation_id=evaluation_id, reason=exc.message)
        except Exception as exc:
            logger.exception("evaluation %s: merging its parts failed", evaluation_id)
            return evaluation_fail(
                by=by, evaluation_id=evaluation_id, reason=f"internal error: {type(exc).__name__}: {exc}"
            )
        runners = sorted({f"{c['runner'].get('host')}:{c['runner'].get('pid')}" for c in chunks})
        computed["result"]["fanout"] = {"parts": len(chunks), "workers": runners}
        return evaluation_complete(by=by, evaluation_id=evaluation_id, computed=computed)
    finally:
        for c in chunks:
            if c.get("partial"):
                default_storage.delete(c["partial"])

"""A large evaluation split by row ranges over several Celery workers (issue 15.3).

When ``EVALUATION_FANOUT_CHUNKS`` is 2 or more, a fairness, drift or performance input computed out of
core is split into that many row ranges: a Parquet file of at least ``EVALUATION_FANOUT_MIN_ROWS`` rows
(its metadata) by rows, a plain CSV by byte ranges that start at a record (one pass finds them and
counts the rows; see ``outofcore.csv_split``), if it has that many rows. The task that picked the
evaluation up starts it and checks its input once (``evaluation_fanout_start``: the digest of the
exact bytes, then the split); a Celery chord then runs one chunk task per range on whichever workers
take them (``evaluation_chunk``: the range's mergeable statistics, written to the default storage: an
.npz file of counts and sums, or for performance a Parquet file of the positives and negatives per
distinct score), and its callback (``evaluation_merge``) adds them up and finishes exactly as one
worker would (``outofcore.finish``: performance's score groups are merged by DuckDB in score order;
drift reads the values of the gaps where the eCDFs cross in one more scan). The statistics are counts
and sums, so the result equals the single-worker one (tested to 1e-12 over two real workers). A CSV
that cannot be split (compressed, a quote the reader takes as a character, lines before its header,
fewer rows than the setting) is computed by the task that started it, and its result says why
(``fanout.not_split``). A chunk never raises: bad input comes back as the chunk's error and the merge
fails the evaluation with the error of the earliest range (the first bad row of the file, named by its
file-wide row number), so nothing but the failure is stored. A chord needs a result backend
(``CELERY_RESULT_BACKEND``); without one the evaluation runs on one worker."""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile, File
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


@dataclass
class FanoutPlan:
    """A started evaluation's split: its row ranges (empty: computed on one worker, ``reason`` says why),
    the digest of its input, and for a CSV the split every range is read with."""

    evaluation: Evaluation
    digest: str
    rows: int
    ranges: list[tuple[int, int]] = field(default_factory=list)
    csv: dict | None = None  # outofcore.CsvSplit.as_dict(): options, header_end, rows, ranges (bytes)
    reason: str = ""

    def chunk_csv(self, index: int) -> dict | None:
        """What the chunk of range ``index`` needs of a CSV split: the read options and its byte range."""
        if self.csv is None:
            return None
        return {**{k: v for k, v in self.csv.items() if k != "ranges"}, "range": self.csv["ranges"][index]}

    def merge_csv(self) -> dict | None:
        return None if self.csv is None else {k: v for k, v in self.csv.items() if k != "ranges"}


def evaluation_fanout_wanted(*, evaluation_id: int) -> bool:
    """Whether a queued evaluation may be split over several workers: ``EVALUATION_FANOUT_CHUNKS`` >= 2, a
    kind the engine splits, an input computed out of core, and (Parquet, whose metadata gives its rows)
    at least ``EVALUATION_FANOUT_MIN_ROWS`` rows. A CSV's rows are counted after it started
    (``evaluation_fanout_start``)."""
    if int(settings.EVALUATION_FANOUT_CHUNKS) < 2:
        return False
    evaluation = Evaluation.objects.filter(pk=evaluation_id).first()
    if evaluation is None or evaluation.status not in (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING):
        return False
    spec = (evaluation.result or {}).get("input") or {}
    if evaluation.kind not in outofcore.FANOUT_KINDS or not out_of_core(evaluation, spec):
        return False
    if spec.get("format") == "csv":
        return True
    return spec.get("format") == "parquet" and (evaluation.input_rows or 0) >= settings.EVALUATION_FANOUT_MIN_ROWS


def _row_ranges(rows: int, chunks: int) -> list[tuple[int, int]]:
    step = math.ceil(rows / chunks)
    return [(start, min(start + step, rows)) for start in range(0, rows, step)]


def evaluation_fanout_start(*, by: Principal, evaluation_id: int) -> FanoutPlan | None:
    """Start the evaluation (no runner: its chunks run anywhere; the reaper watches its progress), check
    its input once (the SHA-256 of its bytes) and split it: a Parquet file by its row count, a CSV by
    one pass that finds the record starts (``outofcore.csv_split``). A CSV that cannot be split, or has
    fewer than ``EVALUATION_FANOUT_MIN_ROWS`` rows, gets no ranges and the reason (a compressed one, or
    one whose first lines say it has fewer than half that many rows, before its digest is taken: the
    worker that computes it takes it). None when there is nothing to do (already finished, or failed
    here with the reason)."""
    evaluation = evaluation_start(by=by, evaluation_id=evaluation_id, runner={})
    if evaluation is None:
        return None
    spec = (evaluation.result or {}).get("input") or {}
    chunks = int(settings.EVALUATION_FANOUT_CHUNKS)
    progress = _ProgressRecorder(evaluation_id, evaluation.input_rows)
    minimum = int(settings.EVALUATION_FANOUT_MIN_ROWS)
    try:
        if spec.get("format") == "csv":  # a small or compressed CSV skips the digest and the splitting pass here
            estimate, reason = outofcore.csv_first_look(input_source(evaluation, spec))
            if not reason and estimate < minimum // 2:
                reason = f"about {estimate} rows (by its first lines), fewer than EVALUATION_FANOUT_MIN_ROWS"
                reason += f" ({minimum})"
            if reason:
                return FanoutPlan(evaluation, "", 0, reason=reason)
        progress("checking the input digest", 0.0, 0)
        source, digest = checked_input(evaluation, spec)
        input_reference(evaluation, spec)
        if spec.get("format") != "csv":
            rows = evaluation.input_rows or 0
            return FanoutPlan(evaluation, digest, rows, ranges=_row_ranges(rows, chunks))
        progress("finding the row ranges", 0.0, 0)
        split = outofcore.csv_split(
            source, chunks, max_bytes=settings.EVALUATION_OUT_OF_CORE_MAX_BYTES, progress=progress
        )
    except DomainError as exc:
        evaluation_fail(by=by, evaluation_id=evaluation_id, reason=exc.message)
        return None
    reason = split.reason
    if not reason and split.rows < minimum:
        reason = f"{split.rows} rows, fewer than EVALUATION_FANOUT_MIN_ROWS ({minimum})"
    if not reason and len(split.ranges) < 2:
        reason = "the CSV has too few lines to split"
    if reason:
        return FanoutPlan(evaluation, digest, split.rows, reason=reason)
    ranges = [(r["row"], r["row"] + r["rows"]) for r in split.ranges]
    return FanoutPlan(evaluation, digest, split.rows, ranges=ranges, csv=split.as_dict())


def evaluation_chunk(
    *, evaluation_id: int, start: int, stop: int, index: int, count: int, csv: dict | None = None, rows: int = 0
) -> dict:
    """The statistics of rows [start, stop) (of a CSV: of the byte range in ``csv``), stored as a file:
    ``{"index", "partial": storage name, "rows", "runner"}``, or ``{"index", "error"}`` (bad input, or
    anything else that went wrong). ``rows``: the input's rows when its metadata did not give them."""
    evaluation = Evaluation.objects.select_related("model_version").get(pk=evaluation_id)
    out: dict = {"index": index, "runner": runner_identity()}
    if evaluation.status != EvaluationStatus.RUNNING:
        return {**out, "error": f"the evaluation is {evaluation.status}, not running"}
    spec = (evaluation.result or {}).get("input") or {}
    total = evaluation.input_rows or rows or stop
    progress = _ProgressRecorder(evaluation_id, total)
    try:
        with tempfile.TemporaryDirectory(prefix="mlgov-part-") as out_dir:
            part = outofcore.partial(
                evaluation.kind,
                input_source(evaluation, spec),
                row_range=(start, stop),
                total_rows=total,
                columns=spec.get("columns") or {},
                params=out_of_core_params(evaluation),
                reference=input_reference(evaluation, spec),
                csv=csv,
                out_dir=out_dir,
                memory_limit=settings.EVALUATION_OUT_OF_CORE_MEMORY,
                threads=settings.EVALUATION_OUT_OF_CORE_THREADS,
                progress=lambda stage, fraction, done: progress(
                    f"part {index + 1} of {count}: {stage}", fraction, start + (done or 0)
                ),
            )
            prefix = f"{PARTIALS_DIR}/{evaluation_id}/{index:05d}-{uuid.uuid4().hex}"
            if evaluation.kind == "performance":  # the score groups: a Parquet file, merged by the engine
                with open(part["score_groups"], "rb") as handle:
                    name = default_storage.save(f"{prefix}.parquet", File(handle))
            else:
                name = default_storage.save(f"{prefix}.npz", ContentFile(outofcore.dump_partial(part)))
    except DomainError as exc:
        return {**out, "error": exc.message}
    except Exception as exc:
        logger.exception("evaluation %s: rows %s-%s failed", evaluation_id, start, stop)
        return {**out, "error": f"internal error: {type(exc).__name__}: {exc}"}
    return {**out, "partial": name, "rows": part["rows"]}


def _load_chunk(chunk: dict, kind: str, workdir: str) -> dict:
    """A chunk's partial statistics back from the storage (performance: a local path to its Parquet file)."""
    if kind != "performance":
        with default_storage.open(chunk["partial"], "rb") as handle:
            return outofcore.load_partial(handle.read())
    try:
        local = default_storage.path(chunk["partial"])
    except NotImplementedError:  # a storage without local paths: copied next to the merge
        local = str(Path(workdir) / f"{chunk['index']:05d}.parquet")
        with default_storage.open(chunk["partial"], "rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    return {"kind": kind, "rows": chunk["rows"], "score_groups": local}


def evaluation_merge(
    *, by: Principal, evaluation_id: int, digest: str, chunks: list[dict], csv: dict | None = None
) -> Evaluation | None:
    """The chord's last step: merge the chunks' statistics and complete the evaluation (or fail it with
    the earliest chunk's error). ``csv``: the split a CSV's chunks were read with. The chunks' files are
    deleted either way."""
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
            rows_total = sum(int(c.get("rows") or 0) for c in chunks) or evaluation.input_rows
            _ProgressRecorder(evaluation_id, rows_total)("merging the parts", 1.0, rows_total or 0)
            reference = input_reference(evaluation, spec)
            source = input_source(evaluation, spec)
            with tempfile.TemporaryDirectory(prefix="mlgov-merge-") as workdir:
                out, rows = outofcore.finish(
                    evaluation.kind,
                    source,
                    [_load_chunk(c, evaluation.kind, workdir) for c in chunks],
                    columns=spec.get("columns") or {},
                    params=out_of_core_params(evaluation),
                    reference=reference,
                    csv=csv,
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

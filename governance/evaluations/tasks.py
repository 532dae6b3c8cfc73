"""Celery tasks of the evaluations app: the computation of queued (large) evaluations, and the reaper
of jobs left stuck by a dead worker (``governance.evaluations.jobs``).

Queued by ``handlers.on_evaluation_queued`` once ``services.evaluation_create`` committed; without
a broker (``CELERY_TASK_ALWAYS_EAGER``) it runs in the calling process, under the request id of the
request that queued it (``ContextTask``). Acknowledged late and rejected back to the queue when the
worker process is lost; idempotent (see ``services.evaluation_run``)."""

from __future__ import annotations

from celery import chord, shared_task

from governance.accounts.principal import Principal
from governance.common.tasks import ContextTask
from governance.evaluations import services
from governance.evaluations.services import fanout

TASK_ACTOR = "celery:evaluations.run"


@shared_task(base=ContextTask, bind=True, name="evaluations.run", acks_late=True, reject_on_worker_lost=True)
def evaluation_run(self, evaluation_id: int) -> str | None:
    from governance.evaluations.jobs import runner_identity

    principal = Principal.system(TASK_ACTOR, auth="celery")
    if fanout.evaluation_fanout_wanted(evaluation_id=evaluation_id) and self.app.conf.result_backend:
        plan = fanout.evaluation_fanout_start(by=principal, evaluation_id=evaluation_id)  # a chord needs a backend
        if plan is None:
            return None
        if not plan.ranges:  # a CSV that is small or cannot be split: computed here, the reason recorded
            note = {"fanout": {"parts": 1, "not_split": plan.reason}}
            evaluation = services.evaluation_compute(by=principal, evaluation=plan.evaluation, note=note)
            return evaluation.status if evaluation is not None else None
        # the parts and the merge go to the queue this task came from (the workers that serve evaluations)
        queue = (self.request.delivery_info or {}).get("routing_key") or None
        options = {"queue": queue} if queue else {}
        count = len(plan.ranges)
        header = [
            evaluation_chunk.s(evaluation_id, start, stop, i, count, plan.chunk_csv(i), plan.rows).set(**options)
            for i, (start, stop) in enumerate(plan.ranges)
        ]
        chord(header)(evaluation_merge.s(evaluation_id, plan.digest, plan.merge_csv()).set(**options))
        return f"split into {count} parts"
    evaluation = services.evaluation_run(by=principal, evaluation_id=evaluation_id, runner=runner_identity())
    return evaluation.status if evaluation is not None else None


@shared_task(base=ContextTask, name="evaluations.chunk", acks_late=True, reject_on_worker_lost=True)
def evaluation_chunk(
    evaluation_id: int, start: int, stop: int, index: int, count: int, csv: dict | None = None, rows: int = 0
) -> dict:
    """One row range of a fanned-out evaluation (``services.fanout``); never raises."""
    return fanout.evaluation_chunk(
        evaluation_id=evaluation_id, start=start, stop=stop, index=index, count=count, csv=csv, rows=rows
    )


@shared_task(base=ContextTask, name="evaluations.merge", acks_late=True, reject_on_worker_lost=True)
def evaluation_merge(chunks: list[dict], evaluation_id: int, digest: str, csv: dict | None = None) -> str | None:
    """The chord's callback: merge the parts and complete (or fail) the evaluation."""
    principal = Principal.system(TASK_ACTOR, auth="celery")
    evaluation = fanout.evaluation_merge(
        by=principal, evaluation_id=evaluation_id, digest=digest, chunks=chunks, csv=csv
    )
    return evaluation.status if evaluation is not None else None


@shared_task(base=ContextTask, name="jobs.reap_stale", acks_late=True)
def reap_stale() -> dict:
    """Re-queue or fail evaluations and documentation packs stuck after a worker died."""
    from governance.evaluations.jobs import reap_stale_jobs

    return reap_stale_jobs().as_dict()


@shared_task(base=ContextTask, name="jobs.redispatch_queued", acks_late=True, ignore_result=True)
def redispatch_queued() -> dict:
    """Send again the tasks of jobs still ``queued`` (their first send failed: the broker was down)."""
    from governance.evaluations.jobs import redispatch_queued as sweep

    return sweep()

"""Jobs that a dead worker or a restarted web process would leave stuck (issue 10, defect 8).

Three layers, from the broker up:
1. The broker redelivers: tasks acknowledge late (``CELERY_TASK_ACKS_LATE``), a task whose worker
   process is lost is rejected back to the queue (``CELERY_TASK_REJECT_ON_WORKER_LOST``), and Redis
   restores an unacknowledged message after ``CELERY_VISIBILITY_TIMEOUT`` seconds. The tasks are
   idempotent: a redelivered evaluation that is ``running`` starts again, a finished one is left
   alone; a pack that is not done is rendered again from the same snapshot.
2. The reaper (``reap_stale_jobs``: beat task ``jobs.reap_stale`` and ``manage.py reap_stale_jobs``)
   finds jobs that made no progress for ``JOB_STALE_SECONDS`` (longer than the visibility timeout
   plus the hard time limit, so no live computation is that old) or whose computing process on
   this host is gone, and re-queues them once (with a broker) or fails them with the reason.
3. A job whose task could not be sent when its row committed (the broker was unreachable) stays
   ``queued``; ``redispatch_queued`` (beat task ``jobs.redispatch_queued``) sends it again
   (``governance.common.jobs``, "re-dispatch of queued jobs").
4. Without a broker (eager mode) the web process computes in the request; if it is restarted
   mid-computation the first request of the new process reaps the orphans of dead processes on
   this host (``reap_orphans_once``), so nothing stays ``running`` for good.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from governance.accounts.principal import Principal
from governance.common.events import announce
from governance.common.jobs import dispatch_due, registered_reapers, registered_redispatchers

logger = logging.getLogger(__name__)

REAPER_ACTOR = "celery:jobs.reap_stale"
REDISPATCH_ACTOR = "celery:jobs.redispatch_queued"


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None when no such process:
    with the pid it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def runner_identity() -> dict:
    """The process computing a job: host, pid and the pid's start time."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _process_start(pid) or ""}


def runner_alive(runner: dict | None) -> bool | None:
    """True/False for a runner on this host (its process exists with the same start time), None when
    it cannot be told from here (another host, or no runner recorded)."""
    if not runner or runner.get("host") != socket.gethostname() or not runner.get("pid"):
        return None
    if not os.path.isdir("/proc"):
        return None
    start = _process_start(int(runner["pid"]))
    return start is not None and (not runner.get("pid_start") or start == runner["pid_start"])


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)
    packs_failed: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "evaluations_requeued": self.requeued,
            "evaluations_failed": self.failed,
            "evaluations_resent": self.resent,
            "packs_failed": self.packs_failed,
        }


def _has_broker() -> bool:
    return not settings.CELERY_TASK_ALWAYS_EAGER


def _last_activity(ev):
    """When a running evaluation last showed life: its start, or its last progress report."""
    last = ev.started_at
    reported = (ev.progress or {}).get("updated_at")
    if reported:
        from django.utils.dateparse import parse_datetime

        when = parse_datetime(reported)
        if when is not None and (last is None or when > last):
            last = when
    return last


def reap_stale_jobs(
    *, stale_seconds: int | None = None, orphans_only: bool = False, dry_run: bool = False
) -> ReapReport:
    """Re-queue or fail evaluations and documentation packs stuck in ``queued``/``running``/``rendering``.

    An evaluation is stuck when it is ``running`` and its computing process on this host is gone, or it
    made no progress (started, reported progress, or was queued) ``stale_seconds`` ago (default ``JOB_STALE_SECONDS``).
    With a broker a stuck running evaluation is re-queued once, then failed; a stale queued one has its
    task sent again (the task is idempotent). Without a broker both fail with the reason (post again).
    ``orphans_only`` limits the pass to running jobs whose process is known dead (the eager-mode restart
    check)."""
    from governance.evaluations import services
    from governance.evaluations.models import Evaluation, EvaluationStatus

    stale = int(settings.JOB_STALE_SECONDS if stale_seconds is None else stale_seconds)
    cutoff = timezone.now() - timedelta(seconds=stale)
    by = Principal.system(REAPER_ACTOR, auth="celery")
    report = ReapReport()
    for ev in Evaluation.objects.filter(status=EvaluationStatus.RUNNING).only("id", "started_at", "result", "progress"):
        alive = runner_alive((ev.result or {}).get("runner"))
        too_old = _last_activity(ev) is None or _last_activity(ev) < cutoff
        if alive is True or (orphans_only and alive is not False) or (alive is None and not too_old):
            continue
        runner = (ev.result or {}).get("runner") or {}
        why = (
            f"the process computing it ({runner.get('host')} pid {runner.get('pid')}) stopped before finishing"
            if alive is False
            else f"no progress for more than {stale} s (JOB_STALE_SECONDS): its worker stopped"
        )
        if dry_run:
            (report.requeued if _has_broker() else report.failed).append(ev.pk)
            continue
        if _has_broker() and services.evaluation_requeue(by=by, evaluation_id=ev.pk, reason=why):
            report.requeued.append(ev.pk)
            logger.warning("evaluation %s re-queued: %s", ev.pk, why)
            continue
        reason = f"{why}; post the evaluation again" + (" (it was re-queued once already)" if _has_broker() else "")
        if services.evaluation_fail(by=by, evaluation_id=ev.pk, reason=reason):
            report.failed.append(ev.pk)
            logger.warning("evaluation %s failed by the reaper: %s", ev.pk, reason)
    if orphans_only:
        return report
    for ev in Evaluation.objects.filter(status=EvaluationStatus.QUEUED, created_at__lt=cutoff).only("id"):
        if dry_run:
            (report.resent if _has_broker() else report.failed).append(ev.pk)
        elif _has_broker():
            announce("evaluation.queued", evaluation_id=ev.pk, by=by.as_context())  # the handler sends the task
            report.resent.append(ev.pk)
        elif services.evaluation_fail(
            by=by,
            evaluation_id=ev.pk,
            reason=f"queued for more than {stale} s without a worker (no broker is configured); post it again",
        ):
            report.failed.append(ev.pk)
    for name, reap in registered_reapers().items():  # other apps' jobs (reports: documentation packs)
        failed = reap(cutoff=cutoff, stale=stale, by=by, dry_run=dry_run)
        if name == "documentation_packs":
            report.packs_failed = failed
    return report


def redispatch_queued(*, now=None) -> dict[str, list[int]]:
    """Send again the task of every job still ``queued`` whose age crossed a re-dispatch point since
    the previous sweep (``governance.common.jobs.dispatch_due``): evaluations here, documentation packs
    through their app's registered redispatcher. A send that fails (broker still down) is logged and
    tried again at the next point; nothing is written. Returns the ids sent, per kind of job."""
    from celery import current_app

    from governance.evaluations.models import Evaluation, EvaluationStatus

    if not _has_broker():
        return {}
    now = now or timezone.now()
    grace, interval = float(settings.JOB_DISPATCH_GRACE_SECONDS), float(settings.JOB_REDISPATCH_INTERVAL_SECONDS)
    by = Principal.system(REDISPATCH_ACTOR, auth="celery")

    def due(created_at) -> bool:
        return dispatch_due((now - created_at).total_seconds(), grace=grace, interval=interval)

    sent: dict[str, list[int]] = {"evaluations": []}
    queued = Evaluation.objects.filter(status=EvaluationStatus.QUEUED).values_list("pk", "created_at")
    for pk, created_at in queued:
        if not due(created_at):
            continue
        try:
            current_app.tasks["evaluations.run"].enqueue(by.as_context(), pk)  # by name: tasks imports this module
        except Exception:
            logger.exception("re-dispatching evaluation %s failed; the next sweep tries again", pk)
            continue
        sent["evaluations"].append(pk)
    for name, redispatch in registered_redispatchers().items():
        sent[name] = redispatch(due=due, by=by)
    if any(sent.values()):
        logger.warning("re-dispatched queued jobs: %s", sent)
    return sent


_orphans_checked = threading.Event()


def reap_orphans_once(**_kwargs) -> None:
    """``request_started`` hook, eager mode only: the first request of a process fails the running
    evaluations whose computing process on this host is gone (a web process restarted mid-computation)."""
    if _orphans_checked.is_set() or _has_broker():
        return
    _orphans_checked.set()
    try:
        report = reap_stale_jobs(orphans_only=True)
    except Exception:  # never break a request over housekeeping
        logger.exception("reaping orphaned evaluations failed")
        return
    if report.failed:
        logger.warning("failed %d evaluations orphaned by a restart: %s", len(report.failed), report.failed)

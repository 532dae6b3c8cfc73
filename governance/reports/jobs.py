"""Documentation packs a dead worker left stuck: the reaper of ``jobs.reap_stale`` fails them with
the reason (registered in ``ReportsConfig.ready``; see ``governance.evaluations.jobs``)."""

from __future__ import annotations

from governance.accounts.principal import Principal
from governance.reports.models import DocumentationPack, PackStatus
from governance.reports.services import pack_fail_stale


def reap_stale_packs(*, cutoff, stale: int, by: Principal, dry_run: bool) -> list[int]:
    """Fail the documentation packs that made no progress since ``cutoff`` (their worker stopped)."""
    stuck = DocumentationPack.objects.filter(
        status__in=(PackStatus.QUEUED, PackStatus.RENDERING, PackStatus.SIGNING), created_at__lt=cutoff
    ).values_list("pk", flat=True)
    failed = []
    for pk in list(stuck):
        if dry_run or pack_fail_stale(
            pk,
            by=by,
            reason=f"no progress for more than {stale} s (JOB_STALE_SECONDS): its worker stopped; "
            "request the pack again",
        ):
            failed.append(pk)
    return failed


def redispatch_queued_packs(*, due, by: Principal) -> list[int]:
    """Send again the generation task of each pack still ``queued`` that ``due(created_at)`` selects
    (``governance.evaluations.jobs.redispatch_queued``); a failed send is logged and tried next time."""
    import logging

    from governance.reports import tasks

    sent = []
    for pk, created_at in DocumentationPack.objects.filter(status=PackStatus.QUEUED).values_list("pk", "created_at"):
        if not due(created_at):
            continue
        try:
            tasks.generate_pack.enqueue(by.as_context(), pk)
        except Exception:
            logging.getLogger(__name__).exception("re-dispatching documentation pack %s failed", pk)
            continue
        sent.append(pk)
    return sent

from celery import shared_task

from governance.accounts.principal import Principal
from governance.common.tasks import ContextTask
from governance.reports.services import pack_generate

TASK_ACTOR = "celery:reports.generate_pack"


@shared_task(base=ContextTask, bind=True, name="reports.generate_pack", ignore_result=True)
def generate_pack(self, pack_id: int) -> None:
    """Render and sign one documentation pack (status and progress are on the job row). Runs under the
    request id of the request that queued it, so report.complete / report.fail join report.request."""
    try:
        pack_generate(pack_id, by=Principal.system(TASK_ACTOR, auth="celery"))
    except Exception:  # recorded on the job; eager mode must not raise into the request
        return None

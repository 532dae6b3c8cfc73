from celery import shared_task

from governance.accounts.principal import Principal
from governance.reports.services import pack_generate


@shared_task(name="reports.generate_pack", ignore_result=True)
def generate_pack(pack_id: int) -> None:
    """Render and sign one documentation pack (status and progress are on the job row)."""
    try:
        pack_generate(pack_id, by=Principal.system("celery:reports.generate_pack", auth="celery"))
    except Exception:  # noqa: BLE001 - the failure is recorded on the job; eager mode must not raise into the request
        return None

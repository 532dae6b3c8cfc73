from celery import shared_task
from django.utils import timezone

from audit.models import AuditHead, AuditVerification
from audit.verification import record_verification


@shared_task(name="workspace.verify_log", ignore_result=True)
def verify_log(trigger: str) -> None:
    """A verification asked for on the audit page; its row shows how far it got while it runs."""
    size = AuditHead.objects.get(pk=1).size
    state = {"done": 0, "last": timezone.now()}

    def progress(count: int) -> None:
        state["done"] += count
        now = timezone.now()
        if (now - state["last"]).total_seconds() >= 1:
            state["last"] = now
            AuditVerification.objects.filter(trigger=trigger, finished_at__isnull=True).update(
                message=f"checked {state['done']} of {size} entries"
            )

    record_verification(trigger=trigger, progress=progress)

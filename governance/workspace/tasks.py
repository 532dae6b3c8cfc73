from celery import shared_task
from django.utils import timezone

from audit import selectors as audit_selectors
from audit.verification import record_verification


@shared_task(name="workspace.verify_log", ignore_result=True)
def verify_log(trigger: str) -> None:
    """A verification asked for on the audit page; its row shows how far it got while it runs."""
    head = audit_selectors.head()
    size = head.size if head is not None else 0
    done = 0
    last = timezone.now()

    def progress(count: int) -> None:
        nonlocal done, last
        done += count
        now = timezone.now()
        if (now - last).total_seconds() >= 1:
            last = now
            audit_selectors.verifications().filter(trigger=trigger, finished_at__isnull=True).update(
                message=f"checked {done} of {size} entries"
            )

    record_verification(trigger=trigger, progress=progress)

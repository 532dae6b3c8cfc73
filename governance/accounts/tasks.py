from celery import shared_task


@shared_task(name="accounts.refusals_record")
def refusals_record() -> int:
    """Record finished windows of refused credentials in the audit log (one event per source and window)."""
    from governance.accounts.throttle import refusals_record as record

    return record()

"""Celery tasks of the audit log: periodic checkpoints and the nightly verification."""

from __future__ import annotations

from celery import shared_task

from audit.checkpoints import MIN_CHECKPOINT_INTERVAL, checkpoint_create
from audit.verification import record_verification


@shared_task(name="audit.checkpoint_if_due", ignore_result=True)
def checkpoint_if_due() -> int | None:
    """Sign a checkpoint when the log grew, at most once per MIN_CHECKPOINT_INTERVAL."""
    checkpoint = checkpoint_create(min_interval=MIN_CHECKPOINT_INTERVAL)
    return checkpoint.size if checkpoint else None


@shared_task(name="audit.verify_log", ignore_result=True)
def verify_log(mode: str = "auto") -> bool:
    """Nightly verification: the entries since the last verified checkpoint plus a consistency proof,
    and a full pass when the last one is older than AUDIT_FULL_VERIFY_INTERVAL_DAYS (default 7); then
    the governed state against the log (audit.state). Failures raise an alert."""
    from audit.state import record_state_verification

    log_ok = record_verification(trigger="nightly", mode=mode).ok
    return record_state_verification(trigger="nightly").ok and log_ok

"""Hooks for code outside the audit package (which imports nothing from governance/).

Both are sent after the transaction that stored the fact commits (``send_robust``: a failing
receiver is logged and never disturbs the log):

- ``checkpoint_signed(sender=AuditCheckpoint, checkpoint=...)``: a new signed checkpoint;
- ``verification_failed(sender=AuditVerification, verification=...)``: a full verification run
  that found a problem (``first_bad_seq``, ``message``).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

checkpoint_signed = Signal()
verification_failed = Signal()


def send_after_commit(signal: Signal, sender: object, **kwargs: object) -> None:
    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **kwargs):
            if isinstance(result, Exception):
                logger.error("audit signal receiver %r failed: %r", receiver, result)

    transaction.on_commit(send)

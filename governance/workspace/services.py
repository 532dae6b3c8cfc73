"""Audit-log operations started from the workspace: run a verification, sign a checkpoint.

Auditors and risk officers only; each request is an audit event (``audit.verify``,
``audit.checkpoint``) and each refusal too (``<action>.denied``). The verification itself runs as a
Celery task (in the web process when no broker is configured) and records its progress and result
on an ``AuditVerification`` row, which the audit page follows.
"""

from __future__ import annotations

from django.db import transaction

from audit import selectors as audit_selectors
from audit.checkpoints import CheckpointRefused, checkpoint_create, head
from audit.selectors import AuditCheckpoint
from audit.services import audit_unit
from governance.accounts.principal import Principal
from governance.accounts.roles import AUDITOR, RISK_OFFICER
from governance.common.errors import Conflict, PermissionRefused
from governance.common.refusals import refusals

AUDIT_OPERATORS = (AUDITOR, RISK_OFFICER)


def _target() -> dict:
    return {"type": "audit_log", "id": head().origin}


def _require_operator(by: Principal) -> None:
    if by.is_service_account:
        raise PermissionRefused("service accounts do not operate the audit log")
    by.require_role(*AUDIT_OPERATORS, reason="only auditors and risk officers verify the log or sign checkpoints")


def audit_verification_request(*, by: Principal) -> str:
    """Queue a full verification of the stored log; returns the trigger that names its run."""
    target = _target()
    with refusals(by, "audit.verify", target):
        _require_operator(by)
        if audit_selectors.verifications().filter(finished_at__isnull=True, trigger__startswith="ui:").exists():
            raise Conflict("a verification started from the workspace is still running; wait for its result")
    trigger = f"ui:{by.actor.username or by.actor.id}"[:32]
    with audit_unit(by.actor) as audit:
        audit.add("audit.verify", target, details={"trigger": trigger})
        transaction.on_commit(lambda: _enqueue(trigger))
    return trigger


def _enqueue(trigger: str) -> None:
    from governance.workspace.tasks import verify_log

    verify_log.delay(trigger)


def audit_checkpoint_sign(*, by: Principal) -> AuditCheckpoint:
    """Sign a checkpoint of the log now (the request's own event is inside it)."""
    target = _target()
    with refusals(by, "audit.checkpoint", target):
        _require_operator(by)
    with audit_unit(by.actor) as audit:
        audit.add("audit.checkpoint", target, details={"requested": True})
    with refusals(by, "audit.checkpoint", target):
        try:
            created = checkpoint_create()
        except CheckpointRefused as exc:
            raise Conflict(f"checkpoint refused: {exc}; run a verification to find the damage") from exc
    # None: nothing was logged since the latest checkpoint, which therefore covers the request's event
    return created or audit_selectors.checkpoints()[0]

"""What the workflow does when something happens elsewhere, wired in ``WorkflowConfig.ready``.

Handlers run after the announcing transaction commits (``governance.common.events``). They
load what they need and call a service or queue a task; a failure is logged by the event
dispatcher and covered by the handler's own retry (the gate reconciliation job, Celery retries).
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect

from governance.accounts.principal import Principal
from governance.accounts.stepup import register_purpose
from governance.common.errors import DomainError
from governance.common.events import subscribe
from governance.evaluations.models import Evaluation
from governance.workflow import services, tasks
from governance.workflow.models import PromotionRequest, RequestStatus

logger = logging.getLogger(__name__)


def on_evaluation_recorded(*, evaluation_id: int, by: dict) -> None:
    """Refresh the gates of the version's open requests (each refresh retried on a database conflict);
    if it still fails, queue the reconciliation job so the refresh is done, never dropped."""
    try:
        services.evaluation_recorded(Evaluation.objects.get(pk=evaluation_id), Principal.from_context(by))
    except Exception:
        logger.exception("gate refresh after evaluation %s failed; queueing the reconciliation", evaluation_id)
        tasks.gates_reconcile.delay()
        raise


def on_request_created(*, request_id: int) -> None:
    tasks.notify_awaiting_signature.delay(request_id)


def on_signatures_invalidated(*, request_id: int) -> None:
    tasks.notify_awaiting_signature.delay(request_id)


def on_request_closed(*, request_id: int, status: str) -> None:
    if status != RequestStatus.WITHDRAWN:  # the requester withdrew it themselves
        tasks.notify_decided.delay(request_id)


def on_review_flag_raised(*, flag_id: int, version_id: int) -> None:
    tasks.notify_review_flag.delay(flag_id)


def sign_after_step_up(request, proof, return_url: str) -> HttpResponse:
    """Finish a signature started with an identity-provider step-up (``accounts.stepup`` purpose
    ``promotion_request.sign``): approve or reject as the signer, then back to the request page."""
    purpose = proof.purpose
    req = PromotionRequest.objects.filter(pk=purpose.get("request_id")).first()
    if req is None:
        messages.error(request, "The request being signed no longer exists. Nothing was signed.")
        return HttpResponseRedirect(return_url)
    by = Principal.for_request(request)
    common = {"by": by, "request": req, "justification": purpose.get("justification", ""), "password": ""}
    try:
        if purpose.get("decision") == "reject":
            req = services.promotion_reject(**common, step_up=proof)
        else:
            override = purpose.get("override_justification", "")
            req = services.promotion_approve(**common, step_up=proof, override_justification=override)
    except DomainError as exc:
        messages.error(request, f"Refused (recorded in the audit log): {exc.message}")
        return HttpResponseRedirect(return_url)
    messages.success(request, f"Signed after re-authentication. Request #{req.pk} is now {req.status}.")
    return HttpResponseRedirect(return_url)


def connect() -> None:
    register_purpose("promotion_request.sign", sign_after_step_up)
    subscribe("evaluation.recorded", on_evaluation_recorded)
    subscribe("promotion_request.created", on_request_created)
    subscribe("promotion_request.signatures_invalidated", on_signatures_invalidated)
    subscribe("promotion_request.closed", on_request_closed)
    subscribe("review_flag.raised", on_review_flag_raised)

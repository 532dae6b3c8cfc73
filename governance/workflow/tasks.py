"""E-mail notifications (sent through Celery, enqueued on commit) and the expiry job (Celery beat:
schedule ``workflow.requests_expire``, e.g. hourly)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from audit.context import request_context
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER


def _send(subject: str, body: str, recipients: list[str]) -> int:
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return 0
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


def _describe(req) -> str:
    version = req.model_version
    return f"{version.model.name} {version.version} -> {req.target_stage}{' (rollback)' if req.is_rollback else ''}"


@shared_task(name="workflow.notify_awaiting_signature")
def notify_awaiting_signature(request_id: int) -> int:
    from governance.workflow import selectors

    req = selectors.promotion_request_list().get(pk=request_id)
    if not req.is_open:
        return 0
    signers = selectors.eligible_signers(req)
    gates = "all gates pass" if req.gates_passed else "some gates do NOT pass"
    body = (
        f"Promotion request #{req.pk}: {_describe(req)}\nRequested by {req.requested_by.username}: {req.reason}\n"
        f"Gates: {gates}.\nPolicy: {req.policy}\n\nReview and sign it in the admin: "
        f"/admin/workflow/promotionrequest/{req.pk}/change/\n"
    )
    return _send(f"[mlgov] Awaiting your signature: {_describe(req)}", body, [u.email for u in signers])


@shared_task(name="workflow.notify_decided")
def notify_decided(request_id: int) -> int:
    from governance.workflow import selectors

    req = selectors.promotion_request_list().get(pk=request_id)
    body = f"Your promotion request #{req.pk} ({_describe(req)}) is now {req.status}.\n{req.status_reason}\n"
    for approval in req.approvals.all():
        state = " (invalidated)" if approval.invalidated_at else ""
        body += (
            f"- {approval.decision} by {approval.approver.username} as {approval.role}{state}: "
            f"{approval.justification}\n"
        )
    return _send(f"[mlgov] Request #{req.pk} {req.status}: {_describe(req)}", body, [req.requested_by.email])


@shared_task(name="workflow.notify_review_flag")
def notify_review_flag(flag_id: int) -> int:
    from governance.workflow.models import ReviewFlag

    flag = ReviewFlag.objects.select_related("model_version__model__owner", "evaluation").get(pk=flag_id)
    version = flag.model_version
    officers = User.objects.filter(is_active=True, groups__name=RISK_OFFICER).values_list("email", flat=True)
    lines = [
        f"- {b['kind']} {b['metric']} = {b['value']} (threshold {b['comparator']} {b['threshold']})"
        for b in flag.breaches
    ]
    body = (
        f"Production version {version.model.name} {version.version} breaches its policy on evaluation "
        f"{flag.evaluation_id} ({flag.evaluation.dataset}):\n"
        + "\n".join(lines)
        + f"\n\nReview it in the admin: /admin/workflow/reviewflag/{flag.pk}/change/\n"
    )
    return _send(
        f"[mlgov] Review needed: {version.model.name} {version.version} in production",
        body,
        [version.model.owner.email, *officers],
    )


@shared_task(name="workflow.requests_expire")
def requests_expire() -> list[int]:
    from governance.workflow import services

    with request_context(origin="celery"):
        return services.requests_expire(by=Principal.system("celery:workflow.requests_expire", auth="celery"))

"""Signing rules: who may sign a request, in which role, what the signature means and what is
still outstanding. Shared by the workflow services, the selectors, the API serializers and the
admin (none of them imports the others for these rules)."""

from __future__ import annotations

from governance.accounts.models import User
from governance.accounts.roles import RISK_OFFICER, VALIDATOR, has_role, role_names
from governance.common.errors import Conflict, DomainError, IllegalTransition, PermissionRefused
from governance.workflow.models import OPEN_STATUSES, Approval, Decision, PromotionRequest

SIGNER_ROLE_PREFERENCE = (VALIDATOR, RISK_OFFICER)


def signature_meaning(req: PromotionRequest, decision: str) -> str:
    version = req.model_version
    verb = "approve" if decision == Decision.APPROVE else "reject"
    what = "rollback to" if req.is_rollback else "promotion of"
    return f"I {verb} the {what} {version.model.name} {version.version} to {req.target_stage}"


def valid_approvals(req: PromotionRequest):
    return req.approvals.filter(invalidated_at__isnull=True, decision=Decision.APPROVE).select_related("approver")


def approvals_outstanding(req: PromotionRequest, approvals=None) -> dict:
    approvals = list(valid_approvals(req) if approvals is None else approvals)
    covered = {a.role for a in approvals}
    missing_roles = sorted(set(req.policy.required_roles) - covered)
    return {
        "approvals": max(req.policy.approvals_required - len(approvals), 0),
        "roles": missing_roles,
        "given": len(approvals),
        "required": req.policy.approvals_required,
    }


def _signed_already(user: User, req: PromotionRequest) -> bool:
    prefetched = getattr(req, "_prefetched_objects_cache", {}).get("approvals")
    if prefetched is not None:  # a list page loaded the approvals with the requests: no query per row
        return any(a.approver_id == user.pk and a.invalidated_at is None for a in prefetched)
    return req.approvals.filter(approver=user, invalidated_at__isnull=True).exists()


def signing_refusal(
    user: User | None, req: PromotionRequest, *, held: frozenset[str] | None = None
) -> DomainError | None:
    """Why ``user`` may not sign ``req``, as the error the service raises (None when they may).

    A signature is given in a role the signer really holds: superusers get no role here. ``held``
    passes the user's role names when a caller checks many requests (one query, not one per row)."""
    if user is None:
        return PermissionRefused("only a person signs")
    if user.is_service_account:
        return PermissionRefused("a service account never signs")
    if not user.is_active:
        return PermissionRefused("inactive users do not sign")
    if req.status not in OPEN_STATUSES:
        return IllegalTransition(f"the request is {req.status}", field="status")
    if req.requested_by_id == user.pk:
        return PermissionRefused("you cannot sign your own request")
    if req.model_version.registered_by_id == user.pk:
        return PermissionRefused("you registered this version; someone else must sign")
    if _signed_already(user, req):
        return Conflict("you have already signed this request")
    if not has_role(user, *req.policy.accepted_roles, superusers=False, held=held):
        return PermissionRefused(f"policy {req.policy} accepts signatures from: {', '.join(req.policy.accepted_roles)}")
    return None


def signer_refusal(user: User | None, req: PromotionRequest, *, held: frozenset[str] | None = None) -> str | None:
    """``signing_refusal`` as a sentence, for pages and lists (None when ``user`` may sign)."""
    refusal = signing_refusal(user, req, held=held)
    return refusal.message if refusal is not None else None


def signing_role(user: User, req: PromotionRequest, *, override: bool) -> str:
    """The role a signature counts for: an outstanding required role first, then the preference order."""
    mine = role_names(user) & set(req.policy.accepted_roles)
    if override:
        return RISK_OFFICER
    outstanding = approvals_outstanding(req)["roles"]
    for role in (*outstanding, *SIGNER_ROLE_PREFERENCE, *sorted(mine)):
        if role in mine:
            return role
    return sorted(mine)[0]


def override_covering(req: PromotionRequest, failing: list[str]) -> Approval | None:
    """A valid approval whose override already covers every failing check."""
    for approval in valid_approvals(req):
        if approval.override_justification and set(failing) <= set(approval.overridden_checks):
            return approval
    return None

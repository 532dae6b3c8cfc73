"""Signing rules: who may sign a request, in which role, what the signature means and what is
still outstanding. Shared by the workflow services, the selectors, the API serializers and the
admin (none of them imports the others for these rules).

Quorum (issue 17): when a request is signed by a committee (``PromotionRequest.committee_snapshot``),
only its members who have not recused sign, each in their seat's role; the request needs
``max(policy.approvals_required, committee quorum)`` approvals and, per role, the larger of the
policy's one-per-required-role and the committee's minimum. Expiry: under a policy with
``approval_validity_days``, a signature older than that no longer counts and its signer may sign
again to renew it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.utils import timezone

from governance.accounts.models import User
from governance.accounts.roles import RISK_OFFICER, VALIDATOR, has_role, role_names
from governance.common.errors import Conflict, DomainError, IllegalTransition, PermissionRefused
from governance.registry.models import RegisteredModel
from governance.workflow.models import OPEN_STATUSES, Approval, Committee, Decision, PromotionRequest

SIGNER_ROLE_PREFERENCE = (VALIDATOR, RISK_OFFICER)


def signature_meaning(req: PromotionRequest, decision: str) -> str:
    version = req.model_version
    verb = "approve" if decision == Decision.APPROVE else "reject"
    what = "rollback to" if req.is_rollback else "promotion of"
    return f"I {verb} the {what} {version.model.name} {version.version} to {req.target_stage}"


def valid_approvals(req: PromotionRequest):
    return req.approvals.filter(invalidated_at__isnull=True, decision=Decision.APPROVE).select_related("approver")


# --- committees, quorum and expiry ------------------------------------------------------------------------------


def committee_for(model: RegisteredModel, target_stage: str, scopes: list[str]) -> Committee | None:
    """The active committee that signs a request: the model's own for the stage, else the first of its
    scopes (most specific first, as for policies: e.g. ``["high", "tier_1"]``) that has one."""
    active = Committee.objects.filter(is_active=True, target_stage=target_stage)
    own = active.filter(model=model).first()
    if own is not None:
        return own
    by_scope = {c.scope: c for c in active.filter(model__isnull=True, scope__in=scopes)}
    return next((by_scope[scope] for scope in scopes if scope in by_scope), None)


def committee_snapshot(committee: Committee | None) -> dict:
    if committee is None:
        return {}
    return {
        "id": committee.pk,
        "name": committee.name,
        "quorum": committee.quorum,
        "role_minimums": dict(committee.role_minimums),
        "members": [
            {"user_id": seat.user_id, "username": seat.user.username, "role": seat.role}
            for seat in committee.active_members()
        ],
    }


def seat_of(req: PromotionRequest, user: User | None) -> dict | None:
    """``user``'s seat on the request's committee (None when not a member or when there is no committee)."""
    if user is None:
        return None
    return next((m for m in (req.committee_snapshot or {}).get("members", []) if m["user_id"] == user.pk), None)


def recused_user_ids(req: PromotionRequest) -> set[int]:
    return {r.member_id for r in req.recusals.all()}


def quorum_rule(req: PromotionRequest) -> tuple[int, dict[str, int]]:
    """(approvals required, minimum approvals per role) for ``req``."""
    required = req.policy.approvals_required
    minimums = dict.fromkeys(req.policy.required_roles, 1)
    snapshot = req.committee_snapshot or {}
    if snapshot:
        required = max(required, snapshot["quorum"])
        for role, count in snapshot.get("role_minimums", {}).items():
            minimums[role] = max(minimums.get(role, 0), count)
    return required, minimums


def _owed(approvals: list[Approval], required: int, minimums: dict[str, int]) -> tuple[int, dict[str, int]]:
    by_role = Counter(a.role for a in approvals)
    missing = {role: count - by_role[role] for role, count in minimums.items() if by_role[role] < count}
    return max(required - len(approvals), 0), missing


def quorum_met(req: PromotionRequest, approvals: list[Approval]) -> bool:
    owed, missing = _owed(approvals, *quorum_rule(req))
    return owed == 0 and not missing


def is_stale(req: PromotionRequest, approval: Approval, now: dt.datetime | None = None) -> bool:
    """A signature older than the policy's ``approval_validity_days`` (never, without a window)."""
    days = req.policy.approval_validity_days
    if not days:
        return False
    return (now or timezone.now()) - approval.signed_at > dt.timedelta(days=days)


def stale_row(req: PromotionRequest, approval: Approval) -> dict:
    return {
        "approval_id": approval.pk,
        "username": approval.approver.username,
        "role": approval.role,
        "signed_at": approval.signed_at.isoformat(),
        "window_days": req.policy.approval_validity_days,
    }


def committee_state(req: PromotionRequest, fresh: list[Approval]) -> dict:
    """The committee arithmetic of one request: M members, recusals, M' eligible, N required."""
    snapshot = req.committee_snapshot
    required, minimums = quorum_rule(req)
    recused = recused_user_ids(req)
    eligible = [m for m in snapshot["members"] if m["user_id"] not in recused]
    signed = {a.approver_id for a in fresh}
    _, roles_owed = _owed(fresh, required, minimums)
    # reachable: the members who may still sign can cover what is owed
    can_still_sign = [m for m in eligible if m["user_id"] not in signed]
    still_by_role = Counter(m["role"] for m in can_still_sign)
    reachable = len(fresh) + len(can_still_sign) >= required and all(
        still_by_role[role] >= count for role, count in roles_owed.items()
    )
    return {
        "id": snapshot["id"],
        "name": snapshot["name"],
        "members": len(snapshot["members"]),
        "recused": len(recused),
        "eligible": len(eligible),
        "quorum": required,
        "role_minimums": minimums,
        "roles_owed": roles_owed,
        "reachable": reachable,
    }


def approvals_outstanding(req: PromotionRequest, approvals=None, *, now: dt.datetime | None = None) -> dict:
    """What is still owed: ``approvals`` (count), ``roles`` (roles below their minimum), ``given`` and
    ``required``; plus ``stale`` (signatures past the policy's window, which do not count) when there
    are any, and ``committee`` (the quorum arithmetic) when a committee signs the request."""
    approvals = list(valid_approvals(req) if approvals is None else approvals)
    stale = [a for a in approvals if is_stale(req, a, now)]
    fresh = [a for a in approvals if a not in stale]
    required, minimums = quorum_rule(req)
    owed, missing = _owed(fresh, required, minimums)
    out: dict = {"approvals": owed, "roles": sorted(missing), "given": len(fresh), "required": required}
    if stale:
        out["stale"] = [stale_row(req, a) for a in stale]
    if req.committee_snapshot:
        out["committee"] = committee_state(req, fresh)
    return out


def _live_approval(user: User, req: PromotionRequest) -> Approval | None:
    prefetched = getattr(req, "_prefetched_objects_cache", {}).get("approvals")
    if prefetched is not None:  # a list page loaded the approvals with the requests: no query per row
        return next((a for a in prefetched if a.approver_id == user.pk and a.invalidated_at is None), None)
    return req.approvals.filter(approver=user, invalidated_at__isnull=True).first()


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
    snapshot = req.committee_snapshot or {}
    if snapshot:
        seat = seat_of(req, user)
        if seat is None:
            return PermissionRefused(
                f"this request is signed by the committee {snapshot['name']!r}; you are not a member",
                field="committee",
            )
        if user.pk in recused_user_ids(req):
            return PermissionRefused("you recused yourself from this request (conflict of interest)", field="committee")
        if not has_role(user, seat["role"], superusers=False, held=held):
            return PermissionRefused(
                f"your seat on {snapshot['name']!r} is as {seat['role']}, a role you no longer hold", field="committee"
            )
    live = _live_approval(user, req)
    if live is not None and not is_stale(req, live):
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
    seat = seat_of(req, user)
    if seat is not None:
        return seat["role"]
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

"""Promotion workflow rules: policies, requests, signatures, promotion, rollback, live evidence.

Every state change runs in one transaction with one audit event for that change (plus the
registry's own ``model_version.stage_change`` events, and one ``supersede`` event per request a
promotion supersedes). Refusals are audited through ``deny`` *after* the refused transaction has
rolled back, so nothing is half-written and the denied attempt is kept.

Lock order (no deadlocks between racing approvals): promotion request rows (for a production
target: every open production request of the model, in primary-key order), then the model's
version rows (primary-key order), then the audit head (taken last by ``audit_event_append``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import Actor
from audit.services import audit_event_append
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import DEVELOPER, PIPELINE, RISK_OFFICER, VALIDATOR
from governance.accounts.stepup import ReauthRefused, StepUpProof, signature_reauthentication
from governance.common.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    NotFound,
    PermissionRefused,
    ValidationFailed,
)
from governance.common.events import announce
from governance.common.services import deny
from governance.evaluations.models import Evaluation, EvaluationStatus
from governance.registry.models import EuAiActCategory, ModelStatus, ModelVersion, RegisteredModel, Stage
from governance.registry.services import model_version_stage_change, version_target
from governance.workflow import gates
from governance.workflow.models import (
    OPEN_STATUSES,
    TARGET_STAGES,
    TRANSITIONS,
    Approval,
    Decision,
    Policy,
    PolicyScope,
    PromotionRequest,
    RequestStatus,
    ReviewFlag,
    StageTransition,
)

REQUEST_ROLES = (DEVELOPER, PIPELINE, RISK_OFFICER)
ROLLBACK_ROLES = (RISK_OFFICER,)
POLICY_EDITOR_ROLES = (RISK_OFFICER,)
SIGNER_ROLE_PREFERENCE = (VALIDATOR, RISK_OFFICER)
POLICY_FIELDS = (
    "description",
    "required_kinds",
    "checks",
    "allowed_from_stages",
    "max_evaluation_age_days",
    "require_computed",
    "approvals_required",
    "required_roles",
    "accepted_roles",
    "request_window_days",
)


# --- helpers --------------------------------------------------------------------------------------------------


class _Refuse(Exception):
    """Raised inside a transaction to roll it back; ``_refusals`` then audits the denial and raises."""

    def __init__(
        self,
        reason: str,
        error: type[DomainError] = PermissionRefused,
        field: str | None = None,
        details: dict | None = None,
    ):
        super().__init__(reason)
        self.reason, self.error, self.field, self.details = reason, error, field, details


@contextmanager
def _refusals(actor: Actor, action: str, target: dict) -> Iterator[None]:
    try:
        yield
    except _Refuse as refusal:
        deny(
            actor=actor,
            action=action,
            target=target,
            reason=refusal.reason,
            error=refusal.error,
            field=refusal.field,
            details=refusal.details,
        )


def _roles(user: User) -> set[str]:
    if not user.is_active:
        return set()
    return set(user.groups.values_list("name", flat=True))


def _has_any_role(user: User, roles) -> bool:
    return user.is_superuser or bool(_roles(user) & set(roles))


def request_target(req: PromotionRequest) -> dict:
    version = req.model_version
    return {
        "type": "promotion_request",
        "id": str(req.pk),
        "model": version.model.name,
        "version": version.version,
        "target_stage": req.target_stage,
    }


def policy_target(policy: Policy) -> dict:
    return {
        "type": "policy",
        "id": str(policy.pk),
        "scope": policy.scope,
        "target_stage": policy.target_stage,
        "is_rollback": policy.is_rollback,
        "version": policy.version,
    }


def _policy_ref(policy: Policy) -> dict:
    return {"id": policy.pk, "scope": policy.scope, "version": policy.version, "is_rollback": policy.is_rollback}


def _on_commit(task, *args) -> None:
    # robust: the change is committed; a broker or mail server that is down is logged, not a 500
    transaction.on_commit(lambda: task.delay(*args), robust=True)


def _tasks():
    from governance.workflow import tasks  # late import: tasks import the Celery app

    return tasks


def _transition(req: PromotionRequest, to_status: str) -> None:
    if to_status not in TRANSITIONS[req.status]:
        raise _Refuse(
            f"illegal transition of request #{req.pk}: {req.status} -> {to_status}",
            IllegalTransition,
            field="status",
            details={"from": req.status, "to": to_status},
        )
    req.status = to_status


# --- policies -------------------------------------------------------------------------------------------------


def policy_scopes_for(model: RegisteredModel) -> list[str]:
    """Most specific first: the EU AI Act category when it is high or prohibited, then the SR 11-7
    risk tier, then a limited/minimal-category policy if a risk officer created one."""
    scopes = []
    if model.eu_ai_act_category in (EuAiActCategory.HIGH, EuAiActCategory.PROHIBITED):
        scopes.append(model.eu_ai_act_category)
    scopes.append(model.risk_tier)
    if model.eu_ai_act_category in (EuAiActCategory.LIMITED, EuAiActCategory.MINIMAL):
        scopes.append(model.eu_ai_act_category)
    return scopes


def policy_for(model: RegisteredModel, target_stage: str, *, is_rollback: bool = False) -> Policy | None:
    current = {
        p.scope: p for p in Policy.objects.filter(target_stage=target_stage, is_rollback=is_rollback, is_current=True)
    }
    return next((current[s] for s in policy_scopes_for(model) if s in current), None)


def clean_policy_data(data: dict) -> dict:
    unknown = sorted(set(data) - set(POLICY_FIELDS))
    if unknown:
        raise ValidationFailed(f"{unknown[0]}: cannot be set on a policy", field=unknown[0])
    out = dict(data)
    if "checks" in out:
        out["checks"] = gates.clean_checks(out["checks"])
    if "required_kinds" in out:
        out["required_kinds"] = gates.clean_kinds(out["required_kinds"])
    if "allowed_from_stages" in out:
        out["allowed_from_stages"] = gates.clean_stages(out["allowed_from_stages"])
    for name in ("required_roles", "accepted_roles"):
        if name in out:
            out[name] = gates.clean_roles(out[name], name)
    for name, low in (("max_evaluation_age_days", 1), ("approvals_required", 1), ("request_window_days", 1)):
        if name in out and (isinstance(out[name], bool) or not isinstance(out[name], int) or out[name] < low):
            raise ValidationFailed(f"{name}: must be a whole number of at least {low}", field=name)
    return out


def _check_policy_consistency(policy: Policy) -> None:
    if not policy.accepted_roles:
        raise ValidationFailed("accepted_roles: at least one role must be allowed to sign", field="accepted_roles")
    missing = sorted(set(policy.required_roles) - set(policy.accepted_roles))
    if missing:
        raise ValidationFailed(
            f"required_roles: {missing[0]} is required but not among accepted_roles", field="required_roles"
        )
    if policy.approvals_required < len(policy.required_roles):
        raise ValidationFailed(
            "approvals_required: must be at least the number of required roles (one signature counts for one role)",
            field="approvals_required",
        )
    if not policy.allowed_from_stages:
        raise ValidationFailed("allowed_from_stages: name at least one stage", field="allowed_from_stages")
    if policy.target_stage in policy.allowed_from_stages:
        raise ValidationFailed("allowed_from_stages: cannot include the target stage", field="allowed_from_stages")


def _policy_snapshot(policy: Policy) -> dict:
    return {name: getattr(policy, name) for name in POLICY_FIELDS}


def policy_create(*, by: Principal, scope: str, target_stage: str, is_rollback: bool = False, **data) -> Policy:
    actor, user = by.actor, by.user
    target = {"type": "policy", "id": f"{scope}:{target_stage}:{'rollback' if is_rollback else 'promotion'}"}
    if not _has_any_role(user, POLICY_EDITOR_ROLES):
        deny(actor=actor, action="policy.create", target=target, reason="only risk officers set policies")
    if scope not in PolicyScope.values:
        raise ValidationFailed(f"scope: must be one of {', '.join(PolicyScope.values)}", field="scope")
    if target_stage not in TARGET_STAGES:
        raise ValidationFailed("target_stage: must be staging or production", field="target_stage")
    policy = Policy(
        scope=scope, target_stage=target_stage, is_rollback=is_rollback, created_by=user, **clean_policy_data(data)
    )
    _check_policy_consistency(policy)
    with transaction.atomic():
        if (
            Policy.objects.select_for_update()
            .filter(scope=scope, target_stage=target_stage, is_rollback=is_rollback, is_current=True)
            .exists()
        ):
            raise Conflict("a current policy exists for this scope and stage; revise it instead", field="scope")
        last = (
            Policy.objects.filter(scope=scope, target_stage=target_stage, is_rollback=is_rollback)
            .order_by("-version")
            .first()
        )
        policy.version = last.version + 1 if last else 1
        policy.save()
        audit_event_append(
            actor=actor, action="policy.create", target=policy_target(policy), details=_policy_snapshot(policy)
        )
    return policy


def policy_revise(*, by: Principal, policy: Policy, data: dict, reason: str = "") -> Policy:
    """An edit creates a new version; the old one stays as it was (requests keep the version they were
    judged under) and is no longer current."""
    actor, user = by.actor, by.user
    if not _has_any_role(user, POLICY_EDITOR_ROLES):
        deny(
            actor=actor,
            action="policy.revise",
            target=policy_target(policy),
            reason="only risk officers change policies",
        )
    data = clean_policy_data(data)
    with transaction.atomic():
        current = Policy.objects.select_for_update().get(pk=policy.pk)
        if not current.is_current:
            raise Conflict(
                f"policy version {current.version} is no longer current; edit the current version", field="version"
            )
        changes = {
            name: {"before": getattr(current, name), "after": value}
            for name, value in data.items()
            if getattr(current, name) != value
        }
        if not changes:
            return current
        new = Policy(
            scope=current.scope,
            target_stage=current.target_stage,
            is_rollback=current.is_rollback,
            version=current.version + 1,
            created_by=user,
            **{**_policy_snapshot(current), **data},
        )
        _check_policy_consistency(new)
        current.is_current = False
        current.save(update_fields=["is_current"])
        new.save()
        audit_event_append(
            actor=actor,
            action="policy.revise",
            target=policy_target(new),
            details={
                "previous_version": current.version,
                "previous_id": current.pk,
                "changes": changes,
                "policy": _policy_snapshot(new),
            },
            reason=reason or None,
        )
    return new


# --- requests -------------------------------------------------------------------------------------------------


def promotion_request_create(
    *, by: Principal, version: ModelVersion | int, target_stage: str, reason: str, is_rollback: bool = False
) -> PromotionRequest:
    actor, user = by.actor, by.user
    action = "promotion_request.create"
    if not isinstance(version, ModelVersion):
        found = ModelVersion.objects.select_related("model").filter(pk=version).first()
        if found is None:
            deny(
                actor=actor,
                action=action,
                target={"type": "model_version", "id": str(version)},
                reason=f"no model version with id {version}",
                error=NotFound,
                field="model_version",
            )
        version = found
    target = {**version_target(version), "target_stage": str(target_stage), "is_rollback": is_rollback}
    with _refusals(actor, action, target):
        roles = ROLLBACK_ROLES if is_rollback else REQUEST_ROLES
        if not _has_any_role(user, roles):
            raise _Refuse(
                "only risk officers request a rollback"
                if is_rollback
                else "only developers, pipelines and risk officers request promotions"
            )
        reason = (reason or "").strip()
        if not reason:
            raise _Refuse(
                "a reason is required" if not is_rollback else "a rollback needs a justification",
                ValidationFailed,
                "reason",
            )
        if target_stage not in TARGET_STAGES:
            raise _Refuse("target_stage must be staging or production", ValidationFailed, "target_stage")
        with transaction.atomic():
            version = ModelVersion.objects.select_related("model", "registered_by").get(pk=version.pk)
            model = version.model
            if version.stage == target_stage:
                raise _Refuse(
                    f"{model.name} {version.version} is already in {target_stage}", ValidationFailed, "target_stage"
                )
            if model.status != ModelStatus.ACTIVE:
                raise _Refuse("the model is decommissioned", ValidationFailed, "model_version")
            if model.eu_ai_act_category == EuAiActCategory.PROHIBITED and target_stage == Stage.PRODUCTION:
                raise _Refuse(
                    "a prohibited AI practice (EU AI Act Art. 5) can never reach production",
                    PermissionRefused,
                    "target_stage",
                )
            policy = policy_for(model, target_stage, is_rollback=is_rollback)
            if policy is None:
                raise _Refuse(
                    f"no current {'rollback ' if is_rollback else ''}policy covers {model.name} "
                    f"({', '.join(policy_scopes_for(model))}) to {target_stage}",
                    ValidationFailed,
                    "target_stage",
                )
            if version.stage not in policy.allowed_from_stages:
                hint = (
                    "; to re-promote an earlier version use a rollback request"
                    if version.stage == Stage.RETIRED and not is_rollback
                    else ""
                )
                raise _Refuse(
                    f"policy {policy} does not allow moving from {version.stage} to {target_stage} "
                    f"(allowed from: {', '.join(policy.allowed_from_stages)}){hint}",
                    ValidationFailed,
                    "target_stage",
                )
            if (
                is_rollback
                and not StageTransition.objects.filter(model_version=version, to_stage=Stage.PRODUCTION).exists()
            ):
                raise _Refuse(
                    "a rollback re-promotes a version that was in production before; this one never was",
                    ValidationFailed,
                    "model_version",
                )
            duplicate = (
                PromotionRequest.objects.select_for_update()
                .filter(model_version=version, target_stage=target_stage, status__in=OPEN_STATUSES)
                .first()
            )
            if duplicate is not None:
                raise _Refuse(
                    f"request #{duplicate.pk} for this version and stage is already open",
                    Conflict,
                    "model_version",
                    details={"open_request": duplicate.pk},
                )
            rows, passed = gates.evaluate(policy, version)
            now = timezone.now()
            req = PromotionRequest(
                model_version=version,
                from_stage=version.stage,
                target_stage=target_stage,
                reason=reason,
                requested_by=user,
                created_at=now,
                policy=policy,
                is_rollback=is_rollback,
                gate_results=rows,
                gates_passed=passed,
                gates_evaluated_at=now,
            )
            try:
                with transaction.atomic():
                    req.save()
            except IntegrityError as exc:  # a concurrent duplicate won the race
                raise _Refuse(
                    "a request for this version and stage is already open", Conflict, "model_version"
                ) from exc
            audit_event_append(
                actor=actor,
                action="promotion_request.create",
                target=request_target(req),
                details={
                    "from": req.from_stage,
                    "to": target_stage,
                    "is_rollback": is_rollback,
                    "policy": _policy_ref(policy),
                    "gates_passed": passed,
                    "gate_results": rows,
                },
                reason=reason,
            )
            _on_commit(_tasks().notify_awaiting_signature, req.pk)
            announce("promotion_request.created", request_id=req.pk)
    return req


def rollback_request_create(*, by: Principal, version: ModelVersion | int, reason: str) -> PromotionRequest:
    """A risk officer re-promotes an earlier production version; judged under the rollback policy."""
    return promotion_request_create(
        by=by, version=version, target_stage=Stage.PRODUCTION, reason=reason, is_rollback=True
    )


def _lock_request(req: PromotionRequest) -> PromotionRequest:
    """Lock the request (for production: every open production request of the model, in pk order),
    then the model's version rows. Returns the fresh, locked request."""
    model_id = req.model_version.model_id
    if req.target_stage == Stage.PRODUCTION:
        list(
            PromotionRequest.objects.select_for_update(of=("self",))
            .filter(model_version__model_id=model_id, target_stage=Stage.PRODUCTION)
            .filter(Q(status__in=OPEN_STATUSES) | Q(pk=req.pk))
            .order_by("pk")
            .only("pk")
        )
    else:
        list(PromotionRequest.objects.select_for_update().filter(pk=req.pk).only("pk"))
    list(ModelVersion.objects.select_for_update().filter(model_id=model_id).order_by("pk").only("pk"))
    return PromotionRequest.objects.select_related(
        "model_version__model", "model_version__registered_by", "policy", "requested_by"
    ).get(pk=req.pk)


def promotion_request_withdraw(*, by: Principal, request: PromotionRequest, reason: str) -> PromotionRequest:
    actor, user = by.actor, by.user
    action = "promotion_request.withdraw"
    with _refusals(actor, action, request_target(request)):
        if request.requested_by_id != user.pk and not _has_any_role(user, (RISK_OFFICER,)):
            raise _Refuse("only the requester or a risk officer may withdraw a request")
        reason = (reason or "").strip()
        if not reason:
            raise _Refuse("a reason is required", ValidationFailed, "reason")
        with transaction.atomic():
            req = _lock_request(request)
            before = req.status
            _transition(req, RequestStatus.WITHDRAWN)
            req.decided_at = timezone.now()
            req.status_reason = reason
            req.save(update_fields=["status", "decided_at", "status_reason"])
            audit_event_append(
                actor=actor,
                action=action,
                target=request_target(req),
                details={"from": before, "to": req.status},
                reason=reason,
            )
    return req


def _expire(req: PromotionRequest, actor: Actor, now: dt.datetime) -> None:
    before = req.status
    _transition(req, RequestStatus.EXPIRED)
    req.decided_at = now
    req.status_reason = f"older than the policy's {req.policy.request_window_days}-day window"
    req.save(update_fields=["status", "decided_at", "status_reason"])
    audit_event_append(
        actor=actor,
        action="promotion_request.expire",
        target=request_target(req),
        details={
            "from": before,
            "to": req.status,
            "created_at": req.created_at,
            "window_days": req.policy.request_window_days,
        },
    )
    _on_commit(_tasks().notify_decided, req.pk)


def requests_expire(*, by: Principal, now: dt.datetime | None = None) -> list[int]:
    """Expire every open request older than its policy's window (Celery beat). Returns their ids."""
    actor = by.actor
    now = now or timezone.now()
    expired = []
    for req in PromotionRequest.objects.filter(status__in=OPEN_STATUSES).select_related("policy"):
        if now <= req.expires_at:
            continue
        with transaction.atomic():
            req = _lock_request(req)
            if req.status in OPEN_STATUSES and now > req.expires_at:
                _expire(req, actor, now)
                expired.append(req.pk)
    return expired


# --- signatures -----------------------------------------------------------------------------------------------


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


def signer_refusal(user: User, req: PromotionRequest) -> str | None:
    """Why ``user`` may not sign ``req`` (None when they may). Shared by the service and the admin."""
    if user.is_service_account:
        return "a service account never signs"
    if not user.is_active:
        return "inactive users do not sign"
    if req.status not in OPEN_STATUSES:
        return f"the request is {req.status}"
    if req.requested_by_id == user.pk:
        return "you cannot sign your own request"
    if req.model_version.registered_by_id == user.pk:
        return "you registered this version; someone else must sign"
    if req.approvals.filter(approver=user, invalidated_at__isnull=True).exists():
        return "you have already signed this request"
    if not _roles(user) & set(req.policy.accepted_roles):
        return f"policy {req.policy} accepts signatures from: {', '.join(req.policy.accepted_roles)}"
    return None


def _signing_role(user: User, req: PromotionRequest, *, override: bool) -> str:
    mine = _roles(user) & set(req.policy.accepted_roles)
    if override:
        return RISK_OFFICER
    outstanding = approvals_outstanding(req)["roles"]
    for role in (*outstanding, *SIGNER_ROLE_PREFERENCE, *sorted(mine)):
        if role in mine:
            return role
    return sorted(mine)[0]


def _override_covers(req: PromotionRequest, failing: list[str]) -> Approval | None:
    for approval in valid_approvals(req):
        if approval.override_justification and set(failing) <= set(approval.overridden_checks):
            return approval
    return None


def _refresh_locked(req: PromotionRequest, now: dt.datetime) -> tuple[list[dict], list[str]]:
    """Re-evaluate the gates of a locked request; returns (previous rows, newly failing checks)."""
    before = req.gate_results
    rows, passed = gates.evaluate(req.policy, req.model_version, now=now)
    if rows != before or passed != req.gates_passed:
        req.gate_results, req.gates_passed, req.gates_evaluated_at = rows, passed, now
        req.save(update_fields=["gate_results", "gates_passed", "gates_evaluated_at"])
    return before, gates.newly_failing(before, rows)


def _invalidate(req: PromotionRequest, newly: list[str], now: dt.datetime) -> list[int]:
    ids = []
    for approval in req.approvals.filter(invalidated_at__isnull=True):
        approval.invalidated_at = now
        approval.invalidated_reason = f"gate(s) {', '.join(newly)} passed when signed and fail now"
        approval.save(update_fields=["invalidated_at", "invalidated_reason"])
        ids.append(approval.pk)
    return ids


def promotion_approve(
    *,
    by: Principal,
    request: PromotionRequest,
    justification: str,
    password: str,
    override_justification: str = "",
    step_up: StepUpProof | None = None,
) -> PromotionRequest:
    return _decide(
        by=by,
        request=request,
        decision=Decision.APPROVE,
        justification=justification,
        password=password,
        override_justification=override_justification,
        step_up=step_up,
    )


def promotion_reject(
    *,
    by: Principal,
    request: PromotionRequest,
    justification: str,
    password: str,
    step_up: StepUpProof | None = None,
) -> PromotionRequest:
    return _decide(
        by=by,
        request=request,
        decision=Decision.REJECT,
        justification=justification,
        password=password,
        step_up=step_up,
    )


def _decide(
    *,
    by: Principal,
    request: PromotionRequest,
    decision: str,
    justification: str,
    password: str,
    override_justification: str = "",
    step_up: StepUpProof | None = None,
) -> PromotionRequest:
    actor, user = by.actor, by.user
    action = f"promotion_request.{decision}"
    justification = (justification or "").strip()
    override_justification = (override_justification or "").strip()
    expired = False
    with _refusals(actor, action, request_target(request)):
        if user.is_service_account:
            raise _Refuse("a service account never signs")
        if not justification:
            raise _Refuse("a justification is required", ValidationFailed, "justification")
        if decision == Decision.REJECT and override_justification:
            raise _Refuse("an override applies to approvals only", ValidationFailed, "override_justification")
        try:  # the signing rule (password, or step-up at the identity provider): governance/accounts/stepup.py
            reauthentication = signature_reauthentication(user, password=password, step_up=step_up)
        except ReauthRefused as exc:
            raise _Refuse(exc.reason, PermissionRefused, exc.field, details={"reauthentication": exc.details}) from exc
        with transaction.atomic():
            now = timezone.now()
            req = _lock_request(request)
            if req.status not in OPEN_STATUSES:
                raise _Refuse(f"the request is {req.status}; it can no longer be signed", IllegalTransition, "status")
            if now > req.expires_at:
                _expire(req, actor, now)
                expired = True
            else:
                refusal = signer_refusal(user, req)
                if refusal:
                    error = Conflict if "already signed" in refusal else PermissionRefused
                    raise _Refuse(refusal, error)
                _, newly = _refresh_locked(req, now)
                invalidated = _invalidate(req, newly, now) if newly else []
                failing = gates.failing(req.gate_results)
                overridden: list[str] = []
                if decision == Decision.APPROVE and failing:
                    if override_justification:
                        if RISK_OFFICER not in _roles(user):
                            raise _Refuse(
                                "only a risk officer may override a failing gate",
                                PermissionRefused,
                                "override_justification",
                                details={"failing": failing},
                            )
                        overridden = failing
                    elif _override_covers(req, failing) is None:
                        raise _Refuse(
                            f"gates fail ({', '.join(failing)}); a risk officer may override them with "
                            "an explicit override justification",
                            Conflict,
                            "override_justification",
                            details={"failing": failing},
                        )
                elif override_justification:
                    raise _Refuse(
                        "every gate passes; there is nothing to override", ValidationFailed, "override_justification"
                    )
                approval = Approval(
                    request=req,
                    approver=user,
                    role=_signing_role(user, req, override=bool(overridden)),
                    decision=decision,
                    justification=justification,
                    override_justification=override_justification,
                    overridden_checks=overridden,
                    signature_meaning=signature_meaning(req, decision),
                    signed_at=now,
                    gate_snapshot=req.gate_results,
                    reauthentication=reauthentication,
                )
                try:
                    with transaction.atomic():
                        approval.save()
                except IntegrityError as exc:
                    raise _Refuse("you have already signed this request", Conflict) from exc
                outstanding = approvals_outstanding(req)
                if decision == Decision.REJECT:
                    _transition(req, RequestStatus.REJECTED)
                    req.decided_at = now
                    req.save(update_fields=["status", "decided_at"])
                elif outstanding["approvals"] == 0 and not outstanding["roles"]:
                    _transition(req, RequestStatus.APPROVED)
                    req.save(update_fields=["status"])
                audit_event_append(
                    actor=actor,
                    action=action,
                    target=request_target(req),
                    details={
                        "approval": approval.pk,
                        "role": approval.role,
                        "signature_meaning": approval.signature_meaning,
                        "reauthenticated": True,
                        "reauthentication": reauthentication,
                        "override": bool(overridden),
                        "override_justification": override_justification or None,
                        "overridden_checks": overridden,
                        "gates_passed": req.gates_passed,
                        "failing": failing,
                        "invalidated_approvals": invalidated,
                        "request_status": req.status,
                        "outstanding": outstanding,
                    },
                    reason=justification,
                )
                announce("promotion_request.decided", request_id=req.pk, decision=decision, status=req.status)
                if req.status == RequestStatus.APPROVED:
                    _promote(req, by, now)
                if req.status in (RequestStatus.REJECTED, RequestStatus.PROMOTED):
                    _on_commit(_tasks().notify_decided, req.pk)
        if expired:
            raise _Refuse(
                f"request #{req.pk} is older than its policy's {req.policy.request_window_days}-day window "
                "and has expired",
                IllegalTransition,
                "status",
            )
    return req


def _approver_snapshot(approvals) -> list[dict]:
    return [
        {
            "approval_id": a.pk,
            "username": a.approver.username,
            "role": a.role,
            "signed_at": a.signed_at.isoformat(),
            "override": bool(a.override_justification),
            "signature_meaning": a.signature_meaning,
            "reauthentication": a.reauthentication or {"method": "password"},
        }
        for a in approvals
    ]


def _promote(req: PromotionRequest, by: Principal, now: dt.datetime) -> None:
    actor = by.actor
    version = req.model_version
    if version.stage != req.from_stage:
        raise _Refuse(
            f"the version moved to {version.stage} after the request was made; the request is stale",
            IllegalTransition,
            "status",
        )
    approvals = list(valid_approvals(req))
    snapshot = _approver_snapshot(approvals)
    evaluation_ids = sorted({r["evaluation_id"] for r in req.gate_results if r["evaluation_id"]})
    origin = {"promotion_request": req.pk, "is_rollback": req.is_rollback}
    moved = model_version_stage_change(
        by=by,
        version=version,
        to_stage=req.target_stage,
        details=origin,
        reason=f"{'rollback' if req.is_rollback else 'promotion'} request #{req.pk}: {req.reason}",
    )
    retired = retired_id = None
    for mv in moved:
        is_subject = mv.pk == version.pk
        if not is_subject:
            retired, retired_id = mv.version, mv.pk
        StageTransition.objects.create(
            model=version.model,
            model_version=mv,
            from_stage=req.from_stage if is_subject else Stage.PRODUCTION,
            to_stage=mv.stage,
            at=mv.stage_changed_at,
            request=req,
            approvers=snapshot,
            evaluation_ids=evaluation_ids if is_subject else [],
            is_rollback=req.is_rollback,
            reason=req.reason if is_subject else f"replaced in production by {version.version}",
        )
    superseded = []
    if req.target_stage == Stage.PRODUCTION:
        others = (
            PromotionRequest.objects.filter(
                model_version__model_id=version.model_id, target_stage=Stage.PRODUCTION, status__in=OPEN_STATUSES
            )
            .exclude(pk=req.pk)
            .select_related("model_version__model", "policy")
        )
        for other in others:
            before = other.status
            _transition(other, RequestStatus.SUPERSEDED)
            other.superseded_by, other.decided_at = req, now
            other.status_reason = f"{version.version} was promoted to production first (request #{req.pk})"
            other.save(update_fields=["status", "superseded_by", "decided_at", "status_reason"])
            audit_event_append(
                actor=actor,
                action="promotion_request.supersede",
                target=request_target(other),
                details={"from": before, "to": other.status, "superseded_by": req.pk},
            )
            superseded.append(other.pk)
            _on_commit(_tasks().notify_decided, other.pk)
    _transition(req, RequestStatus.PROMOTED)
    req.decided_at = now
    req.save(update_fields=["status", "decided_at"])
    audit_event_append(
        actor=actor,
        action="promotion_request.promote",
        target=request_target(req),
        details={
            "from": req.from_stage,
            "to": req.target_stage,
            "is_rollback": req.is_rollback,
            "policy": _policy_ref(req.policy),
            "approvals": snapshot,
            "evaluation_ids": evaluation_ids,
            "gates_passed": req.gates_passed,
            "retired": retired,
            "superseded": superseded,
            "status_path": ["approved", "promoted"],
        },
    )
    announce(
        "model_version.promoted",
        version_id=version.pk,
        request_id=req.pk,
        is_rollback=req.is_rollback,
        retired_version_id=retired_id,
    )
    if req.is_rollback:
        announce("model_version.rolled_back", version_id=version.pk, request_id=req.pk, retired_version_id=retired_id)


# --- live evidence --------------------------------------------------------------------------------------------


def promotion_gates_refresh(*, by: Principal, request: PromotionRequest) -> PromotionRequest:
    """Re-evaluate an open request's gates. When a gate that passed now fails, every signature
    already given is invalidated (kept and shown) and the request needs them again."""
    actor = by.actor
    with transaction.atomic():
        now = timezone.now()
        req = _lock_request(request)
        if req.status not in OPEN_STATUSES:
            return req
        before, newly = _refresh_locked(req, now)
        if req.gate_results == before:
            return req
        invalidated = _invalidate(req, newly, now) if newly else []
        audit_event_append(
            actor=actor,
            action="promotion_request.gates_refresh",
            target=request_target(req),
            details={
                "gates_passed": req.gates_passed,
                "failing": gates.failing(req.gate_results),
                "newly_failing": newly,
                "invalidated_approvals": invalidated,
                "gate_results": req.gate_results,
            },
        )
        if invalidated:
            _on_commit(_tasks().notify_awaiting_signature, req.pk)
    return req


def evaluation_recorded(evaluation: Evaluation, by: Principal) -> dict:
    """Called by the evaluations service after an evaluation finishes (outside its transaction).

    Refreshes the gates of the version's open requests, and flags a production version whose new
    evaluation breaches its production policy (owner and risk officers are notified)."""
    evaluation = Evaluation.objects.select_related("model_version__model").get(pk=evaluation.pk)
    if evaluation.status != EvaluationStatus.DONE:
        return {"refreshed": [], "flag": None}
    version = evaluation.model_version
    refreshed = [
        promotion_gates_refresh(by=by, request=req).pk
        for req in PromotionRequest.objects.filter(model_version=version, status__in=OPEN_STATUSES)
    ]
    flag = None
    if version.stage == Stage.PRODUCTION:
        policy = policy_for(version.model, Stage.PRODUCTION)
        if policy is not None:
            rows, _ = gates.evaluate(policy, version, evaluations=[evaluation])
            breaches = [r for r in rows if r["evaluation_id"] == evaluation.pk and r["outcome"] == gates.FAIL]
            if breaches:
                with transaction.atomic():
                    flag = ReviewFlag.objects.create(
                        model_version=version, evaluation=evaluation, policy=policy, breaches=breaches
                    )
                    audit_event_append(
                        actor=by.actor,
                        action="model_version.review_flag",
                        target=version_target(version),
                        details={
                            "flag": flag.pk,
                            "evaluation": evaluation.pk,
                            "policy": _policy_ref(policy),
                            "breaches": breaches,
                        },
                    )
                    _on_commit(_tasks().notify_review_flag, flag.pk)
                    announce("review_flag.raised", flag_id=flag.pk, version_id=version.pk)
    return {"refreshed": refreshed, "flag": flag.pk if flag else None}


def review_flag_resolve(*, by: Principal, flag: ReviewFlag, resolution: str) -> ReviewFlag:
    actor, user = by.actor, by.user
    target = {"type": "review_flag", "id": str(flag.pk), "model_version": str(flag.model_version_id)}
    with _refusals(actor, "review_flag.resolve", target):
        if not _has_any_role(user, (RISK_OFFICER,)):
            raise _Refuse("only a risk officer resolves a review flag")
        if not (resolution or "").strip():
            raise _Refuse("a resolution is required", ValidationFailed, "resolution")
        with transaction.atomic():
            flag = ReviewFlag.objects.select_for_update().get(pk=flag.pk)
            if flag.resolved_at:
                raise _Refuse("the flag is already resolved", IllegalTransition)
            flag.resolved_at, flag.resolved_by, flag.resolution = timezone.now(), user, resolution.strip()
            flag.save(update_fields=["resolved_at", "resolved_by", "resolution"])
            audit_event_append(
                actor=actor,
                action="review_flag.resolve",
                target=target,
                details={"evaluation": flag.evaluation_id},
                reason=flag.resolution,
            )
    return flag

"""Promotion workflow rules: policies, requests, signatures, promotion, rollback, live evidence.

Every service call is one unit of work (``audit_unit``): its state changes and all of its audit
events (the change itself, the registry's ``model_version.stage_change`` events, one
``supersede`` per request a promotion supersedes) commit together, and the events are appended
last. Refusals are raised as ``DomainError`` inside ``refusals(...)``, which records
``<action>.denied`` *after* the refused transaction has rolled back.

Lock order, the same in every service (no deadlocks): promotion request rows (for a production
target: every open production request of the model, in primary-key order), then the model's
version rows (primary-key order, ``FOR NO KEY UPDATE``, which does not block evaluations being
recorded against them), then the audit head, taken last by the unit of work.

Notifications are not sent from here: the services announce domain events
(``governance.common.events``) and ``WorkflowConfig.ready`` subscribes the e-mail tasks to them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from audit.services import AuditUnit, audit_unit, format_ts
from governance.accounts.principal import Principal
from governance.accounts.roles import DEVELOPER, PIPELINE, RISK_OFFICER
from governance.accounts.stepup import ReauthRefused, StepUpProof, signature_reauthentication
from governance.common.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PermissionRefused,
    ValidationFailed,
)
from governance.common.events import announce
from governance.common.refusals import refusals
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
from governance.workflow.signing import (
    approvals_outstanding,
    committee_for,
    committee_snapshot,
    is_stale,
    override_covering,
    quorum_met,
    signature_meaning,
    signer_refusal,
    signing_refusal,
    signing_role,
    valid_approvals,
)

__all__ = [  # signing rules re-exported for callers that used to find them here
    "approvals_outstanding",
    "signature_meaning",
    "signer_refusal",
    "valid_approvals",
]

logger = logging.getLogger(__name__)

REQUEST_ROLES = (DEVELOPER, PIPELINE, RISK_OFFICER)
ROLLBACK_ROLES = (RISK_OFFICER,)
POLICY_EDITOR_ROLES = (RISK_OFFICER,)
POLICY_FIELDS = (
    "description",
    "required_kinds",
    "checks",
    "allowed_from_stages",
    "max_evaluation_age_days",
    "require_computed",
    "require_agreement",
    "approvals_required",
    "required_roles",
    "accepted_roles",
    "request_window_days",
    "approval_validity_days",
)
REFRESH_ATTEMPTS = 5  # a gate refresh that meets a lock timeout or a serialization failure is retried


# --- helpers --------------------------------------------------------------------------------------------------


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


def _transition(req: PromotionRequest, to_status: str) -> None:
    if to_status not in TRANSITIONS[req.status]:
        raise IllegalTransition(
            f"illegal transition of request #{req.pk}: {req.status} -> {to_status}",
            field="status",
            details={"from": req.status, "to": to_status},
        )
    req.status = to_status


def _closed(req: PromotionRequest) -> None:
    announce("promotion_request.closed", request_id=req.pk, status=req.status)


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
    for name in ("require_computed", "require_agreement"):
        if name in out and not isinstance(out[name], bool):
            raise ValidationFailed(f"{name}: must be true or false", field=name)
    for name, low in (("max_evaluation_age_days", 1), ("approvals_required", 1), ("request_window_days", 1)):
        if name in out and (isinstance(out[name], bool) or not isinstance(out[name], int) or out[name] < low):
            raise ValidationFailed(f"{name}: must be a whole number of at least {low}", field=name)
    validity = out.get("approval_validity_days")
    if validity is not None and (isinstance(validity, bool) or not isinstance(validity, int) or validity < 1):
        raise ValidationFailed(
            "approval_validity_days: must be a whole number of days of at least 1, or empty (no expiry)",
            field="approval_validity_days",
        )
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
    target = {"type": "policy", "id": f"{scope}:{target_stage}:{'rollback' if is_rollback else 'promotion'}"}
    with refusals(by, "policy.create", target):
        by.require_role(*POLICY_EDITOR_ROLES, reason="only risk officers set policies")
        if scope not in PolicyScope.values:
            raise ValidationFailed(f"scope: must be one of {', '.join(PolicyScope.values)}", field="scope")
        if target_stage not in TARGET_STAGES:
            raise ValidationFailed("target_stage: must be staging or production", field="target_stage")
        policy = Policy(
            scope=scope,
            target_stage=target_stage,
            is_rollback=is_rollback,
            created_by=by.user,
            **clean_policy_data(data),
        )
        _check_policy_consistency(policy)
        with audit_unit(by.actor) as audit:
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
            audit.add("policy.create", policy_target(policy), details=_policy_snapshot(policy))
    return policy


def policy_revise(*, by: Principal, policy: Policy, data: dict, reason: str = "") -> Policy:
    """An edit creates a new version; the old one stays as it was (requests keep the version they were
    judged under) and is no longer current."""
    with refusals(by, "policy.revise", policy_target(policy)):
        by.require_role(*POLICY_EDITOR_ROLES, reason="only risk officers change policies")
        data = clean_policy_data(data)
        with audit_unit(by.actor) as audit:
            current = Policy.objects.select_for_update().get(pk=policy.pk)
            if not current.is_current:
                raise Conflict(
                    f"policy version {current.version} is no longer current; edit the current version",
                    field="version",
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
                created_by=by.user,
                **{**_policy_snapshot(current), **data},
            )
            _check_policy_consistency(new)
            current.is_current = False
            current.save(update_fields=["is_current"])
            new.save()
            audit.add(
                "policy.revise",
                policy_target(new),
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
    *, by: Principal, version: ModelVersion, target_stage: str, reason: str, is_rollback: bool = False
) -> PromotionRequest:
    action = "promotion_request.create"
    target = {**version_target(version), "target_stage": str(target_stage), "is_rollback": is_rollback}
    with refusals(by, action, target):
        if is_rollback:
            by.require_role(*ROLLBACK_ROLES, reason="only risk officers request a rollback")
        else:
            by.require_role(*REQUEST_ROLES, reason="only developers, pipelines and risk officers request promotions")
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed(
                "a reason is required" if not is_rollback else "a rollback needs a justification", field="reason"
            )
        if target_stage not in TARGET_STAGES:
            raise ValidationFailed("target_stage must be staging or production", field="target_stage")
        with audit_unit(by.actor) as audit:
            version = ModelVersion.objects.select_related("model", "registered_by").get(pk=version.pk)
            model = version.model
            if version.stage == target_stage:
                raise ValidationFailed(
                    f"{model.name} {version.version} is already in {target_stage}", field="target_stage"
                )
            if model.status != ModelStatus.ACTIVE:
                raise ValidationFailed("the model is decommissioned", field="model_version")
            if model.eu_ai_act_category == EuAiActCategory.PROHIBITED and target_stage == Stage.PRODUCTION:
                raise PermissionRefused(
                    "a prohibited AI practice (EU AI Act Art. 5) can never reach production", field="target_stage"
                )
            policy = policy_for(model, target_stage, is_rollback=is_rollback)
            if policy is None:
                raise ValidationFailed(
                    f"no current {'rollback ' if is_rollback else ''}policy covers {model.name} "
                    f"({', '.join(policy_scopes_for(model))}) to {target_stage}",
                    field="target_stage",
                )
            if version.stage not in policy.allowed_from_stages:
                hint = (
                    "; to re-promote an earlier version use a rollback request"
                    if version.stage == Stage.RETIRED and not is_rollback
                    else ""
                )
                raise ValidationFailed(
                    f"policy {policy} does not allow moving from {version.stage} to {target_stage} "
                    f"(allowed from: {', '.join(policy.allowed_from_stages)}){hint}",
                    field="target_stage",
                )
            if (
                is_rollback
                and not StageTransition.objects.filter(model_version=version, to_stage=Stage.PRODUCTION).exists()
            ):
                raise ValidationFailed(
                    "a rollback re-promotes a version that was in production before; this one never was",
                    field="model_version",
                )
            duplicate = (
                PromotionRequest.objects.select_for_update()
                .filter(model_version=version, target_stage=target_stage, status__in=OPEN_STATUSES)
                .first()
            )
            if duplicate is not None:
                raise Conflict(
                    f"request #{duplicate.pk} for this version and stage is already open",
                    field="model_version",
                    details={"open_request": duplicate.pk},
                )
            rows, passed = gates.evaluate(policy, version)
            now = timezone.now()
            committee = committee_for(model, target_stage, policy_scopes_for(model))
            req = PromotionRequest(
                committee=committee,
                committee_snapshot=committee_snapshot(committee),
                model_version=version,
                from_stage=version.stage,
                target_stage=target_stage,
                reason=reason,
                requested_by=by.user,
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
                raise Conflict("a request for this version and stage is already open", field="model_version") from exc
            audit.add(
                action,
                request_target(req),
                details={
                    "from": req.from_stage,
                    "to": target_stage,
                    "is_rollback": is_rollback,
                    "policy": _policy_ref(policy),
                    "gates_passed": passed,
                    "gate_results": rows,
                    **({"committee": req.committee_snapshot} if committee else {}),
                },
                reason=reason,
            )
            announce("promotion_request.created", request_id=req.pk)
    return req


def rollback_request_create(*, by: Principal, version: ModelVersion, reason: str) -> PromotionRequest:
    """A risk officer re-promotes an earlier production version; judged under the rollback policy."""
    return promotion_request_create(
        by=by, version=version, target_stage=Stage.PRODUCTION, reason=reason, is_rollback=True
    )


def version_for_request(by: Principal, version_id: int, *, model: RegisteredModel | None = None) -> ModelVersion:
    """The version a caller named by id (of ``model``, when given), or an audited ``NotFound`` (for
    callers holding only an id)."""
    found = ModelVersion.objects.select_related("model").filter(pk=version_id).first()
    if found is None or (model is not None and found.model_id != model.pk):
        target = {"type": "model_version", "id": str(version_id)}
        with refusals(by, "promotion_request.create", target):
            raise NotFound(f"no model version with id {version_id}", field="model_version")
    return found


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
    list(ModelVersion.objects.select_for_update(no_key=True).filter(model_id=model_id).order_by("pk").only("pk"))
    return PromotionRequest.objects.select_related(
        "model_version__model", "model_version__registered_by", "policy", "requested_by"
    ).get(pk=req.pk)


def promotion_request_withdraw(*, by: Principal, request: PromotionRequest, reason: str) -> PromotionRequest:
    action = "promotion_request.withdraw"
    with refusals(by, action, request_target(request)):
        if by.user_id is None or (request.requested_by_id != by.user_id and not by.has_role(RISK_OFFICER)):
            raise PermissionRefused("only the requester or a risk officer may withdraw a request")
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed("a reason is required", field="reason")
        with audit_unit(by.actor) as audit:
            req = _lock_request(request)
            before = req.status
            _transition(req, RequestStatus.WITHDRAWN)
            req.decided_at = timezone.now()
            req.status_reason = reason
            req.save(update_fields=["status", "decided_at", "status_reason"])
            audit.add(action, request_target(req), details={"from": before, "to": req.status}, reason=reason)
            _closed(req)
    return req


def _expire(audit: AuditUnit, req: PromotionRequest, now: dt.datetime) -> None:
    before = req.status
    _transition(req, RequestStatus.EXPIRED)
    req.decided_at = now
    req.status_reason = f"older than the policy's {req.policy.request_window_days}-day window"
    req.save(update_fields=["status", "decided_at", "status_reason"])
    audit.add(
        "promotion_request.expire",
        request_target(req),
        details={
            "from": before,
            "to": req.status,
            "created_at": req.created_at,
            "window_days": req.policy.request_window_days,
        },
    )
    _closed(req)


def requests_expire(*, by: Principal, now: dt.datetime | None = None) -> list[int]:
    """Expire every open request older than its policy's window (Celery beat). Returns their ids."""
    now = now or timezone.now()
    expired = []
    for req in PromotionRequest.objects.filter(status__in=OPEN_STATUSES).select_related("policy"):
        if now <= req.expires_at:
            continue
        with audit_unit(by.actor) as audit:
            req = _lock_request(req)
            if req.status in OPEN_STATUSES and now > req.expires_at:
                _expire(audit, req, now)
                expired.append(req.pk)
    return expired


# --- signatures -----------------------------------------------------------------------------------------------


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
    if ids:
        announce("promotion_request.signatures_invalidated", request_id=req.pk)
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
    action = f"promotion_request.{decision}"
    user = by.user
    justification = (justification or "").strip()
    override_justification = (override_justification or "").strip()
    expired = False
    with refusals(by, action, request_target(request)):
        if user is None:
            raise PermissionRefused("only a person signs")
        if user.is_service_account:
            raise PermissionRefused("a service account never signs")
        if not justification:
            raise ValidationFailed("a justification is required", field="justification")
        if decision == Decision.REJECT and override_justification:
            raise ValidationFailed("an override applies to approvals only", field="override_justification")
        try:  # the signing rule (password, or step-up at the identity provider): governance/accounts/stepup.py
            reauthentication = signature_reauthentication(user, password=password, step_up=step_up)
        except ReauthRefused as exc:
            raise PermissionRefused(exc.reason, field=exc.field, details={"reauthentication": exc.details}) from exc
        with audit_unit(by.actor) as audit:
            now = timezone.now()
            req = _lock_request(request)
            if req.status not in OPEN_STATUSES:
                raise IllegalTransition(f"the request is {req.status}; it can no longer be signed", field="status")
            if now > req.expires_at:
                _expire(audit, req, now)
                expired = True
            else:
                refusal = signing_refusal(user, req)
                if refusal is not None:
                    raise refusal
                _, newly = _refresh_locked(req, now)
                invalidated = _invalidate(req, newly, now) if newly else []
                failing = gates.failing(req.gate_results)
                overridden: list[str] = []
                if decision == Decision.APPROVE and failing:
                    if override_justification:
                        if not by.has_role(RISK_OFFICER, superusers=False):
                            raise PermissionRefused(
                                "only a risk officer may override a failing gate",
                                field="override_justification",
                                details={"failing": failing},
                            )
                        overridden = failing
                    elif override_covering(req, failing) is None:
                        raise Conflict(
                            f"gates fail ({'; '.join(gates.failing_described(req.gate_results))}); a risk officer "
                            "may override them with an explicit override justification",
                            field="override_justification",
                            details={"failing": failing, "disagreements": _disagreements(req.gate_results)},
                        )
                elif override_justification:
                    raise ValidationFailed(
                        "every gate passes; there is nothing to override", field="override_justification"
                    )
                renewed = _renew(req, user, now)
                approval = Approval(
                    request=req,
                    approver=user,
                    role=signing_role(user, req, override=bool(overridden)),
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
                    raise Conflict("you have already signed this request") from exc
                outstanding = approvals_outstanding(req, now=now)
                if decision == Decision.REJECT:
                    _transition(req, RequestStatus.REJECTED)
                    req.decided_at = now
                    req.save(update_fields=["status", "decided_at"])
                elif outstanding["approvals"] == 0 and not outstanding["roles"]:
                    _transition(req, RequestStatus.APPROVED)
                    req.save(update_fields=["status"])
                elif outstanding.get("stale") and quorum_met(req, list(valid_approvals(req))):
                    raise _stale_refusal(req, outstanding["stale"])
                audit.add(
                    action,
                    request_target(req),
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
                        "renewed_approval": renewed,
                        "request_status": req.status,
                        "outstanding": outstanding,
                    },
                    reason=justification,
                )
                announce("promotion_request.decided", request_id=req.pk, decision=decision, status=req.status)
                if req.status == RequestStatus.APPROVED:
                    _promote(audit, req, by, now)
                if req.status == RequestStatus.REJECTED:
                    _closed(req)
        if expired:
            raise IllegalTransition(
                f"request #{req.pk} is older than its policy's {req.policy.request_window_days}-day window "
                "and has expired",
                field="status",
            )
    return req


def _disagreements(rows: list[dict]) -> list[dict]:
    """The failing ``agreement`` rows (require_agreement): metric, both values, the gap and the tolerance."""
    return [
        {
            "metric": r["metric"],
            "dataset": r.get("dataset"),
            "reported": r.get("reported"),
            "reported_evaluation_id": r.get("reported_evaluation_id"),
            "computed": r.get("computed"),
            "computed_evaluation_id": r.get("evaluation_id"),
            "difference": r.get("value"),
            "tolerance": r.get("threshold"),
        }
        for r in rows
        if r.get("kind") == gates.AGREEMENT and r["outcome"] != gates.PASS
    ]


def _renew(req: PromotionRequest, user, now: dt.datetime) -> int | None:
    """A signer whose live signature is past the policy's window signs again: the old one is kept,
    invalidated as renewed. Returns its id (None when there was nothing to renew)."""
    live = req.approvals.filter(approver=user, invalidated_at__isnull=True).first()
    if live is None or not is_stale(req, live, now):
        return None
    live.invalidated_at = now
    live.invalidated_reason = (
        f"renewed: older than the policy's {req.policy.approval_validity_days}-day approval window"
    )
    live.save(update_fields=["invalidated_at", "invalidated_reason"])
    return live.pk


def _stale_refusal(req: PromotionRequest, stale: list[dict]) -> Conflict:
    """Promotion refused: the quorum is reached only by counting signatures past the policy's window."""
    names = "; ".join(
        f"approval #{row['approval_id']} by {row['username']} ({row['role']}), signed {row['signed_at'][:10]}"
        for row in stale
    )
    return Conflict(
        f"promotion refused: {names} is older than the policy's {req.policy.approval_validity_days}-day "
        "approval window and must be renewed (the signer signs again)",
        field="approvals",
        details={"stale_approvals": stale},
    )


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


def _promote(audit: AuditUnit, req: PromotionRequest, by: Principal, now: dt.datetime) -> None:
    version = req.model_version
    if version.stage != req.from_stage:
        raise IllegalTransition(
            f"the version moved to {version.stage} after the request was made; the request is stale", field="status"
        )
    approvals = [a for a in valid_approvals(req) if not is_stale(req, a, now)]
    snapshot = _approver_snapshot(approvals)
    evaluation_ids = sorted({r["evaluation_id"] for r in req.gate_results if r["evaluation_id"]})
    origin = {"promotion_request": req.pk, "is_rollback": req.is_rollback}
    moved = model_version_stage_change(  # its stage_change events join this unit
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
            audit.add(
                "promotion_request.supersede",
                request_target(other),
                details={"from": before, "to": other.status, "superseded_by": req.pk},
            )
            superseded.append(other.pk)
            _closed(other)
    _transition(req, RequestStatus.PROMOTED)
    req.decided_at = now
    req.save(update_fields=["status", "decided_at"])
    audit.add(
        "promotion_request.promote",
        request_target(req),
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
            # the instant the stage changed, fixed once by the stage change: its transitions' ``at``
            "at": format_ts(moved[-1].stage_changed_at),
        },
    )
    _closed(req)
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
    with audit_unit(by.actor) as audit:
        now = timezone.now()
        req = _lock_request(request)
        if req.status not in OPEN_STATUSES:
            return req
        before, newly = _refresh_locked(req, now)
        if req.gate_results == before:
            return req
        invalidated = _invalidate(req, newly, now) if newly else []
        audit.add(
            "promotion_request.gates_refresh",
            request_target(req),
            details={
                "gates_passed": req.gates_passed,
                "failing": gates.failing(req.gate_results),
                "newly_failing": newly,
                "invalidated_approvals": invalidated,
                "gate_results": req.gate_results,
            },
        )
    return req


def _retried(fn, *args, **kwargs):
    """Run a unit of work again when the database gives up on it (deadlock victim, serialization
    failure, lock timeout): each attempt is a fresh transaction, so nothing half-done is kept."""
    for attempt in range(1, REFRESH_ATTEMPTS + 1):
        try:
            return fn(*args, **kwargs)
        except OperationalError:
            if attempt == REFRESH_ATTEMPTS or transaction.get_connection().in_atomic_block:
                raise
            logger.warning("retrying %s after a database conflict (attempt %s)", fn.__name__, attempt)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def evaluation_recorded(evaluation: Evaluation, by: Principal) -> dict:
    """What the workflow does once an evaluation is recorded (after its commit): refresh the gates of
    the version's open requests, and flag a production version whose new evaluation breaches its
    production policy (owner and risk officers are notified). Each refresh is its own unit of work,
    retried on a database conflict; ``gates_reconcile`` catches any refresh that still did not happen."""
    evaluation = Evaluation.objects.select_related("model_version__model").get(pk=evaluation.pk)
    if evaluation.status != EvaluationStatus.DONE:
        return {"refreshed": [], "flag": None}
    version = evaluation.model_version
    refreshed = [
        _retried(promotion_gates_refresh, by=by, request=req).pk
        for req in PromotionRequest.objects.filter(model_version=version, status__in=OPEN_STATUSES)
    ]
    flag = None
    if version.stage == Stage.PRODUCTION:
        policy = policy_for(version.model, Stage.PRODUCTION)
        if policy is not None:
            rows, _ = gates.evaluate(policy, version, evaluations=[evaluation])
            breaches = [r for r in rows if r["evaluation_id"] == evaluation.pk and r["outcome"] == gates.FAIL]
            if breaches:
                with audit_unit(by.actor) as audit:
                    flag = ReviewFlag.objects.create(
                        model_version=version, evaluation=evaluation, policy=policy, breaches=breaches
                    )
                    audit.add(
                        "model_version.review_flag",
                        version_target(version),
                        details={
                            "flag": flag.pk,
                            "evaluation": evaluation.pk,
                            "policy": _policy_ref(policy),
                            "breaches": breaches,
                        },
                    )
                    announce("review_flag.raised", flag_id=flag.pk, version_id=version.pk)
    return {"refreshed": refreshed, "flag": flag.pk if flag else None}


def stale_gate_requests():
    """Open requests whose stored gates are older than the newest finished evaluation of their version."""
    newest = (
        Evaluation.objects.filter(model_version=OuterRef("model_version"), status=EvaluationStatus.DONE)
        .values("model_version")
        .annotate(at=Max("finished_at"))
        .values("at")
    )
    return PromotionRequest.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(gates_evaluated_at__isnull=True) | Q(gates_evaluated_at__lt=Subquery(newest[:1]))
    )


def gates_reconcile(*, by: Principal) -> list[int]:
    """Refresh every open request whose gates are older than its version's newest evidence (Celery beat,
    and after a process died between an evaluation's commit and its refresh). Returns their ids."""
    return [_retried(promotion_gates_refresh, by=by, request=req).pk for req in stale_gate_requests()]


def review_flag_resolve(*, by: Principal, flag: ReviewFlag, resolution: str) -> ReviewFlag:
    target = {"type": "review_flag", "id": str(flag.pk), "model_version": str(flag.model_version_id)}
    with refusals(by, "review_flag.resolve", target):
        by.require_role(RISK_OFFICER, reason="only a risk officer resolves a review flag")
        if not (resolution or "").strip():
            raise ValidationFailed("a resolution is required", field="resolution")
        with audit_unit(by.actor) as audit:
            flag = ReviewFlag.objects.select_for_update().get(pk=flag.pk)
            if flag.resolved_at:
                raise IllegalTransition("the flag is already resolved")
            flag.resolved_at, flag.resolved_by, flag.resolution = timezone.now(), by.user, resolution.strip()
            flag.save(update_fields=["resolved_at", "resolved_by", "resolution"])
            audit.add("review_flag.resolve", target, details={"evaluation": flag.evaluation_id}, reason=flag.resolution)
    return flag

"""Replays workflow events to rebuild promotion requests, approvals and recusals (audit.state,
``audit_verify --state``)."""

from __future__ import annotations

from governance.workflow.models import Approval, PromotionRequest, Recusal

STATUS_ACTIONS = (
    "promotion_request.withdraw",
    "promotion_request.expire",
    "promotion_request.supersede",
)


class WorkflowReplayer:
    name = "workflow"
    actions = (
        "promotion_request.create",
        "promotion_request.approve",
        "promotion_request.reject",
        "promotion_request.promote",
        "promotion_request.recuse",
        *STATUS_ACTIONS,
    )

    def __init__(self):
        self.requests: dict[str, dict] = {}
        self.approvals: dict[str, dict] = {}
        self.recusals: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        if action == "promotion_request.create":
            self.requests[key] = {
                "model": target.get("model"),
                "version": target.get("version"),
                "from_stage": data.get("from"),
                "target_stage": data.get("to"),
                "is_rollback": data.get("is_rollback"),
                "policy": str((data.get("policy") or {}).get("id")),
                "reason": record.get("reason", ""),
                "status": "pending",
            }
        elif action in ("promotion_request.approve", "promotion_request.reject"):
            self.requests.setdefault(key, {})["status"] = data.get("request_status")
            self.approvals[str(data.get("approval"))] = {
                "request": key,
                "approver": record["actor"].get("username"),
                "decision": action.rsplit(".", 1)[1],
                "role": data.get("role"),
                "justification": record.get("reason", ""),
            }
        elif action == "promotion_request.recuse":
            self.recusals[str(data.get("recusal"))] = {
                "request": key,
                "member": data.get("member"),
                "role": data.get("role"),
                "reason": record.get("reason", ""),
            }
        elif action == "promotion_request.promote":
            self.requests.setdefault(key, {})["status"] = "promoted"
        elif action in STATUS_ACTIONS:
            self.requests.setdefault(key, {})["status"] = data.get("to")

    def compare(self):
        from audit.state import compare_rows

        requests = {
            str(r["pk"]): {
                "model": r["model_version__model__name"],
                "version": r["model_version__version"],
                "from_stage": r["from_stage"],
                "target_stage": r["target_stage"],
                "is_rollback": r["is_rollback"],
                "policy": str(r["policy_id"]),
                "reason": r["reason"],
                "status": r["status"],
            }
            for r in PromotionRequest.objects.values(
                "pk",
                "model_version__model__name",
                "model_version__version",
                "from_stage",
                "target_stage",
                "is_rollback",
                "policy_id",
                "reason",
                "status",
            )
        }
        divergence = compare_rows("workflow_promotionrequest", requests, self.requests)
        if divergence:
            return divergence
        approvals = {
            str(a["pk"]): {
                "request": str(a["request_id"]),
                "approver": a["approver__username"],
                "decision": a["decision"],
                "role": a["role"],
                "justification": a["justification"],
            }
            for a in Approval.objects.values(
                "pk", "request_id", "approver__username", "decision", "role", "justification"
            )
        }
        divergence = compare_rows("workflow_approval", approvals, self.approvals)
        if divergence:
            return divergence
        recusals = {
            str(r["pk"]): {
                "request": str(r["request_id"]),
                "member": r["member__username"],
                "role": r["role"],
                "reason": r["reason"],
            }
            for r in Recusal.objects.values("pk", "request_id", "member__username", "role", "reason")
        }
        return compare_rows("workflow_recusal", recusals, self.recusals)

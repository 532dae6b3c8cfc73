"""The events a subscription can receive, and what each payload says.

Every payload has the shape the Standard Webhooks spec recommends::

    {"type": "<event>", "timestamp": "<when it happened, UTC>", "data": {...objects with their API URLs...},
     "audit": {"seq": <the decision's audit seq or null>, "action": "...", "entry_url": ..., ...}}

Builders read the objects fresh (domain events carry ids only) and say where the decision's
audit event is (``audit_ref``: action(s), object type and id, and the request id of the change),
so the delivery can name its seq once it is in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from audit.context import current_context

EVENTS: dict[str, str] = {
    "promotion_request.created": "A promotion or rollback request was opened.",
    "promotion_request.decided": "A signer approved or rejected a promotion request.",
    "model_version.promoted": "A version entered the request's target stage (staging or production).",
    "model_version.rolled_back": "A rollback re-promoted an earlier version to production.",
    "evaluation.gate_failed": "A finished evaluation failed one of its own checks (thresholds).",
    "review_flag.raised": "A production version's new evaluation breached its production policy.",
    "audit.checkpoint_signed": "The audit log signed a new checkpoint (size and root).",
    "audit.verification_failed": "A full verification of the audit log found a problem.",
}


def absolute(path: str) -> str:
    return settings.WEBHOOKS_PUBLIC_BASE_URL.rstrip("/") + path


def api_url(name: str, pk) -> str:
    return absolute(reverse(f"api:{name}-detail", args=[pk]))


def audit_links(seq: int | None) -> dict:
    """Where a receiver fetches the entry and, with a checkpoint's size, its inclusion proof."""
    links = {"checkpoint_url": absolute(reverse("api:audit-checkpoint"))}
    if seq is not None:
        links["entry_url"] = absolute(reverse("api:audit-entries")) + "?" + urlencode({"start": seq, "end": seq + 1})
        links["inclusion_proof_url"] = (
            absolute(reverse("api:audit-inclusion")) + "?" + urlencode({"seq": seq}) + "&size={checkpoint_size}"
        )
    return links


def _ref(actions: list[str], object_type: str, object_id) -> dict:
    return {
        "actions": actions,
        "object_type": object_type,
        "object_id": str(object_id),
        "request_id": current_context().request_id,
    }


def _model(model) -> dict:
    return {"id": model.pk, "name": model.name, "url": api_url("model", model.pk)}


def _version(version) -> dict:
    return {
        "id": version.pk,
        "model": version.model.name,
        "version": version.version,
        "stage": version.stage,
        "artifact_uri": version.artifact_uri,
        "artifact_sha256": version.artifact_sha256,
        "url": api_url("version", version.pk),
    }


def _request(req) -> dict:
    return {
        "id": req.pk,
        "status": req.status,
        "from_stage": req.from_stage,
        "target_stage": req.target_stage,
        "is_rollback": req.is_rollback,
        "url": api_url("promotion", req.pk),
    }


def _load_request(request_id: int):
    from governance.workflow.models import PromotionRequest

    return PromotionRequest.objects.select_related("model_version__model").get(pk=request_id)


def _version_by_id(version_id: int | None):
    from governance.registry.models import ModelVersion

    if version_id is None:
        return None
    return ModelVersion.objects.select_related("model").get(pk=version_id)


def request_created(*, request_id: int, **_) -> tuple[dict, dict]:
    req = _load_request(request_id)
    version = req.model_version
    data = {"promotion_request": _request(req), "model_version": _version(version), "model": _model(version.model)}
    return data, _ref(["promotion_request.create"], "promotion_request", req.pk)


def request_decided(*, request_id: int, decision: str, status: str, **_) -> tuple[dict, dict]:
    req = _load_request(request_id)
    version = req.model_version
    data = {
        "decision": decision,
        "status": status,
        "promotion_request": _request(req),
        "model_version": _version(version),
        "model": _model(version.model),
    }
    return data, _ref([f"promotion_request.{decision}"], "promotion_request", req.pk)


def version_promoted(
    *, version_id: int, request_id: int, retired_version_id: int | None = None, is_rollback: bool = False, **_
) -> tuple[dict, dict]:
    version = _version_by_id(version_id)
    retired = _version_by_id(retired_version_id)
    req = _load_request(request_id)
    data = {
        "model_version": _version(version),
        "model": _model(version.model),
        "promotion_request": _request(req),
        "stage": req.target_stage,
        "is_rollback": bool(is_rollback or req.is_rollback),
        "retired_version": _version(retired) if retired else None,
    }
    return data, _ref(["promotion_request.promote"], "promotion_request", req.pk)


def version_rolled_back(**payload) -> tuple[dict, dict]:
    return version_promoted(**payload, is_rollback=True)


def _evaluation(evaluation) -> dict:
    return {
        "id": evaluation.pk,
        "kind": evaluation.kind,
        "dataset": evaluation.dataset,
        "source": evaluation.source,
        "url": api_url("evaluation", evaluation.pk),
    }


def evaluation_gate_failed(*, evaluation_id: int, checks: list | None = None, **_) -> tuple[dict, dict]:
    from governance.evaluations.models import Evaluation

    evaluation = Evaluation.objects.select_related("model_version__model").get(pk=evaluation_id)
    version = evaluation.model_version
    failing = checks if checks is not None else [c for c in evaluation.checks if not c.get("passed")]
    data = {
        "evaluation": _evaluation(evaluation),
        "failed_checks": failing,
        "model_version": _version(version),
        "model": _model(version.model),
    }
    return data, _ref(["evaluation.create", "evaluation.complete"], "evaluation", evaluation.pk)


def review_flag_raised(*, flag_id: int, version_id: int, **_) -> tuple[dict, dict]:
    from governance.workflow.models import ReviewFlag

    flag = ReviewFlag.objects.select_related("model_version__model", "evaluation").get(pk=flag_id)
    version = flag.model_version
    data = {
        "review_flag": {
            "id": flag.pk,
            "breaches": flag.breaches,
            "admin_path": reverse("admin:workflow_reviewflag_change", args=[flag.pk]),
        },
        "evaluation": _evaluation(flag.evaluation),
        "model_version": _version(version),
        "model": _model(version.model),
    }
    return data, _ref(["model_version.review_flag"], "model_version", version.pk)


def checkpoint_signed(*, checkpoint, **_) -> tuple[dict, None]:
    from audit.checkpoints import checkpoint_payload

    body = checkpoint_payload(checkpoint)
    body["created_at"] = body["created_at"].isoformat()
    return {"checkpoint": body, "checkpoint_url": absolute(reverse("api:audit-checkpoint"))}, None


def verification_failed(*, verification, **_) -> tuple[dict, None]:
    return {
        "verification": {
            "id": verification.pk,
            "trigger": verification.trigger,
            "size": verification.size,
            "first_bad_seq": verification.first_bad_seq,
            "message": verification.message,
            "started_at": verification.started_at.isoformat(),
        }
    }, None


# Domain events (governance.common.events) that become webhook events of the same name.
BUILDERS: dict[str, Callable[..., tuple[dict, dict | None]]] = {
    "promotion_request.created": request_created,
    "promotion_request.decided": request_decided,
    "model_version.promoted": version_promoted,
    "model_version.rolled_back": version_rolled_back,
    "evaluation.gate_failed": evaluation_gate_failed,
    "review_flag.raised": review_flag_raised,
    "audit.checkpoint_signed": checkpoint_signed,
    "audit.verification_failed": verification_failed,
}
DOMAIN_EVENTS = (
    "promotion_request.created",
    "promotion_request.decided",
    "model_version.promoted",
    "model_version.rolled_back",
    "evaluation.gate_failed",
    "review_flag.raised",
)

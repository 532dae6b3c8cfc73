"""The record as of one audit seq, as a pack document (the dict written as pack.json).

A pack is a view of the record at the time of audit event ``as_of``. Rows that are immutable
once written (evaluations, approvals, stage transitions, narrative entries, policies) are
selected by their own timestamps against the time of that event; the two mutable objects,
the registered model and the version's description, are rolled back to that point with the
``before`` values of their later audited updates. The same ``as_of`` therefore yields the same
document however much the log has grown since.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q

import governance
from audit import checkpoints
from audit import selectors as audit_selectors
from audit.selectors import AuditCheckpoint, AuditEvent
from audit.services import TS_FORMAT, parse_ts
from governance.evaluations.models import Evaluation, EvaluationStatus
from governance.registry.models import LINEAGE_FIELDS, ModelVersion, RegisteredModel
from governance.registry.regimes import default_regimes
from governance.reports import evidence, trends
from governance.reports.identity import derive_pack_id
from governance.reports.models import DocumentationPack, NarrativeEntry
from governance.reports.narratives import BY_KEY
from governance.reports.outlines import load_outline
from governance.reports.oversight_record import oversight_record
from governance.workflow.models import Approval, PromotionRequest, ReviewFlag, StageTransition

PERFORMANCE_KEYS = ("auc", "gini", "ks_statistic", "brier", "accuracy", "precision", "recall", "f1", "log_loss")
GROUP_RATE_KEYS = ("selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy")


class SnapshotError(ValueError):
    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def ts(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime(TS_FORMAT) if moment else None


def as_of_event(seq: int | None) -> AuditEvent:
    size = checkpoints.head().size
    if size == 0:
        raise SnapshotError("the audit log is empty", field="as_of")
    if seq is None:
        seq = size - 1
    if not 0 <= seq < size:
        raise SnapshotError(f"as_of must be an audit seq between 0 and {size - 1}", field="as_of")
    return audit_selectors.event_at(seq)


def _updates_after(object_type: str, object_id: int, seq: int, action: str) -> list[dict]:
    events = audit_selectors.object_events(object_type, object_id, action=action).filter(seq__gt=seq).order_by("-seq")
    return [event.record_json.get("data", {}) for event in events]


def _governing(own: list | None) -> str:
    """The regimes governing the model as printed: its own, or the installation default, said so."""
    if own:
        return ", ".join(own)
    return ", ".join(default_regimes()) + " (installation default)"


def _model_as_of(model: RegisteredModel, seq: int) -> dict:
    values = {
        "name": model.name,
        "title": model.title,
        "purpose": model.purpose,
        "owner": model.owner.username,
        "business_unit": model.business_unit,
        "eu_ai_act_category": model.eu_ai_act_category,
        "annex_iii_area": model.annex_iii_area,
        "risk_tier": model.risk_tier,
        "governing_regimes": list(model.governing_regimes or []),
        "status": model.status,
    }
    for change in _updates_after("registered_model", model.pk, seq, "registered_model.update"):
        for name, diff in change.items():
            if name in values and isinstance(diff, dict) and "before" in diff:
                values[name] = diff["before"]
    return values


def _version_description_as_of(version: ModelVersion, seq: int) -> tuple[str, dict]:
    description = version.description
    lineage = {name: getattr(version, name) for name in LINEAGE_FIELDS}
    for change in _updates_after("model_version", version.pk, seq, "model_version.update"):
        for name, diff in change.items():
            if isinstance(diff, dict) and "before" in diff:
                if name == "description":
                    description = diff["before"]
                elif name in lineage:
                    lineage[name] = diff["before"]
    return description, lineage


def _stage_as_of(version: ModelVersion, moment: dt.datetime) -> str:
    last = StageTransition.objects.filter(model_version=version, at__lte=moment).order_by("-at", "-id").first()
    return last.to_stage if last else "development"


def _narratives(model: RegisteredModel, version: ModelVersion, moment: dt.datetime) -> dict:
    out = {}
    entries = (
        NarrativeEntry.objects.filter(model=model, created_at__lte=moment)
        .filter(Q(model_version__isnull=True) | Q(model_version=version))
        .select_related("author")
        .order_by("key", "-created_at", "-id")
    )
    for entry in entries:
        spec = BY_KEY.get(entry.key)
        if spec is None or entry.key in out:
            continue
        if (spec.scope == "version") != (entry.model_version_id is not None):
            continue
        out[entry.key] = {
            "text": entry.text,
            "author": _person(entry.author),
            "role": entry.author_role,
            "updated_at": ts(entry.created_at),
        }
    return {key: value for key, value in out.items() if value["text"].strip()}


def _person(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.username})" if full else user.username


def _group_label(group: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((group or {}).items()))


def _warnings(evaluation: Evaluation) -> list[dict]:
    """Every warning the evaluation recorded, in its order, with the group it concerns (if any)."""
    out = []
    for w in evaluation.warnings or []:
        if not isinstance(w, dict):
            out.append({"code": "note", "message": str(w), "group": None, "count": None})
            continue
        out.append(
            {
                "code": w.get("code") or "note",
                "message": w.get("message") or w.get("code") or "",
                "group": _group_label(w["group"]) if isinstance(w.get("group"), dict) else w.get("group"),
                "count": w.get("count"),
            }
        )
    return out


#: Drift methods: (statistic key, p-value key or None, what decided).
DRIFT_METHODS: dict[str, tuple[str, str | None, str]] = {
    "ks": ("ks_statistic", "ks_pvalue", "p_value"),
    "chi2": ("chi2_statistic", "chi2_pvalue", "p_value"),
    "wasserstein_normalized": ("wasserstein_normalized", None, "statistic"),
    "jensen_shannon": ("js_distance", None, "statistic"),
}


def _drift_feature(f: dict) -> dict:
    method: str | None = f.get("method")
    known = DRIFT_METHODS.get(method) if method is not None else None
    stat_key, p_key, decided_by = known or (method, None, "statistic")
    return {
        "feature": f["feature"],
        "type": f.get("type"),
        "method": method,
        "statistic_name": stat_key,
        "statistic": f.get(stat_key),
        "p_value": f.get(p_key) if p_key else None,
        "decided_by": decided_by,
        "comparator": "<" if decided_by == "p_value" else ">",
        "threshold": f.get("threshold"),
        "drifted": bool(f.get("drifted")),
        "psi": f.get("psi"),
        "n_reference": f.get("n_reference"),
        "n_current": f.get("n_current"),
    }


def _evaluation(evaluation: Evaluation) -> dict:
    result = evaluation.result or {}
    params = evaluation.params or {}
    row: dict[str, Any] = {
        "id": f"EV-{evaluation.pk:04d}",
        "pk": evaluation.pk,
        "kind": evaluation.kind,
        "dataset": evaluation.dataset,
        "model_version": evaluation.model_version.version,
        "created_at": ts(evaluation.created_at),
        "source": evaluation.source,
        "input_sha256": evaluation.input_sha256 or None,
        "input_rows": evaluation.input_rows,
        "metrics": dict(sorted((evaluation.metrics or {}).items())),
        "checks": [
            {k: check.get(k) for k in ("metric", "comparator", "threshold", "value", "passed")}
            for check in evaluation.checks or []
        ],
        "warnings": _warnings(evaluation),
        "libraries": dict(sorted((evaluation.library_versions or {}).items())),
    }
    if evaluation.kind == "fairness" and result.get("by_group"):
        min_size = params.get("min_group_size", result.get("params", {}).get("min_group_size"))
        rows = []
        for group in result["by_group"]:
            if group.get("overall"):
                continue
            label = _group_label(group.get("group", {}))
            rows.append(
                {
                    "attribute": ", ".join(sorted(group.get("group", {}))),
                    "group": label,
                    "n": group.get("count"),
                    "metrics": {k: group.get(k) for k in GROUP_RATE_KEYS + ("favourable_rate",) if k in group},
                    "intervals": {
                        k: v
                        for k, v in (group.get("intervals") or {}).items()
                        if k in GROUP_RATE_KEYS + ("favourable_rate",) and v is not None
                    },
                    "warnings": [w["message"] for w in row["warnings"] if w.get("group") == label],
                }
            )
        row["by_group"] = rows
        row["min_group_size"] = min_size
        row["metric_intervals"] = {k: v for k, v in (result.get("metric_intervals") or {}).items() if v is not None}
        row["interval_method"] = result.get("interval_method")
        row["favourable_outcome"] = favourable_outcome(evaluation)
        has_fav = any("favourable_rate" in (r["metrics"] or {}) for r in rows)
        row["group_metric"] = {
            "name": "favourable_rate" if has_fav else "selection_rate",
            "comparator": None,
            "threshold": None,
        }
    if evaluation.kind == "performance":
        row.update(trends.performance_curves(evaluation))
    if evaluation.kind == "drift" and result.get("features"):
        features = sorted(result["features"], key=lambda f: (not f.get("drifted"), f.get("feature")))
        row["features"] = [_drift_feature(f) for f in features]
    return row


def favourable_outcome(evaluation: Evaluation) -> dict:
    """The outcome the fairness ratios are about, as the evaluation recorded it (params
    ``favourable_outcome``: the predicted label that benefits the person, default 1)."""
    params = evaluation.params or {}
    label = params.get("favourable_outcome", 1)
    meaning = (
        "predicted label 1 (the positive class)" if label == 1 else f"predicted label {label} (the negative class)"
    )
    return {"label": label, "declared": "favourable_outcome" in params, "meaning": meaning}


def _approvals(requests: Iterable[PromotionRequest], moment: dt.datetime) -> list[dict]:
    approvals = (
        Approval.objects.filter(request__in=list(requests), signed_at__lte=moment)
        .select_related("approver", "request")
        .order_by("signed_at", "id")
    )
    return [
        {
            "request_id": f"PR-{a.request_id}",
            "target_stage": a.request.target_stage,
            "approver": _person(a.approver),
            "role": a.role,
            "signed_at": ts(a.signed_at),
            "decision": a.decision,
            "justification": a.justification,
            "signature_meaning": a.signature_meaning,
            "override_justification": a.override_justification or None,
            "overridden_checks": a.overridden_checks or [],
            "invalidated": bool(a.invalidated_at and a.invalidated_at <= moment),
            "reauthentication": a.reauthentication or {},
        }
        for a in approvals
    ]


def _stage_history(model: RegisteredModel, moment: dt.datetime) -> list[dict]:
    rows = (
        StageTransition.objects.filter(model=model, at__lte=moment).select_related("model_version").order_by("at", "id")
    )
    return [
        {
            "version": t.model_version.version,
            "from": t.from_stage,
            "to": t.to_stage,
            "at": ts(t.at),
            "request_id": f"PR-{t.request_id}" if t.request_id else None,
            "approvers": [
                f"{a.get('username')} ({a.get('role')})" + (" OVERRIDE" if a.get("override") else "")
                for a in t.approvers or []
            ],
            "rollback": t.is_rollback,
        }
        for t in rows
    ]


def _policy(requests: list[PromotionRequest]) -> dict | None:
    request = next((r for r in reversed(requests) if r.policy_id), None)
    if request is None:
        return None
    policy = request.policy
    return {
        "name": f"{policy.scope} -> {policy.target_stage}{' (rollback)' if policy.is_rollback else ''}",
        "version": policy.version,
        "applied_at": ts(request.created_at),
        "required_approvals": [
            f"{policy.approvals_required} approval(s) from distinct people; required roles: "
            f"{', '.join(policy.required_roles) or 'any accepted'}; accepted roles: "
            f"{', '.join(policy.accepted_roles)}"
        ],
        "checks": [
            {
                "id": f"C{i + 1}",
                "kind": c.get("kind"),
                "metric": c.get("metric"),
                "comparator": c.get("comparator"),
                "threshold": c.get("threshold"),
                "source": c.get("source"),
                "justification": c.get("justification"),
                "blocking": True,
            }
            for i, c in enumerate(policy.checks or [])
        ],
    }


def _audit_events(version: ModelVersion, evaluations, requests, seq: int) -> list[AuditEvent]:
    objects = {
        "model_version": [version.pk],
        "registered_model": [version.model_id],
        "evaluation": [e.pk for e in evaluations],
        "promotion_request": [r.pk for r in requests],
        "documentation_pack": DocumentationPack.objects.filter(model_version=version).values_list("pk", flat=True),
    }
    return list(audit_selectors.events_about(objects, up_to=seq))


def covering_checkpoint(seq: int) -> AuditCheckpoint:
    """The smallest signed checkpoint that covers ``seq`` (deterministic once it exists)."""
    checkpoint = audit_selectors.checkpoint_covering(seq)
    if checkpoint is None:
        checkpoints.checkpoint_create()
        checkpoint = audit_selectors.checkpoint_covering(seq)
    if checkpoint is None:  # only for a seq beyond the log, which as_of_event refuses
        raise SnapshotError(f"no signed checkpoint covers audit seq {seq}", field="as_of")
    return checkpoint


def build_pack(
    version: ModelVersion, regime: str, as_of_seq: int | None = None
) -> tuple[dict, list[AuditEvent], AuditCheckpoint]:
    """The pack document for ``version`` under ``regime`` as of audit seq ``as_of_seq`` (default: latest)."""
    outline = load_outline(regime)
    event = as_of_event(as_of_seq)
    seq = event.seq
    moment = parse_ts(event.record_json["ts"])
    model = version.model
    model_values = _model_as_of(model, seq)
    description, lineage = _version_description_as_of(version, seq)
    evaluations = list(
        Evaluation.objects.filter(
            model_version=version, status=EvaluationStatus.DONE, finished_at__lte=moment
        ).order_by("created_at", "id")
    )
    requests = list(
        PromotionRequest.objects.filter(model_version=version, created_at__lte=moment)
        .select_related("policy")
        .order_by("created_at", "id")
    )
    events = _audit_events(version, evaluations, requests, seq)
    checkpoint = covering_checkpoint(seq)
    other_versions = ModelVersion.objects.filter(model=model, registered_at__lte=moment).order_by("registered_at", "id")
    pack = {
        "pack_id": derive_pack_id(regime, outline["outline_version"], model.pk, version.version, seq),
        "regime": regime,
        "outline_version": outline["outline_version"],
        "as_of": {"seq": seq, "ts": event.record_json["ts"]},
        "generator": {"name": "mlgov", "version": governance.__version__},
        "regulatory_text": outline.get("regulatory_text"),
        "applicable_date": settings.EU_AI_ACT_APPLICABLE_DATE if regime == "eu-ai-act" else None,
        "organisation": {"name": settings.ORGANISATION_NAME, "legal_name": settings.ORGANISATION_NAME},
        "model": {
            "model_id": model.pk,
            "name": model_values["name"],
            "title": model_values["title"],
            "purpose": model_values["purpose"],
            "owner": model_values["owner"],
            "business_unit": model_values["business_unit"],
            "status": model_values["status"],
            "sr11_7_tier": model_values["risk_tier"],
            "governing_regimes": _governing(model_values["governing_regimes"]),
            "eu_ai_act": {
                "category": model_values["eu_ai_act_category"],
                "annex_iii_area": model_values["annex_iii_area"],
            },
        },
        "admin_base_url": settings.PACK_ADMIN_BASE_URL or None,
        "version": {
            "id": version.pk,
            "version": version.version,
            "stage": _stage_as_of(version, moment),
            "registered_by": _person(version.registered_by),
            "registered_at": ts(version.registered_at),
            "description": description,
            "lineage": lineage,
            "specification": _specification(lineage, evaluations),
        },
        "version_history": [
            {
                "version": v.version,
                "stage": _stage_as_of(v, moment),
                "registered_at": ts(v.registered_at),
                "registered_by": _person(v.registered_by),
                "artifact_sha256": v.artifact_sha256,
            }
            for v in other_versions
        ],
        "narratives": _narratives(model, version, moment),
        "evaluations": [_evaluation(e) for e in evaluations],
        "approvals": _approvals(requests, moment),
        "stage_history": _stage_history(model, moment),
        "policy": _policy(requests),
        "gate_results": _gate_results(requests, moment),
        "review_flags": _review_flags(version, moment),
        "audit_events": [],
        "checkpoint": {
            "origin": checkpoints.head().origin,
            "size": checkpoint.size,
            "root": base64.b64encode(bytes(checkpoint.root)).decode(),
            "note": checkpoint.note,
        },
        "datasets": _datasets(lineage, evaluations),
    }
    pack["metric_trends"] = trends.metric_trends(model, version, moment, pack["policy"])
    pack["oversight"], oversight_events = oversight_record(version, pack, seq, moment)
    pack["model"]["last_validated"] = pack["oversight"]["revalidation"]["last_validated"]
    pack["model"]["next_review"] = pack["oversight"]["revalidation"]["next_due"]
    events = sorted({e.seq: e for e in [*events, *oversight_events]}.values(), key=lambda e: e.seq)
    pack["audit_events"] = [
        {
            "seq": e.seq,
            "ts": ts(e.ts),
            "actor": e.actor_username or e.actor_id,
            "action": e.action,
            "object": f"{e.object_type}:{e.object_id}",
            "leaf_hash": base64.b64encode(bytes(e.leaf_hash)).decode(),
        }
        for e in events
    ]
    pack["evidence"] = evidence.reconcile(pack, tolerance=settings.EVALUATION_DISCREPANCY_TOLERANCE)
    return pack, events, checkpoint


def _specification(lineage: dict, evaluations: list[Evaluation]) -> dict | None:
    """The model's actual specification when the artefact carries it (a local JSON scorecard whose
    SHA-256 matches the registered one): features, coefficients, intercept; and the decision
    cut-offs the evaluations used."""
    uri = lineage.get("artifact_uri") or ""
    path = (settings.BASE_DIR / uri).resolve() if uri and "://" not in uri else None
    if path is None or not path.is_file() or settings.BASE_DIR.resolve() not in path.parents:
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != lineage.get("artifact_sha256"):
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("coefficients"), list):
        return None
    thresholds = ((e.params or {}).get("threshold") for e in evaluations)
    cut_offs = sorted({t for t in thresholds if isinstance(t, int | float)})
    return {
        "format": doc.get("format"),
        "target": doc.get("target"),
        "features": doc.get("features"),
        "coefficients": doc.get("coefficients"),
        "intercept": doc.get("intercept"),
        "cut_offs": cut_offs,
    }


def _gate_results(requests: list[PromotionRequest], moment: dt.datetime) -> list[dict]:
    """The gate checklist each decided request was decided on (open requests are re-evaluated
    as evidence arrives, so their checklist is not a fact of the record yet)."""
    out = []
    for r in requests:
        if not r.decided_at or r.decided_at > moment:
            continue
        out.append(
            {
                "request_id": f"PR-{r.pk}",
                "target_stage": r.target_stage,
                "status": r.status,
                "decided_at": ts(r.decided_at),
                "rows": [
                    {
                        "kind": g.get("kind"),
                        "metric": g.get("metric"),
                        "comparator": g.get("comparator"),
                        "threshold": g.get("threshold"),
                        "value": g.get("value"),
                        "evaluation": f"EV-{g['evaluation_id']:04d}" if g.get("evaluation_id") else None,
                        "source": g.get("source"),
                        "outcome": g.get("outcome"),
                    }
                    for g in r.gate_results or []
                ],
            }
        )
    return out


def _review_flags(version: ModelVersion, moment: dt.datetime) -> list[dict]:
    flags = ReviewFlag.objects.filter(model_version=version, created_at__lte=moment).order_by("created_at", "id")
    return [
        {
            "id": f"RF-{f.pk}",
            "raised_at": ts(f.created_at),
            "evaluation": f"EV-{f.evaluation_id:04d}",
            "open": not (f.resolved_at and f.resolved_at <= moment),
            "resolution": f.resolution if f.resolved_at and f.resolved_at <= moment else None,
            "breaches": [
                {
                    "metric": b.get("metric"),
                    "comparator": b.get("comparator"),
                    "threshold": b.get("threshold"),
                    "value": b.get("value"),
                }
                for b in f.breaches or []
            ],
        }
        for f in flags
    ]


def _datasets(lineage: dict, evaluations: list[Evaluation]) -> list[dict]:
    datasets = []
    if lineage.get("training_data_ref"):
        datasets.append(
            {
                "name": lineage["training_data_ref"],
                "role": "training",
                "uri": lineage["training_data_ref"],
                "sha256": lineage.get("training_data_sha256") or None,
            }
        )
    seen = set()
    for evaluation in evaluations:
        if evaluation.dataset in seen:
            continue
        seen.add(evaluation.dataset)
        datasets.append(
            {
                "name": evaluation.dataset,
                "role": "validation" if evaluation.kind != "drift" else "monitoring",
                "sha256": evaluation.input_sha256 or None,
                "rows": evaluation.input_rows,
            }
        )
    return datasets

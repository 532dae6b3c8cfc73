"""Gate evaluation: a policy's checks against a version's evaluations, as a stored checklist.

Each row: {"kind", "metric", "comparator", "threshold", "value", "evaluation_id", "dataset", "source",
"evaluated_at", "outcome"} with outcome one of pass | fail | missing | stale | not_computed. A policy
with ``require_agreement`` adds ``agreement`` rows (reported vs computed; value = the difference,
threshold = ``EVALUATION_DISCREPANCY_TOLERANCE``, plus "reported", "computed", "reported_evaluation_id").
Comparisons reuse ``governance.evaluations.checks.evaluate_checks`` (the same comparator table the
evaluation service uses), so a policy and an evaluation never disagree on what "<=" means.
"""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone

from governance.accounts.roles import ALL_ROLES, PIPELINE
from governance.common.errors import ValidationFailed
from governance.evaluations.checks import VALID_COMPARATORS, Threshold, evaluate_checks, metric_names
from governance.evaluations.models import Evaluation, EvaluationKind, EvaluationSource, EvaluationStatus
from governance.registry.models import ModelVersion, Stage

PASS, FAIL, MISSING, STALE, NOT_COMPUTED = "pass", "fail", "missing", "stale", "not_computed"
OUTCOMES = (PASS, FAIL, MISSING, STALE, NOT_COMPUTED)
AGREEMENT = "agreement"  # kind of the rows a policy with require_agreement adds (reported vs computed)
EXISTS = "exists"  # pseudo-comparator: a required kind with no numeric check only needs fresh evidence
GATE_KINDS = tuple(EvaluationKind.values)


def clean_checks(checks) -> list[dict]:
    """Validate a policy's checks; thresholds become exact decimal strings."""
    if not isinstance(checks, list):
        raise ValidationFailed("checks: must be a list", field="checks")
    out = []
    for i, check in enumerate(checks):
        base = f"checks[{i}]"
        if not isinstance(check, dict):
            raise ValidationFailed(f"{base}: must be an object", field=base)
        unknown = sorted(set(check) - {"kind", "metric", "comparator", "threshold", "source", "justification"})
        if unknown:
            raise ValidationFailed(f"{base}.{unknown[0]}: unknown field", field=f"{base}.{unknown[0]}")
        kind = check.get("kind")
        if kind not in GATE_KINDS:
            raise ValidationFailed(f"{base}.kind: must be one of {', '.join(GATE_KINDS)}", field=f"{base}.kind")
        metric = check.get("metric")
        if not isinstance(metric, str) or not metric.strip():
            raise ValidationFailed(f"{base}.metric: must be a metric name", field=f"{base}.metric")
        if kind != EvaluationKind.REPORTED:
            known = metric_names(kind)
            patterns = [name.split(":")[0] for name in known if name.endswith(":<feature>")]
            if metric not in known and not (":" in metric and metric.split(":")[0] in patterns):
                raise ValidationFailed(
                    f"{base}.metric: unknown {kind} metric {metric!r} (known: {', '.join(known)})",
                    field=f"{base}.metric",
                )
        if check.get("comparator") not in VALID_COMPARATORS:
            raise ValidationFailed(
                f"{base}.comparator: must be one of {', '.join(VALID_COMPARATORS)}", field=f"{base}.comparator"
            )
        cleaned = {
            "kind": kind,
            "metric": metric,
            "comparator": check["comparator"],
            "threshold": str(Threshold.parse_value(check.get("threshold"), f"{base}.threshold")),
        }
        # where the threshold comes from and why (printed in the documentation packs; optional)
        for key in ("source", "justification"):
            if key in check:
                value = check[key]
                if not isinstance(value, str) or len(value) > 1000:
                    raise ValidationFailed(
                        f"{base}.{key}: must be text of at most 1000 characters", field=f"{base}.{key}"
                    )
                if value.strip():
                    cleaned[key] = value.strip()
        out.append(cleaned)
    return out


def clean_roles(roles, field: str) -> list[str]:
    if not isinstance(roles, list) or any(not isinstance(r, str) for r in roles):
        raise ValidationFailed(f"{field}: must be a list of role names", field=field)
    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown:
        raise ValidationFailed(f"{field}: unknown role {unknown[0]!r}", field=field)
    if PIPELINE in roles:
        raise ValidationFailed(f"{field}: a pipeline never signs", field=field)
    return sorted(set(roles))


def clean_kinds(kinds) -> list[str]:
    if not isinstance(kinds, list) or any(k not in GATE_KINDS for k in kinds):
        raise ValidationFailed(f"required_kinds: each must be one of {', '.join(GATE_KINDS)}", field="required_kinds")
    return sorted(set(kinds))


def clean_stages(stages) -> list[str]:
    if not isinstance(stages, list) or any(s not in Stage.values for s in stages):
        raise ValidationFailed(
            f"allowed_from_stages: each must be one of {', '.join(Stage.values)}", field="allowed_from_stages"
        )
    return sorted(set(stages))


def _evaluated_at(evaluation: Evaluation) -> dt.datetime:
    return evaluation.finished_at or evaluation.created_at


def _value(evaluation: Evaluation, check: dict):
    """(found, value) of the check's metric in the evaluation, through the evaluations' own lookup."""
    kind = check["kind"] if evaluation.kind == check["kind"] else "reported"
    result = {"metrics": evaluation.metrics or {}}
    if kind == "drift" and ":" in check["metric"]:
        result["features"] = (evaluation.result or {}).get("features", [])
    elif check["metric"] not in result["metrics"]:
        return False, None
    try:
        row = evaluate_checks(
            kind,
            result,
            [
                {
                    "metric": check["metric"],
                    "comparator": check["comparator"],
                    "threshold": float(Threshold.of(check).value),
                }
            ],
        )[0]
    except ValidationFailed:
        return False, None
    return True, row


def _candidates(evaluations: list[Evaluation], kind: str) -> list[Evaluation]:
    """Finished evaluations that can serve as evidence for ``kind``, newest first. Reported metrics
    (kind "reported") can stand in for any kind; ``require_computed`` then marks them not_computed."""
    return [e for e in evaluations if e.kind == kind or e.kind == EvaluationKind.REPORTED]


def _row(check: dict, evaluation: Evaluation | None, value, outcome: str) -> dict:
    return {
        "kind": check["kind"],
        "metric": check["metric"],
        "comparator": check["comparator"],
        "threshold": check["threshold"],
        "value": value,
        "evaluation_id": evaluation.pk if evaluation else None,
        "dataset": evaluation.dataset if evaluation else None,
        "source": evaluation.source if evaluation else None,
        "evaluated_at": _evaluated_at(evaluation).isoformat() if evaluation else None,
        "outcome": outcome,
    }


def _plain_number(value):
    """Metric values are stored as decimal strings so the checklist hashes and compares exactly."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return str(value)


def evaluate(
    policy, version: ModelVersion, *, now: dt.datetime | None = None, evaluations: list[Evaluation] | None = None
) -> tuple[list[dict], bool]:
    """The checklist for ``version`` under ``policy`` at ``now`` and whether every row passes."""
    now = now or timezone.now()
    if evaluations is None:
        evaluations = list(Evaluation.objects.filter(model_version=version, status=EvaluationStatus.DONE))
    evaluations = sorted(evaluations, key=lambda e: (_evaluated_at(e), e.pk), reverse=True)
    max_age = dt.timedelta(days=policy.max_evaluation_age_days)
    checks = list(policy.checks)
    covered = {c["kind"] for c in checks}
    checks += [
        {"kind": kind, "metric": "", "comparator": EXISTS, "threshold": None}
        for kind in policy.required_kinds
        if kind not in covered
    ]
    rows = []
    for check in checks:
        candidates = _candidates(evaluations, check["kind"])
        if check["comparator"] == EXISTS:
            candidates = [e for e in candidates if e.kind == check["kind"]]
            found = [(e, None) for e in candidates]
        else:
            found = []
            for evaluation in candidates:
                ok, row = _value(evaluation, check)
                if ok:
                    found.append((evaluation, row))
        if not found:
            rows.append(_row(check, None, None, MISSING))
            continue
        if policy.require_computed:
            computed = [(e, r) for e, r in found if e.source == EvaluationSource.COMPUTED]
            if not computed:
                evaluation, row = found[0]
                rows.append(_row(check, evaluation, _plain_number(row["value"]) if row else None, NOT_COMPUTED))
                continue
            found = computed
        evaluation, row = found[0]
        value = _plain_number(row["value"]) if row else None
        if now - _evaluated_at(evaluation) > max_age:
            outcome = STALE
        elif row is None:
            outcome = PASS
        else:
            outcome = PASS if row["passed"] else FAIL
        rows.append(_row(check, evaluation, value, outcome))
    rows += agreement_rows(policy, evaluations, checks)
    rows += open_high_findings_rows(policy, version, now)
    return rows, all(r["outcome"] == PASS for r in rows)


def agreement_rows(policy, evaluations: list[Evaluation], checks: list[dict]) -> list[dict]:
    """``policy.require_agreement``: for each metric the policy gates on that a pipeline reported and
    the service computed on the same dataset, one ``agreement`` row whose value is the largest
    |computed - reported| over the datasets (newest evaluation of each source); it passes within
    ``EVALUATION_DISCREPANCY_TOLERANCE``. No row for a metric with only one source."""
    if not getattr(policy, "require_agreement", False):
        return []
    from governance.evaluations.selectors import discrepancy_tolerance, reported_computed_pairs

    tolerance = discrepancy_tolerance()
    gated = [c["metric"] for c in checks if c["comparator"] != EXISTS and c["metric"]]
    by_id = {e.pk: e for e in evaluations}
    ordered = sorted(evaluations, key=lambda e: (e.created_at, e.pk))
    worst: dict[str, dict] = {}
    for pair in reported_computed_pairs(ordered, metrics=set(gated)):
        seen = worst.get(pair["metric"])
        if seen is None or abs(pair["difference"]) > abs(seen["difference"]):
            worst[pair["metric"]] = pair
    rows = []
    for metric in dict.fromkeys(gated):  # the policy's order, each metric once
        if metric not in worst:
            continue
        pair = worst[metric]
        gap = abs(pair["difference"])
        check = {"kind": AGREEMENT, "metric": metric, "comparator": "<=", "threshold": _plain_number(tolerance)}
        row = _row(check, by_id[pair["computed_id"]], f"{gap:.6g}", PASS if gap <= tolerance else FAIL)
        row.update(
            {
                "source": "reconciliation",
                "dataset": pair["dataset"],
                "reported": f"{pair['reported']:.6g}",
                "computed": f"{pair['computed']:.6g}",
                "reported_evaluation_id": pair["reported_id"],
            }
        )
        rows.append(row)
    return rows


def describe(row: dict) -> str:
    """One failing row in words, for refusals: which check and by how much."""
    key = check_key(row)
    if row.get("kind") == AGREEMENT:
        return (
            f"{key} (reported {row.get('reported')} in evaluation {row.get('reported_evaluation_id')}, computed "
            f"{row.get('computed')} in evaluation {row.get('evaluation_id')} on {row.get('dataset')}: they differ "
            f"by {row.get('value')}, tolerance {row.get('threshold')})"
        )
    if row.get("outcome") == FAIL and row.get("value") is not None:
        return f"{key} ({row.get('value')}, rule {row.get('comparator')} {row.get('threshold')})"
    return f"{key} ({row.get('outcome')})"


def failing_described(rows: list[dict]) -> list[str]:
    return [describe(r) for r in sorted(rows, key=check_key) if r["outcome"] != PASS]


def open_high_findings_rows(policy, version: ModelVersion, now: dt.datetime) -> list[dict]:
    """Issue 17: while a high validation finding of the version is unresolved, a move to production
    fails a ``finding:open_high_findings`` row (setting ``OVERSIGHT_BLOCK_PRODUCTION_ON_OPEN_HIGH_FINDINGS``).
    No row when there is none, so other stages' checklists are unchanged."""
    from django.conf import settings

    from governance.oversight.selectors import open_high_findings

    if policy.target_stage != Stage.PRODUCTION or not getattr(
        settings, "OVERSIGHT_BLOCK_PRODUCTION_ON_OPEN_HIGH_FINDINGS", True
    ):
        return []
    found = open_high_findings(version, today=timezone.localdate(now))
    if not found:
        return []
    check = {"kind": "finding", "metric": "open_high_findings", "comparator": "==", "threshold": "0"}
    row = _row(check, None, str(len(found)), FAIL)
    row["source"] = "oversight"
    return [row]


def check_key(row: dict) -> str:
    return f"{row['kind']}:{row['metric'] or '*'}"


def newly_failing(before: list[dict], after: list[dict]) -> list[str]:
    """Checks that passed before and do not pass now."""
    passed_before = {check_key(r) for r in before if r["outcome"] == PASS}
    return sorted(check_key(r) for r in after if r["outcome"] != PASS and check_key(r) in passed_before)


def failing(rows: list[dict]) -> list[str]:
    return sorted(check_key(r) for r in rows if r["outcome"] != PASS)

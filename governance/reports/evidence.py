"""Reported versus computed evidence, reconciled (a pure function of the pack document).

For every metric that a *reported* evaluation (numbers a pipeline posted) and a *computed*
evaluation (numbers the service computed from raw data) both give for the same model version,
one row: both values, the difference (computed minus reported), whether it exceeds
``EVALUATION_DISCREPANCY_TOLERANCE`` (absolute, default 0.02), whether the computed value passes
its threshold, and which of the two the promotion gates used. The executive summary prints it,
so a pack never lets a reported number stand as if it were computed.
"""

from __future__ import annotations

import math


def _num(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def reconcile(pack: dict, *, tolerance: float) -> dict:
    evaluations = pack.get("evaluations") or []
    reported = [e for e in evaluations if e.get("source") == "reported"]
    computed = [e for e in evaluations if e.get("source") == "computed"]
    gate_rows = [row for g in pack.get("gate_results") or [] for row in g.get("rows") or []]
    rows = []
    for rep in reported:
        for metric in sorted(rep.get("metrics") or {}):
            r_val = _num(rep["metrics"][metric])
            if r_val is None:
                continue
            matches = [e for e in computed if _num((e.get("metrics") or {}).get(metric)) is not None]
            if not matches:
                continue
            # newest computed evaluation, preferring the reported evaluation's dataset
            same = [e for e in matches if e.get("dataset") == rep.get("dataset")] or matches
            comp = sorted(same, key=lambda e: (e.get("created_at") or "", e.get("id") or ""))[-1]
            c_val = _num(comp["metrics"][metric])
            if c_val is None:  # never: ``matches`` holds only evaluations giving a number for the metric
                continue
            check = next((c for c in comp.get("checks") or [] if c.get("metric") == metric), None)
            used = [
                g
                for g in gate_rows
                if g.get("metric") == metric and g.get("evaluation") and g.get("kind") != "agreement"
            ]
            used_sources = sorted({f"{g['source']} ({g['evaluation']})" for g in used})
            rows.append(
                {
                    "metric": metric,
                    "reported": rep["metrics"][metric],
                    "reported_evaluation": rep.get("id"),
                    "computed": comp["metrics"][metric],
                    "computed_evaluation": comp.get("id"),
                    "dataset": comp.get("dataset"),
                    "difference": c_val - r_val,
                    "discrepancy": abs(c_val - r_val) > tolerance,
                    "computed_passes": check.get("passed") if check else None,
                    "comparator": check.get("comparator") if check else None,
                    "threshold": check.get("threshold") if check else None,
                    "gates_used": ", ".join(used_sources) if used_sources else None,
                }
            )
    return {
        "tolerance": tolerance,
        "rows": rows,
        "discrepancies": sum(1 for r in rows if r["discrepancy"]),
        "computed_failures": sum(1 for r in rows if r["computed_passes"] is False),
    }


def gates_on_reported_that_fail_computed(pack: dict) -> list[dict]:
    """Reconciliation rows where the gates used a reported number and the computed one fails."""
    ev = pack.get("evidence") or {}
    return [
        r
        for r in ev.get("rows") or []
        if r.get("computed_passes") is False and r.get("gates_used") and "computed" not in r["gates_used"]
    ]

"""Per-feature data drift: one sort per numeric column, one bincount per categorical column.

Definitions (see docs/evaluations.md) match scipy to 1e-12: KS statistic as ``ks_2samp``;
KS p-value = scipy's exact method when max(n_ref, n_cur) <= 10,000, else the asymptotic
Kolmogorov distribution ``kstwobign.sf(D * sqrt(n*m/(n+m)))``; Wasserstein-1 as
``wasserstein_distance`` divided by max(std(ref, ddof=0), 0.001); PSI on reference deciles
(floored proportions 1e-4); JS distance base 2 on the same bins (unfloored); chi-square via
``chi2_contingency(correction=False)`` on the 2 x k table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from governance.common.errors import ValidationFailed

from .inputs import CATEGORICAL, Parsed, finite_or_none, library_versions

DEFAULTS = {
    "num_threshold": 0.1,
    "cat_threshold": 0.1,
    "p_threshold": 0.05,
    "drift_share": 0.5,
    "large_reference": 1000,
}
EXACT_KS_MAX_N = 10_000
PSI_QUANTILES = np.arange(1, 10) / 10.0
PSI_FLOOR = 1e-4
WASSERSTEIN_STD_FLOOR = 0.001


def validate_params(params: dict[str, Any] | None, parsed: Parsed) -> dict[str, Any]:
    """The drift parameters used (defaults filled in), or ValidationFailed naming ``params.<key>``.
    Services call it before queueing so a queued input never fails on its parameters."""
    params = dict(params or {})
    out: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        v = params.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValidationFailed(f"params.{key}: must be a non-negative number", field=f"params.{key}")
        out[key] = v
    out["categorical"] = list(parsed.params.get("categorical", []))
    return out


def psi_band(psi: float | None) -> str | None:
    if psi is None:
        return None
    if psi < 0.1:
        return "none"
    if psi <= 0.25:
        return "moderate"
    return "significant"


def _psi(r: np.ndarray, c: np.ndarray) -> float:
    r = np.maximum(r, PSI_FLOOR)
    c = np.maximum(c, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_pvalue(d: float, n: int, m: int, ref: np.ndarray | None = None, cur: np.ndarray | None = None) -> float:
    """Exact (scipy ks_2samp, method='exact' via 'auto') when max(n, m) <= 10,000, else asymptotic."""
    if max(n, m) <= EXACT_KS_MAX_N and ref is not None:
        return float(stats.ks_2samp(ref, cur, method="auto").pvalue)
    en = n * m / (n + m)
    return float(min(max(stats.kstwobign.sf(d * math.sqrt(en)), 0.0), 1.0))


def numeric_stats(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    n, m = len(ref), len(cur)
    r = np.sort(ref)
    c = np.sort(cur)
    total = n + m
    # Pooled order: a stable argsort of the two sorted runs is a linear merge (timsort).
    pooled = np.concatenate([r, c])
    order = np.argsort(pooled, kind="stable")
    allv = pooled[order]
    del pooled
    # ri[i] = reference values among the first i+1 pooled values; at the last position of a tie
    # group this equals searchsorted(r, allv[i], side="right"), i.e. scipy's eCDF count.
    ri = np.cumsum(order < n)[:-1]
    del order
    diff = ri / n
    ci = np.arange(1, total, dtype=np.int64)
    ci -= ri
    del ri
    diff -= ci / m
    del ci
    # KS: scipy evaluates cdf1 - cdf2 at every pooled value (right-continuous), i.e. at tie-group
    # ends (deltas > 0); at the last pooled value both are 1. D = max |cdf1 - cdf2| there, which is
    # exactly scipy's max(max(cddiffs), clip(-min(cddiffs), 0, 1)).
    deltas = np.diff(allv)
    del allv
    np.abs(diff, out=diff)
    d = float(np.max(diff, where=deltas > 0, initial=0.0))
    # Wasserstein-1 = sum |F_r - F_c| * delta; inside tie groups delta is 0, so the partial counts
    # there contribute exactly 0 (same terms as scipy's _cdf_distance).
    w = float(np.sum(np.multiply(diff, deltas, out=diff)))
    del diff, deltas
    std = float(np.std(r))
    wn = w / max(std, WASSERSTEIN_STD_FLOOR)
    # PSI / JS on reference deciles
    edges = np.quantile(r, PSI_QUANTILES)
    rb = np.diff(np.concatenate([[0], np.searchsorted(r, edges, side="left"), [n]]))
    cb = np.diff(np.concatenate([[0], np.searchsorted(c, edges, side="left"), [m]]))
    rp, cp = rb / n, cb / m
    return {
        "ks_statistic": d,
        "ks_pvalue": ks_pvalue(d, n, m, ref, cur),
        "wasserstein": w,
        "wasserstein_normalized": wn,
        "psi": _psi(rp, cp),
        "js_distance": float(jensenshannon(rp, cp, base=2)),
        "psi_edges": edges,
    }


def _cat_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(ref)
    if ref.dtype.kind in "iu":
        lo = int(min(ref.min(), cur.min()))
        hi = int(max(ref.max(), cur.max()))
        if hi - lo + 1 <= max(1 << 16, 2 * (n + len(cur))):
            k = hi - lo + 1
            rc = np.bincount(ref - lo if lo else ref, minlength=k)
            cc = np.bincount(cur - lo if lo else cur, minlength=k)
            keep = np.flatnonzero((rc + cc) > 0)
            return rc[keep], cc[keep], keep + lo
    labels, inv = np.unique(np.concatenate([ref, cur]), return_inverse=True)
    inv = inv.reshape(-1)
    k = len(labels)
    return np.bincount(inv[:n], minlength=k), np.bincount(inv[n:], minlength=k), labels


def categorical_stats(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    n, m = len(ref), len(cur)
    rc, cc, labels = _cat_counts(ref, cur)
    rp, cp = rc / n, cc / m
    chi2, p, _dof, _exp = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
    return {
        "chi2_statistic": float(chi2),
        "chi2_pvalue": float(p),
        "psi": _psi(rp, cp),
        "js_distance": float(jensenshannon(rp, cp, base=2)),
        "n_categories": int(len(labels)),
    }


def compute_drift(parsed: Parsed, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
    if parsed.kind != "drift":
        raise ValidationFailed("parsed input is not a drift input", field="kind")
    if not parsed.has_reference:
        raise ValidationFailed(
            "data.reference: a reference sample is required (inline, as a table or a registered reference)",
            field="data.reference",
        )
    if not parsed.has_current:
        raise ValidationFailed("data.current: is required", field="data.current")
    p = validate_params(params, parsed)
    ref_s, cur_s = parsed.sample("reference"), parsed.sample("current")
    per_feature = []
    for name in sorted(parsed.feature_types):
        ftype = parsed.feature_types[name]
        ref, cur = ref_s[name], cur_s[name]
        s = categorical_stats(ref, cur) if ftype == CATEGORICAL else numeric_stats(ref, cur)
        per_feature.append((name, ftype, len(ref), len(cur), s))
    return drift_from_stats(per_feature, p)


def drift_from_stats(per_feature: list[tuple[str, str, int, int, dict[str, Any]]], p: dict[str, Any]) -> dict[str, Any]:
    """The drift result from each feature's statistics ``(name, type, n_reference, n_current, stats)``
    (``numeric_stats`` / ``categorical_stats`` keys), in feature-name order: what both the in-memory
    path and the out-of-core path (``outofcore``) compute from. ``p`` is the validated parameters."""
    rows: list[dict[str, Any]] = []
    for name, ftype, n, m, s in per_feature:
        large = n > p["large_reference"]
        row: dict[str, Any] = {"feature": name, "type": ftype, "n_reference": n, "n_current": m}
        if ftype == CATEGORICAL:
            row.update(
                {
                    "chi2_statistic": s["chi2_statistic"],
                    "chi2_pvalue": s["chi2_pvalue"],
                    "psi": s["psi"],
                    "js_distance": s["js_distance"],
                    "n_categories": s["n_categories"],
                }
            )
            if large:
                method, thr = "jensen_shannon", p["cat_threshold"]
                drifted = row["js_distance"] > thr
            else:
                method, thr = "chi2", p["p_threshold"]
                drifted = row["chi2_pvalue"] < thr
        else:
            row.update({k: s[k] for k in ("ks_statistic", "ks_pvalue", "wasserstein_normalized", "psi", "js_distance")})
            row["ks_pvalue_method"] = "exact" if max(n, m) <= EXACT_KS_MAX_N else "asymptotic"
            if large:
                method, thr = "wasserstein_normalized", p["num_threshold"]
                drifted = row["wasserstein_normalized"] > thr
            else:
                method, thr = "ks", p["p_threshold"]
                drifted = row["ks_pvalue"] < thr
        for k, v in list(row.items()):
            if isinstance(v, float):
                row[k] = finite_or_none(v)
        row["psi_band"] = psi_band(row["psi"])
        row["method"] = method
        row["threshold"] = thr
        row["drifted"] = bool(drifted)
        rows.append(row)
    n_drifted = sum(r["drifted"] for r in rows)
    share = n_drifted / len(rows)

    def _max(key: str) -> Any:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return max(vals) if vals else None

    metrics = {
        "drift_share": share,
        "drifted_features": n_drifted,
        "n_features": len(rows),
        "max_psi": _max("psi"),
        "max_js_distance": _max("js_distance"),
        "max_wasserstein_normalized": _max("wasserstein_normalized"),
    }
    return {
        "kind": "drift",
        "features": rows,
        "drift_share": share,
        "dataset_drifted": bool(share >= p["drift_share"]),
        "metrics": metrics,
        "params": p,
        "library_versions": library_versions(),
    }

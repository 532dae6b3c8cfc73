"""Group fairness metrics from per-group confusion counts (one ``np.bincount``).

Definitions follow fairlearn 0.15 / scikit-learn (see docs/evaluations.md):
undefined rates (0/0) are 0.0 as in ``sklearn.metrics.confusion_matrix(normalize="true")``
and ``precision_score(zero_division=0)``; ratios whose denominator is 0 are ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from governance.common.errors import ValidationFailed

from .inputs import Parsed, finite_or_none, library_versions

RATE_KEYS = ("selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy")
METRIC_KEYS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "disparate_impact_ratio",
)
#: Confidence level of every interval a fairness result carries.
CONFIDENCE_LEVEL = 0.95
_Z = 1.959963984540054  # the standard normal quantile at 0.975 (two-sided 95%)
#: Parametric bootstrap of the ratio and difference metrics: draws and the fixed seed, so the same
#: counts always give the same interval (in memory and out of core alike).
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_SEED = 20110404
#: A group whose n * rate * (1 - rate) reaches this is redrawn from the binomial's normal approximation
#: (indistinguishable at that size, and 20 times faster than binomial draws); smaller groups exactly.
NORMAL_APPROXIMATION_MIN = 100
#: Above this many groups x draws the bootstrap is skipped (the interval is None, and the method says so).
BOOTSTRAP_MAX_CELLS = 250_000
#: Each rate's (numerator, denominator) over the confusion counts tn, fp, fn, tp.
RATE_COUNTS = {
    "selection_rate": (("fp", "tp"), ("tn", "fp", "fn", "tp")),
    "tpr": (("tp",), ("fn", "tp")),
    "fpr": (("fp",), ("tn", "fp")),
    "fnr": (("fn",), ("fn", "tp")),
    "tnr": (("tn",), ("tn", "fp")),
    "precision": (("tp",), ("tp", "fp")),
    "accuracy": (("tn", "tp"), ("tn", "fp", "fn", "tp")),
}
INTERVAL_METRICS = ("demographic_parity_difference", "demographic_parity_ratio", "disparate_impact_ratio")
_DIRECT_RANGE_LIMIT = 1 << 16
_CHUNK = 1 << 18


def _feature_codes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (codes >= 0, labels) with labels sorted; codes index labels (some labels may be unused)."""
    if a.dtype.kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        span = hi - lo + 1
        if span <= max(_DIRECT_RANGE_LIMIT, 2 * len(a)):
            codes = a if lo == 0 and a.dtype == np.int64 else (a - lo).astype(np.int64, copy=False)
            return codes, np.arange(lo, hi + 1, dtype=np.int64)
    labels, inv = np.unique(a, return_inverse=True)
    return inv.astype(np.int64, copy=False).reshape(-1), labels


def _group_codes(features: list[np.ndarray]) -> tuple[np.ndarray, int, list[np.ndarray], np.ndarray | None]:
    """Combine per-feature codes into one code in lexicographic (feature 1, feature 2, ...) order.

    Returns (code, n_codes, per-feature label arrays, key table or None). Without a key table a
    code decodes by mixed radix over the label counts; with one, ``keys[code]`` gives the
    per-feature label indices.
    """
    per = [_feature_codes(a) for a in features]
    dims = [len(lbl) for _c, lbl in per]
    total = 1
    for d in dims:
        total *= d
    n = len(features[0])
    if total <= max(_DIRECT_RANGE_LIMIT, 4 * n):
        code = per[0][0]
        for (c, _lbl), d in zip(per[1:], dims[1:], strict=True):
            code = code * d + c
        return code, total, [lbl for _c, lbl in per], None
    stacked = np.stack([c for c, _l in per], axis=1)
    keys, inv = np.unique(stacked, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), len(keys), [lbl for _c, lbl in per], keys


def _confusion_counts(
    code: np.ndarray, k: int, y_true: np.ndarray, y_pred: np.ndarray, sw: np.ndarray | None, chunk: int = _CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """bincount over cell = group*4 + y_true*2 + y_pred -> (counts (k, 4), weighted counts (k, 4)).

    Processed in cache-sized chunks with one reused buffer: the same single pass over the data,
    without allocating (and page-faulting) an n-long temporary.
    """
    n = len(code)
    size = 4 * k
    counts: np.ndarray = np.zeros(size, dtype=np.int64)
    wsum = np.zeros(size, dtype=np.float64) if sw is not None else None
    buf = np.empty(min(chunk, n), dtype=np.intp)
    for i in range(0, n, chunk):
        j = min(i + chunk, n)
        b = buf[: j - i]
        np.multiply(code[i:j], 4, out=b)
        b += y_true[i:j]
        b += y_true[i:j]
        b += y_pred[i:j]
        counts += np.bincount(b, minlength=size)
        if wsum is not None and sw is not None:
            wsum += np.bincount(b, weights=sw[i:j], minlength=size)
    counts = counts.reshape(k, 4)
    return counts, (counts if wsum is None else wsum.reshape(k, 4))


def _rates(tn: np.ndarray, fp: np.ndarray, fn: np.ndarray, tp: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised per-row rates; 0/0 -> 0.0 (sklearn/fairlearn convention)."""

    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.zeros(np.broadcast(a, b).shape, dtype=np.float64)
        np.divide(a, b, out=out, where=b != 0)
        return out

    total = tn + fp + fn + tp
    return {
        "selection_rate": div(fp + tp, total),
        "tpr": div(tp, fn + tp),
        "fpr": div(fp, tn + fp),
        "fnr": div(fn, fn + tp),
        "tnr": div(tn, tn + fp),
        "precision": div(tp, tp + fp),
        "accuracy": div(tn + tp, total),
    }


def wilson_interval(successes: int, trials: int, z: float = _Z) -> list[float] | None:
    """Wilson score interval for a binomial proportion (Wilson 1927), ``[low, high]``; None when
    ``trials`` is 0. Pure function of two counts: both evaluation paths call it."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z2 / (4 * trials * trials)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _wilson_arrays(k: np.ndarray, n: np.ndarray, z: float = _Z) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson_interval` over arrays (same arithmetic); NaN where ``n`` is 0."""
    k = k.astype(np.float64)
    n = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denom
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def group_rate_intervals(counts: np.ndarray, favourable_outcome: int = 1) -> list[dict[str, list[float] | None]]:
    """Per group (rows of ``counts``: tn, fp, fn, tp, unweighted), the Wilson 95% interval of every
    rate in :data:`RATE_COUNTS` and of ``favourable_rate``. Pure function of the counts."""
    c = np.asarray(counts, dtype=np.int64).reshape(-1, 4)
    cols = {"tn": c[:, 0], "fp": c[:, 1], "fn": c[:, 2], "tp": c[:, 3]}
    bounds: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for key, (num, den) in RATE_COUNTS.items():
        k = sum((cols[name] for name in num[1:]), cols[num[0]])
        n = sum((cols[name] for name in den[1:]), cols[den[0]])
        bounds[key] = (*_wilson_arrays(k, n), n > 0)
    total = c.sum(axis=1)
    selected = c[:, 1] + c[:, 3]
    fav = selected if favourable_outcome == 1 else total - selected
    bounds["favourable_rate"] = (*_wilson_arrays(fav, total), total > 0)
    lists = {key: (lo.tolist(), hi.tolist(), ok.tolist()) for key, (lo, hi, ok) in bounds.items()}
    return [{key: ([lo[i], hi[i]] if ok[i] else None) for key, (lo, hi, ok) in lists.items()} for i in range(len(c))]


def metric_intervals(counts: np.ndarray, favourable_outcome: int = 1) -> dict[str, list[float] | None]:
    """Seeded parametric bootstrap (:data:`BOOTSTRAP_DRAWS` draws, seed :data:`BOOTSTRAP_SEED`) of the
    demographic parity difference and the favourable-outcome ratio: each group's selection rate is
    redrawn from Binomial(n_g, observed rate) / n_g (its normal approximation when n_g * rate * (1 - rate)
    >= :data:`NORMAL_APPROXIMATION_MIN`), the metric recomputed, and the 2.5th and 97.5th
    percentiles taken. Pure function of the per-group counts (rows tn, fp, fn, tp, unweighted);
    None where the metric is undefined in more than 2.5% of the draws or the groups are too many."""
    c = np.asarray(counts, dtype=np.int64)
    n = c.sum(axis=1)
    if len(n) < 2 or len(n) * BOOTSTRAP_DRAWS > BOOTSTRAP_MAX_CELLS or (n <= 0).any():
        return dict.fromkeys(INTERVAL_METRICS)
    selected = c[:, 1] + c[:, 3]
    p_sel = selected / n
    rng = np.random.Generator(np.random.PCG64(BOOTSTRAP_SEED))
    draws = np.empty((len(n), BOOTSTRAP_DRAWS))  # one row per group: reductions across groups stay fast
    for j in range(len(n)):  # group by group, in the groups' order, so the draws depend on the counts only
        variance = p_sel[j] * (1.0 - p_sel[j])
        if n[j] * variance >= NORMAL_APPROXIMATION_MIN:
            draws[j] = np.clip(p_sel[j] + math.sqrt(variance / n[j]) * rng.standard_normal(BOOTSTRAP_DRAWS), 0, 1)
        else:
            draws[j] = rng.binomial(int(n[j]), p_sel[j], size=BOOTSTRAP_DRAWS) / n[j]
    top, bottom = draws.max(axis=0), draws.min(axis=0)
    dpd = top - bottom
    # on the favourable outcome: the rates are 1 - selection rate when the favourable label is 0
    hi, lo = (top, bottom) if favourable_outcome == 1 else (1.0 - bottom, 1.0 - top)
    ratio = np.full(BOOTSTRAP_DRAWS, np.nan)
    np.divide(lo, hi, out=ratio, where=hi > 0)

    def pct(values: np.ndarray) -> list[float] | None:
        ok = values[~np.isnan(values)]
        if len(ok) < 0.975 * len(values):
            return None
        low, high = np.percentile(ok, [2.5, 97.5])
        return [float(low), float(high)]

    ratio_ci = pct(ratio)
    return {
        "demographic_parity_difference": pct(dpd),
        "demographic_parity_ratio": ratio_ci,
        "disparate_impact_ratio": ratio_ci,
    }


def interval_method(weighted: bool) -> dict[str, Any]:
    """How the intervals of a fairness result were computed (stored with the result, printed in packs)."""
    if weighted:
        return {
            "level": CONFIDENCE_LEVEL,
            "rates": None,
            "metrics": None,
            "note": "not computed for weighted evaluations: the counts behind a weighted rate do not give its "
            "sampling distribution",
        }
    return {
        "level": CONFIDENCE_LEVEL,
        "rates": "Wilson score interval on the group's counts",
        "metrics": f"parametric bootstrap from the per-group counts: {BOOTSTRAP_DRAWS} draws, seed "
        f"{BOOTSTRAP_SEED}, percentiles 2.5 and 97.5 (binomial draws; normal approximation for groups with "
        f"n x rate x (1 - rate) >= {NORMAL_APPROXIMATION_MIN})",
    }


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _ratio(lo: float, hi: float) -> float | None:
    return None if hi == 0 else float(lo / hi)


def compute_fairness(parsed: Parsed, *, min_group_size: int = 30, favourable_outcome: int = 1) -> dict[str, Any]:
    """Per-group rates and the parity metrics. ``favourable_outcome`` is the predicted label that
    benefits the person (1 by default; 0 for a model that predicts the adverse event, such as default
    in credit scoring): the ratios (disparate impact, demographic parity ratio) are computed on the
    share of each group predicted the favourable outcome, and each group row carries it as
    ``favourable_rate``."""
    if parsed.kind != "fairness":
        raise ValidationFailed("parsed input is not a fairness input", field="kind")
    if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) or min_group_size < 0:
        raise ValidationFailed("params.min_group_size: must be a non-negative integer", field="params.min_group_size")
    if favourable_outcome not in (0, 1) or isinstance(favourable_outcome, bool):
        raise ValidationFailed("params.favourable_outcome: must be 0 or 1", field="params.favourable_outcome")
    y_true = parsed.arrays["y_true"]
    y_pred = parsed.y_pred
    sw = parsed.arrays.get("sample_weight")
    sens = parsed.sensitive_features
    names = list(sens)
    code, k, labels, keys = _group_codes([sens[nm] for nm in names])

    counts, wcounts = _confusion_counts(code, k, y_true, y_pred, sw)
    n_rows = counts.sum(axis=1)
    present = np.flatnonzero(n_rows > 0)
    # overall: from totals over all rows (sums of integer counts are exact; weighted sums
    # are taken over the data, not over the groups, so they match a direct computation)
    if sw is None:
        tot = counts.sum(axis=0).astype(np.float64)
    else:
        yt1 = y_true.astype(bool)
        yp1 = y_pred.astype(bool)
        tot = np.array([sw[~yt1 & ~yp1].sum(), sw[~yt1 & yp1].sum(), sw[yt1 & ~yp1].sum(), sw[yt1 & yp1].sum()])
    if keys is None:
        idx = np.unravel_index(present, [len(lbl) for lbl in labels])
    else:
        idx = tuple(keys[present, j] for j in range(len(names)))

    group_dicts = [{nm: _py(labels[j][idx[j][i]]) for j, nm in enumerate(names)} for i in range(len(present))]
    return fairness_from_counts(
        names,
        group_dicts,
        counts[present],
        wcounts[present],
        tot,
        n=int(len(y_true)),
        weighted=sw is not None,
        params=parsed.params,
        min_group_size=min_group_size,
        favourable_outcome=favourable_outcome,
    )


def fairness_from_counts(
    names: list[str],
    group_dicts: list[dict[str, Any]],
    counts: np.ndarray,
    wcounts: np.ndarray,
    tot: np.ndarray,
    *,
    n: int,
    weighted: bool,
    params: dict[str, Any],
    min_group_size: int,
    favourable_outcome: int = 1,
) -> dict[str, Any]:
    """The fairness result from per-group confusion counts (columns tn, fp, fn, tp; groups in
    lexicographic label order), weighted counts and the overall (weighted) totals: what both the
    in-memory path and the out-of-core path (``outofcore``, counts from a GROUP BY) compute from."""
    n_rows = counts.sum(axis=1)
    c = np.asarray(wcounts, dtype=np.float64)
    tn, fp, fn, tp = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    g = _rates(tn, fp, fn, tp)
    o = _rates(*(np.array([v]) for v in tot))
    by_group: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    intervals = group_rate_intervals(counts, favourable_outcome) if not weighted else None
    for i, gd in enumerate(group_dicts):
        row: dict[str, Any] = {"group": gd, "overall": False, "count": int(n_rows[i])}
        if weighted:
            row["weight"] = float(c[i].sum())
        for key in RATE_KEYS:
            row[key] = float(g[key][i])
        row["favourable_rate"] = row["selection_rate"] if favourable_outcome == 1 else 1.0 - row["selection_rate"]
        row["intervals"] = intervals[i] if intervals is not None else None
        by_group.append(row)
        if row["count"] < min_group_size:
            warnings.append(
                {
                    "code": "small_group",
                    "group": gd,
                    "count": row["count"],
                    "message": f"group has {row['count']} rows, fewer than min_group_size "
                    f"({min_group_size}); its rates are unreliable",
                }
            )
        if tp[i] + fn[i] == 0:
            warnings.append(
                {
                    "code": "no_positives",
                    "group": gd,
                    "count": row["count"],
                    "message": "group has no positive labels; tpr and fnr are reported as 0",
                }
            )
        if tn[i] + fp[i] == 0:
            warnings.append(
                {
                    "code": "no_negatives",
                    "group": gd,
                    "count": row["count"],
                    "message": "group has no negative labels; fpr and tnr are reported as 0",
                }
            )
    overall: dict[str, Any] = {"group": {}, "overall": True, "count": int(n)}
    if weighted:
        overall["weight"] = float(tot.sum())
    for key in RATE_KEYS:
        overall[key] = float(o[key][0])
    overall["intervals"] = (
        None if weighted else group_rate_intervals(np.asarray(counts).sum(axis=0)[None, :], favourable_outcome)[0]
    )
    by_group.append(overall)

    sr, tpr, fpr = g["selection_rate"], g["tpr"], g["fpr"]
    dpd = float(sr.max() - sr.min())
    fav = sr if favourable_outcome == 1 else 1.0 - sr
    dpr = _ratio(fav.min(), fav.max())
    tpr_d, fpr_d = float(tpr.max() - tpr.min()), float(fpr.max() - fpr.min())
    tpr_r, fpr_r = _ratio(tpr.min(), tpr.max()), _ratio(fpr.min(), fpr.max())
    metrics = {
        "demographic_parity_difference": dpd,
        "demographic_parity_ratio": dpr,
        "equalized_odds_difference": max(tpr_d, fpr_d),
        "equalized_odds_ratio": None if tpr_r is None or fpr_r is None else min(tpr_r, fpr_r),
        "equal_opportunity_difference": tpr_d,
        "disparate_impact_ratio": dpr,
    }
    metrics = {k2: finite_or_none(v) for k2, v in metrics.items()}
    params = dict(params)
    params.update({"min_group_size": min_group_size, "sensitive_features": names, "weighted": weighted})
    params["favourable_outcome"] = favourable_outcome
    return {
        "kind": "fairness",
        "metrics": metrics,
        "metric_intervals": metric_intervals(counts, favourable_outcome) if not weighted else None,
        "interval_method": interval_method(weighted),
        "by_group": by_group,
        "n_groups": len(group_dicts),
        "warnings": warnings,
        "params": params,
        "library_versions": library_versions(),
    }

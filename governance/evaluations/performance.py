"""Binary classifier performance from labels and probability scores.

Matches scikit-learn (roc_auc_score, brier_score_loss, accuracy/precision/recall/f1 with
zero_division=0, log_loss) to 1e-12. AUC CI: fast DeLong (Sun & Xu 2014). Other CIs: seeded
percentile bootstrap over resampled rows (see docs/evaluations.md).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from governance.common.errors import ValidationFailed

from .inputs import Parsed, finite_or_none, library_versions

BOOTSTRAP_METRICS = ("brier", "accuracy", "precision", "recall", "f1", "log_loss", "ks_statistic")
EPS = float(np.finfo(np.float64).eps)
_BOOT_CELLS = 4_000_000  # resampled values held in memory per bootstrap chunk


def midrank(x: np.ndarray) -> np.ndarray:
    """Midranks (1-based, ties averaged), as in Sun & Xu (2014)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    n = len(x)
    # boundaries of tie groups
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], n]
    mid = (starts + ends + 1) / 2.0  # average of 1-based ranks start+1..end
    ranks_sorted = np.repeat(mid, ends - starts)
    out = np.empty(n, dtype=np.float64)
    out[order] = ranks_sorted
    return out


def delong(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """Return (auc, variance) with the fast DeLong algorithm."""
    pos = y_score[y_true == 1]
    neg = y_score[y_true == 0]
    m, n = len(pos), len(neg)
    tx = midrank(pos)
    ty = midrank(neg)
    tz = midrank(np.concatenate([pos, neg]))
    auc = (tz[:m].sum() / m - (m + 1) / 2.0) / n
    v01 = (tz[:m] - tx) / n
    v10 = 1.0 - (tz[m:] - ty) / m
    sx = float(np.var(v01, ddof=1)) if m > 1 else 0.0
    sy = float(np.var(v10, ddof=1)) if n > 1 else 0.0
    return float(auc), sx / m + sy / n


def _div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _ks(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    pos = np.sort(y_score[y_true == 1])
    neg = np.sort(y_score[y_true == 0])
    if len(pos) == 0 or len(neg) == 0:
        return None
    allv = np.sort(np.concatenate([pos, neg]), kind="stable")
    diff = np.searchsorted(pos, allv, side="right") / len(pos) - np.searchsorted(neg, allv, side="right") / len(neg)
    return float(max(diff.max(), min(max(-diff.min(), 0.0), 1.0)))


def _params(params: dict | None, parsed: Parsed) -> dict:
    params = dict(params or {})
    out = {"threshold": parsed.params.get("threshold", 0.5)}
    nb = params.get("n_boot", 1000)
    if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0 or nb > 100_000:
        raise ValidationFailed("params.n_boot: must be an integer between 0 and 100000", field="params.n_boot")
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationFailed("params.seed: must be a non-negative integer", field="params.seed")
    lvl = params.get("ci_level", 0.95)
    if isinstance(lvl, bool) or not isinstance(lvl, (int, float)) or not 0 < lvl < 1:
        raise ValidationFailed("params.ci_level: must be a number strictly between 0 and 1", field="params.ci_level")
    out.update({"n_boot": nb, "seed": seed, "ci_level": float(lvl), "calibration_bins": 10, "log_loss_eps": EPS})
    return out


def _bootstrap(y: np.ndarray, s: np.ndarray, yp: np.ndarray, n_boot: int, seed: int, level: float) -> dict:
    """Percentile bootstrap: replicate b resamples n rows with replacement
    (``rng.integers(0, n, n)``, ``rng = np.random.default_rng(seed)``); metrics are computed
    on the resampled rows as row multiplicities (counts)."""
    n = len(y)
    rng = np.random.default_rng(seed)
    sq = (y - s) ** 2
    pc = np.clip(s, EPS, 1 - EPS)
    ll = np.where(y == 1, -np.log(pc), -np.log(1 - pc))
    pos = y == 1
    ppos = yp == 1
    tp_v = (pos & ppos).astype(np.float64)
    fp_v = (~pos & ppos).astype(np.float64)
    fn_v = (pos & ~ppos).astype(np.float64)
    tn_v = (~pos & ~ppos).astype(np.float64)
    order = np.argsort(s, kind="stable")
    ss = s[order]
    ends = np.r_[np.flatnonzero(ss[1:] != ss[:-1]), n - 1]  # last index of each tie group
    pos_sorted = pos[order].astype(np.float64)
    vals = {k: [] for k in BOOTSTRAP_METRICS}
    chunk = max(1, min(n_boot, _BOOT_CELLS // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        w = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        w = w.astype(np.float64)
        tp, fp, fn, tn = w @ tp_v, w @ fp_v, w @ fn_v, w @ tn_v
        vals["brier"].append(w @ sq / n)
        vals["log_loss"].append(w @ ll / n)
        vals["accuracy"].append((tp + tn) / n)
        vals["precision"].append(_div(tp, tp + fp))
        vals["recall"].append(_div(tp, tp + fn))
        vals["f1"].append(_div(2 * tp, 2 * tp + fp + fn))
        ws = w[:, order]
        cp = np.cumsum(ws * pos_sorted, axis=1)[:, ends]
        cn = np.cumsum(ws * (1.0 - pos_sorted), axis=1)[:, ends]
        P, N = cp[:, -1:], cn[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            ks = np.max(np.abs(cp / P - cn / N), axis=1)
        vals["ks_statistic"].append(ks)
        done += b
    alpha = (1 - level) / 2
    out = {}
    for k, parts in vals.items():
        v = np.concatenate(parts)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            out[k] = {"lower": None, "upper": None}
        else:
            lo, hi = np.quantile(v, [alpha, 1 - alpha])
            out[k] = {"lower": finite_or_none(lo), "upper": finite_or_none(hi)}
        out[k].update({"method": "percentile_bootstrap", "level": level, "n_boot": n_boot, "n_valid": int(len(v))})
    return out


def calibration_table(y: np.ndarray, s: np.ndarray, bins: int = 10) -> list[dict]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.searchsorted(edges[1:-1], s, side="right")
    cnt = np.bincount(idx, minlength=bins)
    ssum = np.bincount(idx, weights=s, minlength=bins)
    ysum = np.bincount(idx, weights=y.astype(np.float64), minlength=bins)
    rows = []
    for i in range(bins):
        c = int(cnt[i])
        rows.append(
            {
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "count": c,
                "mean_score": float(ssum[i] / c) if c else None,
                "observed_rate": float(ysum[i] / c) if c else None,
            }
        )
    return rows


def compute_performance(parsed: Parsed, *, params: dict | None = None) -> dict:
    if parsed.kind != "performance":
        raise ValidationFailed("parsed input is not a performance input", field="kind")
    p = _params(params, parsed)
    y = parsed.arrays["y_true"]
    s = parsed.arrays["y_score"]
    n = len(y)
    n_pos = int(y.sum())
    n_neg = n - n_pos
    both = n_pos > 0 and n_neg > 0
    warnings = []
    if not both:
        warnings.append(
            {
                "code": "single_class",
                "message": "y_true contains only one class; auc, gini, ks_statistic and their intervals are undefined",
            }
        )
    yp = (s >= p["threshold"]).astype(np.int64)
    tp = int(np.count_nonzero(y & yp))
    fp = int(np.count_nonzero(yp)) - tp
    fn = n_pos - tp
    tn = n - tp - fp - fn
    auc = var = None
    if both:
        auc, var = delong(y, s)
    pc = np.clip(s, EPS, 1 - EPS)
    loss = np.where(y == 1, -np.log(pc), -np.log(1 - pc))
    metrics = {
        "auc": auc,
        "gini": None if auc is None else 2 * auc - 1,
        "ks_statistic": _ks(y, s),
        "brier": float(np.mean((y - s) ** 2)),
        "accuracy": (tp + tn) / n,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "log_loss": float(np.mean(loss)),
    }
    metrics = {k: finite_or_none(v) for k, v in metrics.items()}
    z = float(stats.norm.ppf(1 - (1 - p["ci_level"]) / 2))
    ci = {}
    if auc is not None:
        se = math.sqrt(max(var, 0.0))
        ci["auc"] = {
            "lower": finite_or_none(max(0.0, auc - z * se)),
            "upper": finite_or_none(min(1.0, auc + z * se)),
            "se": finite_or_none(se),
            "method": "delong",
            "level": p["ci_level"],
        }
    else:
        ci["auc"] = {"lower": None, "upper": None, "se": None, "method": "delong", "level": p["ci_level"]}
    if p["n_boot"] > 0:
        ci.update(_bootstrap(y, s, yp, p["n_boot"], p["seed"], p["ci_level"]))
    result = {
        "kind": "performance",
        **metrics,
        "metrics": dict(metrics),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "n": n,
        "n_positive": n_pos,
        "n_negative": n_neg,
        "calibration": calibration_table(y, s),
        "confidence_intervals": ci,
        "warnings": warnings,
        "params": p,
        "library_versions": library_versions(),
    }
    return result

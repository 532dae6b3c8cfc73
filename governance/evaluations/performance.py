"""Binary classifier performance from labels and probability scores.

Matches scikit-learn (roc_auc_score, brier_score_loss, accuracy/precision/recall/f1 with
zero_division=0, log_loss) to 1e-12. AUC CI: fast DeLong (Sun & Xu 2014). Other CIs: a seeded
bootstrap that resamples counts (multinomial) instead of rows, and Brier / log loss from their
per-row terms' sufficient statistics; the cost does not grow with n_boot x rows (see
docs/evaluations.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from governance.common.errors import ValidationFailed

from .inputs import Parsed, finite_or_none, library_versions

BOOTSTRAP_METRICS = ("brier", "accuracy", "precision", "recall", "f1", "log_loss", "ks_statistic")
EPS = float(np.finfo(np.float64).eps)


@dataclass
class ScoreGroups:
    """Positives and negatives per distinct score, in ascending score order: an exact summary from
    which AUC, its DeLong variance, the KS statistic and the KS bootstrap cells all follow. Counts of
    disjoint row sets add up, so the summary of a table is the merge of its chunks' summaries."""

    values: np.ndarray  # distinct scores, ascending (float64)
    pos: np.ndarray  # positives per score (float64 counts, exact below 2**53)
    neg: np.ndarray


def score_groups(y: np.ndarray, s: np.ndarray) -> ScoreGroups:
    """One sort of the scores with the label packed into the lowest bit of the key: scores in
    [0, 1] are non-negative floats, whose IEEE bit patterns order like their values."""
    n = len(s)
    key = (np.ascontiguousarray(s, dtype=np.float64) + 0.0).view(np.int64) << 1  # + 0.0 turns -0.0 into 0.0
    key |= np.asarray(y, dtype=np.int64) & 1
    key.sort()
    labels = key & 1
    key >>= 1
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    size = np.diff(np.r_[starts, n]).astype(np.float64)
    pos = np.add.reduceat(labels, starts).astype(np.float64) if n else np.zeros(0)
    return ScoreGroups(key[starts].view(np.float64), pos, size - pos)


def delong_groups(g: ScoreGroups) -> tuple[float, float]:
    """(auc, variance) by DeLong from per-score counts: a positive's placement value is the share of
    negatives below its score plus half of those tied (Sun & Xu's midrank difference over n), the
    same for every positive of one score; likewise for negatives."""
    P, N = float(g.pos.sum()), float(g.neg.sum())
    v01 = (np.cumsum(g.neg) - g.neg + 0.5 * g.neg) / N
    v10 = 1.0 - (np.cumsum(g.pos) - g.pos + 0.5 * g.pos) / P
    auc = float(g.pos @ v01) / P
    m10 = float(g.neg @ v10) / N
    sx = float(g.pos @ (v01 - auc) ** 2) / (P - 1) if P > 1 else 0.0
    sy = float(g.neg @ (v10 - m10) ** 2) / (N - 1) if N > 1 else 0.0
    return auc, sx / P + sy / N


def delong(y_true: np.ndarray, y_score: np.ndarray) -> tuple[float, float]:
    """Return (auc, variance) with the fast DeLong algorithm."""
    return delong_groups(score_groups(y_true, y_score))


def ks_groups(g: ScoreGroups) -> float | None:
    P, N = float(g.pos.sum()), float(g.neg.sum())
    if P == 0 or N == 0:
        return None
    return float(min(np.max(np.abs(np.cumsum(g.pos) / P - np.cumsum(g.neg) / N)), 1.0))


def _div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast(a, b).shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def validate_params(params: dict | None, parsed: Parsed) -> dict:
    """The performance parameters used (defaults filled in), or ValidationFailed naming ``params.<key>``.
    Services call it before queueing so a queued input never fails on its parameters."""
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


KS_CELLS = 2048  # score cells of the KS bootstrap (exact when the scores have at most this many values)


def _percentile_ci(values: np.ndarray, level: float, n_boot: int, method: str) -> dict:
    alpha = (1 - level) / 2
    v = values[np.isfinite(values)]
    if len(v) == 0:
        out = {"lower": None, "upper": None}
    else:
        lo, hi = np.quantile(v, [alpha, 1 - alpha])
        out = {"lower": finite_or_none(lo), "upper": finite_or_none(hi)}
    out.update({"method": method, "level": level, "n_boot": n_boot, "n_valid": int(len(v))})
    return out


@dataclass
class TermMoments:
    """The sufficient statistics of a mean of per-row terms for its interval: count, mean, and the
    second and third central moments. Computed from the rows (``term_moments``) or, out of core, from
    the terms' values per distinct (score, label) with their counts."""

    n: int
    mean: float
    mu2: float
    mu3: float


def term_moments(terms: np.ndarray) -> TermMoments:
    m = float(terms.mean())
    d = terms - m
    return TermMoments(n=len(terms), mean=m, mu2=float(np.mean(d * d)), mu3=float(np.mean(d * d * d)))


def _mean_ci(terms: np.ndarray | TermMoments, level: float, n_boot: int) -> dict:
    """Interval of a mean of per-row terms from their sufficient statistics (n, sum, and the second
    and third central moments): the bootstrap distribution of the mean has mean m, variance
    mu2 / n and skewness (mu3 / mu2^1.5) / sqrt(n); its quantiles are taken with the
    Cornish-Fisher expansion (the normal quantile corrected for skewness), which is the bootstrap
    percentile interval up to terms of order 1/n. No resampling, so no seed is involved."""
    tm = terms if isinstance(terms, TermMoments) else term_moments(terms)
    n, m, mu2, mu3 = tm.n, tm.mean, tm.mu2, tm.mu3
    alpha = (1 - level) / 2
    out = {"method": "bootstrap_moments", "level": level, "n_boot": n_boot, "n_valid": n_boot}
    if mu2 <= 0.0:
        return {"lower": finite_or_none(m), "upper": finite_or_none(m), **out}
    se = math.sqrt(mu2 / n)
    g = mu3 / mu2**1.5 / math.sqrt(n)
    zs = [float(stats.norm.ppf(alpha)), float(stats.norm.ppf(1 - alpha))]
    lo, hi = (m + se * (z + (z * z - 1.0) * g / 6.0) for z in zs)
    return {"lower": finite_or_none(lo), "upper": finite_or_none(hi), "se": finite_or_none(se), **out}


def _ks_cells(g: ScoreGroups) -> tuple[np.ndarray, np.ndarray, bool]:
    """Positive and negative counts per score cell, in score order: one cell per distinct score when
    there are at most KS_CELLS of them (exact), else consecutive scores merged into at most KS_CELLS
    cells of about equal row counts (a score's rows are never split)."""
    if len(g.values) <= KS_CELLS:
        return g.pos, g.neg, True
    size = g.pos + g.neg
    before = np.cumsum(size) - size
    cell = np.floor(before * KS_CELLS / size.sum()).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    return np.add.reduceat(g.pos, starts), np.add.reduceat(g.neg, starts), False


def _bootstrap(
    confusion: tuple[int, int, int, int],
    g: ScoreGroups | tuple[np.ndarray, np.ndarray, bool],
    terms: dict[str, np.ndarray] | dict[str, TermMoments],
    n_boot: int,
    seed: int,
    level: float,
) -> dict:
    """Seeded bootstrap intervals whose cost does not grow with n_boot x rows (docs/evaluations.md).

    Resampling n rows with replacement makes the resampled counts of any partition of the rows
    multinomial(n, cell shares); so the confusion-matrix metrics resample the four counts
    (``rng.multinomial(n, [tp, fp, fn, tn] / n, size=n_boot)``, ``rng = default_rng(seed)``) and
    KS resamples the positive/negative counts of its score cells (a second draw from the same
    generator). Brier and log loss are means of per-row ``terms``: see :func:`_mean_ci`."""
    tp, fp, fn, tn = confusion
    n = tp + fp + fn + tn
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.array([tp, fp, fn, tn], dtype=np.float64) / n, size=n_boot).astype(np.float64)
    btp, bfp, bfn, btn = counts.T
    method = "multinomial_bootstrap"
    out = {
        "accuracy": _percentile_ci((btp + btn) / n, level, n_boot, method),
        "precision": _percentile_ci(_div(btp, btp + bfp), level, n_boot, method),
        "recall": _percentile_ci(_div(btp, btp + bfn), level, n_boot, method),
        "f1": _percentile_ci(_div(2 * btp, 2 * btp + bfp + bfn), level, n_boot, method),
    }
    cpos, cneg, exact = _ks_cells(g) if isinstance(g, ScoreGroups) else g
    k = len(cpos)
    cells = rng.multinomial(n, np.concatenate([cpos, cneg]) / n, size=n_boot).astype(np.float64)
    cp = np.cumsum(cells[:, :k], axis=1)
    cn = np.cumsum(cells[:, k:], axis=1)
    P, N = cp[:, -1:], cn[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        ks = np.max(np.abs(cp / P - cn / N), axis=1)
    out["ks_statistic"] = _percentile_ci(ks, level, n_boot, method)
    out["ks_statistic"]["cells"] = int(k)
    out["ks_statistic"]["exact_cells"] = bool(exact)
    out["brier"] = _mean_ci(terms["brier"], level, n_boot)
    out["log_loss"] = _mean_ci(terms["log_loss"], level, n_boot)
    return {key: out[key] for key in BOOTSTRAP_METRICS}


ROC_MAX_POINTS = 201  # at most this many stored ROC points (docs/evaluations.md, "ROC curve")


class RocAccumulator:
    """The bounded ROC curve of :func:`roc_curve_points`, fed per-score counts in ascending score
    order in any number of batches (the in-memory path feeds one; the out-of-core path streams
    DuckDB's score groups), so both paths store the same points.

    In ascending order, ``fpr + tpr`` falls; the vertex kept for a slice is the first one from the
    top, i.e. the last one fed. Counts are integers in float64 (exact below 2**53), so the rates are
    the same numbers whichever way they are summed."""

    def __init__(self, P: float, N: float, n_groups: int, max_points: int = ROC_MAX_POINTS):
        self.P, self.N, self.n_groups, self.max_points = float(P), float(N), int(n_groups), int(max_points)
        self.exact = self.n_groups + 1 <= self.max_points
        self.slices = self.max_points - 2
        self.seen = 0  # groups fed so far
        self.pos_before = self.neg_before = 0.0
        self.kept: dict[int, tuple[int, float, float, float | None]] = {}  # key -> (vertex, fpr, tpr, threshold)

    def feed(self, values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> None:
        if self.P == 0 or self.N == 0 or len(values) == 0:
            self.seen += len(values)
            return
        cp = self.pos_before + np.cumsum(pos)
        cn = self.neg_before + np.cumsum(neg)
        tpr = (self.P - cp + pos) / self.P  # rows with score >= this group's score
        fpr = (self.N - cn + neg) / self.N
        vertex = self.n_groups - (self.seen + np.arange(len(values)))  # 1 = the highest score
        if self.exact:
            chosen = np.arange(len(values))
            keys = vertex
        else:
            level = np.minimum(np.floor((fpr + tpr) * self.slices / 2.0), self.slices - 1).astype(np.int64)
            rev = level[::-1]
            _, first = np.unique(rev, return_index=True)
            chosen = len(values) - 1 - first  # the last one fed of each level in this batch
            keys = level
        for i in chosen.tolist():
            self.kept[int(keys[i])] = (int(vertex[i]), float(fpr[i]), float(tpr[i]), float(values[i]))
        if self.seen == 0 and not self.exact:  # the lowest score's vertex, (1, 1), is always kept
            self.kept[-1] = (int(vertex[0]), float(fpr[0]), float(tpr[0]), float(values[0]))
        self.pos_before, self.neg_before = float(cp[-1]), float(cn[-1])
        self.seen += len(values)

    def result(self) -> dict | None:
        if self.P == 0 or self.N == 0:
            return None
        points = sorted({*self.kept.values(), (0, 0.0, 0.0, None)})  # (0, 0): no row positive
        if not self.exact:  # vertex 0 is the first of level 0 from the top: it stands for that slice
            level0 = self.kept.get(0)
            if level0 is not None and level0[0] != 0:
                points.remove(level0)
        kf = np.array([p[1] for p in points])
        kt = np.array([p[2] for p in points])
        area = float(np.sum(np.diff(kf) * (kt[1:] + kt[:-1]) / 2.0))
        return {
            "fpr": [p[1] for p in points],
            "tpr": [p[2] for p in points],
            "thresholds": [p[3] for p in points],
            "n_points": len(points),
            "n_vertices": self.n_groups + 1,
            "exact": bool(self.exact),
            "max_points": self.max_points,
            "auc_of_points": finite_or_none(area),
            "rule": "fpr_plus_tpr_slices",
        }


def roc_curve_points(g: ScoreGroups, max_points: int = ROC_MAX_POINTS) -> dict | None:
    """The empirical ROC curve from the per-score counts, bounded to ``max_points`` points.

    The exact curve has one vertex per distinct score, taken from the highest score down (a row is
    predicted positive when its score is >= the vertex's threshold), plus (0, 0) for "no row
    positive" (threshold ``None``). It is returned whole when it has at most ``max_points``
    vertices. Otherwise the vertices are thinned by one rule that keeps the curve's shape: along the
    curve, ``fpr + tpr`` grows from 0 to 2; the range is cut into ``max_points - 2`` equal slices
    and the first vertex of each slice is kept, with (0, 0) and (1, 1). Every vertex kept is an
    exact vertex of the full curve (its threshold, fpr and tpr unchanged), and every vertex dropped
    lies within ``2 / (max_points - 2)`` (L1) of the chord between the two kept around it, so the
    drawn line never departs from the full curve by more than that (0.01 with the default).

    The AUC stays the kernel's exact one (``auc``, by DeLong's midranks); the trapezoid area under
    the kept points is recorded beside it (``auc_of_points``) only to show how close the drawing is.
    Returns ``None`` when a class is missing (the ROC curve is undefined)."""
    acc = RocAccumulator(float(g.pos.sum()), float(g.neg.sum()), len(g.values), max_points)
    acc.feed(g.values, g.pos, g.neg)
    return acc.result()


def calibration_table(y: np.ndarray, s: np.ndarray, bins: int = 10) -> list[dict]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.searchsorted(edges[1:-1], s, side="right")
    cnt = np.bincount(idx, minlength=bins)
    ssum = np.bincount(idx, weights=s, minlength=bins)
    ysum = np.bincount(idx, weights=y.astype(np.float64), minlength=bins)
    return calibration_rows(cnt, ssum, ysum)


def calibration_rows(cnt: np.ndarray, ssum: np.ndarray, ysum: np.ndarray) -> list[dict]:
    """The calibration table from each bin's row count, sum of scores and sum of labels."""
    bins = len(cnt)
    edges = np.linspace(0.0, 1.0, bins + 1)
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


@dataclass
class PerformanceSummary:
    """Everything the performance result is made of, as exact counts and sums: from the rows
    (``compute_performance``) or from the per-score counts streamed by the out-of-core path."""

    n: int
    n_pos: int
    confusion: tuple[int, int, int, int]  # tp, fp, fn, tn at the threshold
    auc_var: tuple[float, float] | None  # DeLong (auc, variance); None with one class
    ks: float | None
    brier: TermMoments
    log_loss: TermMoments
    ks_cells: tuple[np.ndarray, np.ndarray, bool]
    calibration: list[dict]
    roc_curve: dict | None = None  # RocAccumulator.result()


def compute_performance(parsed: Parsed, *, params: dict | None = None) -> dict:
    if parsed.kind != "performance":
        raise ValidationFailed("parsed input is not a performance input", field="kind")
    p = validate_params(params, parsed)
    y = parsed.arrays["y_true"]
    s = parsed.arrays["y_score"]
    n = len(y)
    n_pos = int(y.sum())
    n_neg = n - n_pos
    yp = (s >= p["threshold"]).astype(np.int64)
    tp = int(np.count_nonzero(y & yp))
    fp = int(np.count_nonzero(yp)) - tp
    fn = n_pos - tp
    tn = n - tp - fp - fn
    groups = score_groups(y, s)
    pc = np.clip(s, EPS, 1 - EPS)
    loss = np.where(y == 1, -np.log(pc), -np.log(1 - pc))
    del pc
    sq = (y - s) ** 2
    summary = PerformanceSummary(
        n=n,
        n_pos=n_pos,
        confusion=(tp, fp, fn, tn),
        auc_var=delong_groups(groups) if n_pos > 0 and n_neg > 0 else None,
        ks=ks_groups(groups),
        brier=term_moments(sq),
        log_loss=term_moments(loss),
        ks_cells=_ks_cells(groups),
        calibration=calibration_table(y, s),
        roc_curve=roc_curve_points(groups),
    )
    return performance_result(summary, p)


def performance_result(summary: PerformanceSummary, p: dict) -> dict:
    """The performance result (metrics, intervals, calibration) from its summary; ``p`` is the
    validated parameters (``_params``)."""
    n, n_pos = summary.n, summary.n_pos
    n_neg = n - n_pos
    tp, fp, fn, tn = summary.confusion
    warnings = []
    if summary.auc_var is None:
        warnings.append(
            {
                "code": "single_class",
                "message": "y_true contains only one class; auc, gini, ks_statistic and their intervals are undefined",
            }
        )
    auc = var = None
    if summary.auc_var is not None:
        auc, var = summary.auc_var
    metrics = {
        "auc": auc,
        "gini": None if auc is None else 2 * auc - 1,
        "ks_statistic": summary.ks,
        "brier": summary.brier.mean,
        "accuracy": (tp + tn) / n,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "log_loss": summary.log_loss.mean,
    }
    metrics = {k: finite_or_none(v) for k, v in metrics.items()}
    z = float(stats.norm.ppf(1 - (1 - p["ci_level"]) / 2))
    ci = {}
    if auc is not None and var is not None:
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
        terms = {"brier": summary.brier, "log_loss": summary.log_loss}
        ci.update(_bootstrap((tp, fp, fn, tn), summary.ks_cells, terms, p["n_boot"], p["seed"], p["ci_level"]))
    result = {
        "kind": "performance",
        **metrics,
        "metrics": dict(metrics),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "n": n,
        "n_positive": n_pos,
        "n_negative": n_neg,
        "calibration": summary.calibration,
        "roc_curve": summary.roc_curve,
        "confidence_intervals": ci,
        "warnings": warnings,
        "params": p,
        "library_versions": library_versions(),
    }
    return result

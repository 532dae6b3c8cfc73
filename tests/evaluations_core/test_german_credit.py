"""End to end on UCI Statlog (German Credit Data): fairness, drift and performance vs references."""

from pathlib import Path

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    selection_rate,
    true_positive_rate,
)
from scipy import stats
from sklearn import metrics as skm

from governance.evaluations.checks import evaluate_checks
from governance.evaluations.drift import compute_drift
from governance.evaluations.fairness import compute_fairness
from governance.evaluations.inputs import input_sha256, parse_inline, parse_table
from governance.evaluations.performance import compute_performance

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "german_credit" / "german.data"
COLS = [f"A{i}" for i in range(1, 21)] + ["class"]


def load():
    df = pd.read_csv(DATA, sep=" ", header=None, names=COLS)
    y = (df["class"] == 1).astype(int).to_numpy()  # 1 = good credit
    sex = np.where(df["A9"].isin(["A92", "A95"]), "female", "male")  # A92/A95 female, A91/A93/A94 male
    age_band = np.where(df["A13"] < 25, "<25", np.where(df["A13"] < 40, "25-39", "40+"))
    z = 1.2 - 0.04 * df["A2"].to_numpy() - 0.00005 * df["A5"].to_numpy()
    score = 1.0 / (1.0 + np.exp(-z))
    return df, y, sex, age_band, score


def test_german_credit_fairness_matches_fairlearn():
    df, y, sex, age, score = load()
    yp = (score >= 0.5).astype(int)
    parsed = parse_inline(
        "fairness",
        {
            "y_true": y.tolist(),
            "y_score": score.tolist(),
            "sensitive_features": {"sex": sex.tolist(), "age_band": age.tolist()},
        },
        params={"threshold": 0.5},
    )
    res = compute_fairness(parsed)
    sf = pd.DataFrame({"age_band": age, "sex": sex})
    mf = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate}, y_true=y, y_pred=yp, sensitive_features=sf
    )
    bg = mf.by_group.dropna(how="all")
    for row, (_k, exp) in zip(res["by_group"][:-1], bg.iterrows(), strict=True):
        assert row["selection_rate"] == exp["sr"] and row["tpr"] == exp["tpr"]
    assert res["metrics"]["demographic_parity_difference"] == demographic_parity_difference(
        y, yp, sensitive_features=sf
    )
    assert res["metrics"]["equalized_odds_difference"] == equalized_odds_difference(y, yp, sensitive_features=sf)
    checks = evaluate_checks(
        "fairness", res, [{"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8}]
    )
    assert checks[0]["value"] == res["metrics"]["disparate_impact_ratio"]


def test_german_credit_drift_first_vs_last_500():
    df, *_ = load()
    num = ["A2", "A5", "A13"]
    cat = ["A1", "A3", "A4", "A9", "A8"]  # A8 (installment rate 1-4) declared categorical
    csv = DATA.read_bytes().replace(b" ", b",")
    header = (",".join(COLS) + "\n").encode()
    first = header + b"".join(csv.splitlines(keepends=True)[:500])
    last = header + b"".join(csv.splitlines(keepends=True)[500:])
    cols = {"features": num + cat, "categorical": ["A8"]}
    ref = parse_table("drift", first, file_format="csv", columns=cols, role="reference")
    both = parse_table("drift", last, file_format="csv", columns=cols, reference=ref)
    res = compute_drift(both, params={})
    rows = {r["feature"]: r for r in res["features"]}
    a, b = df.iloc[:500], df.iloc[500:]
    for f in num:
        ks = stats.ks_2samp(a[f].to_numpy(float), b[f].to_numpy(float))
        assert abs(rows[f]["ks_statistic"] - ks.statistic) <= 1e-12
        assert abs(rows[f]["ks_pvalue"] - ks.pvalue) <= 1e-12
        wn = stats.wasserstein_distance(a[f], b[f]) / np.std(a[f].to_numpy(float))
        assert abs(rows[f]["wasserstein_normalized"] - wn) <= 1e-12
    for f in cat:
        ct = pd.crosstab(np.r_[np.zeros(500), np.ones(500)], pd.concat([a[f], b[f]]).to_numpy())
        chi2 = stats.chi2_contingency(ct.to_numpy(), correction=False)
        assert abs(rows[f]["chi2_statistic"] - chi2.statistic) <= 1e-9 * max(1, chi2.statistic)
        assert abs(rows[f]["chi2_pvalue"] - chi2.pvalue) <= 1e-12
    inline = parse_inline(
        "drift",
        {"reference": {f: a[f].tolist() for f in num + cat}, "current": {f: b[f].tolist() for f in num + cat}},
        params={"categorical": ["A8"]},
    )
    assert input_sha256(inline) == input_sha256(both)


def test_german_credit_performance_matches_sklearn():
    _df, y, _sex, _age, score = load()
    res = compute_performance(
        parse_inline("performance", {"y_true": y, "y_score": score}, params={}), params={"n_boot": 100}
    )
    assert abs(res["auc"] - skm.roc_auc_score(y, score)) <= 1e-12
    assert abs(res["brier"] - skm.brier_score_loss(y, score)) <= 1e-12
    assert abs(res["log_loss"] - skm.log_loss(y, score)) <= 1e-12
    assert abs(res["f1"] - skm.f1_score(y, score >= 0.5, zero_division=0)) <= 1e-12
    assert res["auc"] > 0.5

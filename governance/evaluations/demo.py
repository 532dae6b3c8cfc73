"""Demo step for ``seed_demo`` (idempotent): computed evaluations of both German Credit scorecards.

For each demo version of ``german-credit-scoring`` the pipeline account posts, through the
evaluation service, on the hold-out rows 701-1000: a fairness evaluation (sensitive features sex
and age band, predictions = score >= 0.5), a performance evaluation, and a drift evaluation of
the hold-out against the training rows 1-700 as reference. Thresholds are those of the default
policies (workflow migration 0002): auc >= 0.7, demographic parity difference <= 0.1, disparate
impact ratio >= 0.8, max PSI <= 0.2. The numbers are whatever the data gives: nothing is invented.
"""

from __future__ import annotations

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.common import demo
from governance.evaluations import services
from governance.evaluations.models import Evaluation, EvaluationSource, EvaluationStatus
from governance.registry.models import ModelVersion

MODEL_NAME = "german-credit-scoring"
PIPELINE_ACCOUNT = "credit-pipeline"
VERSIONS = ("1.0.0", "1.1.0")
HOLDOUT = slice(700, 1000)
TRAINING = slice(0, 700)
DATASET = "german-credit-holdout-701-1000"
DRIFT_DATASET = "german-credit-holdout-701-1000-vs-training-1-700"
CATEGORICAL = ["checking_lt_0", "credit_history_critical_or_none", "no_checking_account"]
THRESHOLDS = {
    "performance": [{"metric": "auc", "comparator": ">=", "threshold": 0.7}],
    "fairness": [
        {"metric": "demographic_parity_difference", "comparator": "<=", "threshold": 0.1},
        {"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8},
    ],
    "drift": [{"metric": "max_psi", "comparator": "<=", "threshold": 0.2}],
}


def payloads(version: str, rows: list[list[str]] | None = None) -> dict[str, tuple[str, dict, dict]]:
    """kind -> (dataset, data, params) for one demo version."""
    rows = rows or demo.load_rows()
    y = demo.labels_bad_credit(rows)
    score = demo.score(version, rows)
    sex, age_band = demo.sex(rows), demo.age_band(rows)
    feats = demo.features(rows)
    return {
        "fairness": (
            DATASET,
            {
                "y_true": y[HOLDOUT].tolist(),
                "y_score": score[HOLDOUT].tolist(),
                "sensitive_features": {"sex": sex[HOLDOUT], "age_band": age_band[HOLDOUT]},
            },
            # y = 1 is bad credit: the favourable outcome for the applicant is predicted label 0
            {"threshold": 0.5, "favourable_outcome": 0},
        ),
        "performance": (DATASET, {"y_true": y[HOLDOUT].tolist(), "y_score": score[HOLDOUT].tolist()}, {"seed": 0}),
        "drift": (
            DRIFT_DATASET,
            {
                "reference": {n: feats[n][TRAINING].tolist() for n in demo.FEATURE_NAMES},
                "current": {n: feats[n][HOLDOUT].tolist() for n in demo.FEATURE_NAMES},
            },
            {"categorical": CATEGORICAL},
        ),
    }


def seed(command, by: Principal) -> None:
    """``by`` is seed_demo's own principal; the evaluations are posted as the pipeline account."""
    pipeline = User.objects.filter(username=PIPELINE_ACCOUNT).first()
    versions = {v.version: v for v in ModelVersion.objects.filter(model__name=MODEL_NAME, version__in=VERSIONS)}
    if pipeline is None or set(versions) != set(VERSIONS):
        command.stderr.write("  evaluations demo skipped: run the people and model steps first")
        return
    rows = demo.load_rows()
    pipeline_principal = Principal.for_user(pipeline, auth="cli")
    for name in VERSIONS:
        version = versions[name]
        for kind, (dataset, data, params) in payloads(name, rows).items():
            if Evaluation.objects.filter(
                model_version=version,
                kind=kind,
                dataset=dataset,
                source=EvaluationSource.COMPUTED,
                status=EvaluationStatus.DONE,
            ).exists():
                continue
            evaluation = services.evaluation_create(
                by=pipeline_principal,
                model_version=version,
                kind=kind,
                dataset=dataset,
                thresholds=THRESHOLDS[kind],
                params=params,
                data=data,
            ).evaluation
            verdict = "PASS" if evaluation.passed else "FAIL"
            shown = ", ".join(
                f"{c['metric']}={c['value']:.3f}" if c["value"] is not None else c["metric"] for c in evaluation.checks
            )
            command.stderr.write(f"  {MODEL_NAME} {name}: {kind} evaluation #{evaluation.pk} {verdict} ({shown})")

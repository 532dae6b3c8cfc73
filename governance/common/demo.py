"""The demo credit-scoring model built on the UCI Statlog German Credit data (CC BY 4.0).

Used by ``seed_demo`` and by tests: reads ``fixtures/german_credit/german.data``, derives the
scorecard's features and scores rows with the coefficients stored in the version's artifact.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from django.conf import settings

# The demo's people, pipeline account and model (seed_demo; the workflow, evaluations and reports demo steps).
DEMO_PASSWORD = "demo-password-2026"
DEMO_PEOPLE: tuple[tuple[str, str, str, list[str], bool], ...] = (
    # username, first, last, roles, superuser
    ("admin", "Ada", "Admin", [], True),
    ("dana.developer", "Dana", "Developer", ["developer"], False),
    ("victor.validator", "Victor", "Validator", ["validator"], False),
    ("rita.risk", "Rita", "Risk-Officer", ["risk_officer"], False),
    ("rob.risk", "Rob", "Second-Risk-Officer", ["risk_officer"], False),
    ("alex.auditor", "Alex", "Auditor", ["auditor"], False),
)
PIPELINE_ACCOUNT = "credit-pipeline"
MODEL_NAME = "german-credit-scoring"

DATA_DIR = Path(settings.BASE_DIR) / "fixtures" / "german_credit"
DATA_FILE = DATA_DIR / "german.data"
ARTIFACTS = {
    "1.0.0": DATA_DIR / "models" / "scorecard-1.0.0.json",
    "1.1.0": DATA_DIR / "models" / "scorecard-1.1.0.json",
}
FEATURE_NAMES = (
    "duration_months",
    "credit_amount_thousands",
    "installment_rate",
    "age_years",
    "existing_credits",
    "checking_lt_0",
    "no_checking_account",
    "credit_history_critical_or_none",
)
PERSONAL_STATUS_SEX = {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def relative(path: Path) -> str:
    return str(path.relative_to(settings.BASE_DIR))


def load_rows() -> list[list[str]]:
    return [line.split() for line in DATA_FILE.read_text().splitlines() if line.strip()]


def features(rows: list[list[str]]) -> dict[str, np.ndarray]:
    cols = {
        "duration_months": [float(r[1]) for r in rows],
        "credit_amount_thousands": [float(r[4]) / 1000 for r in rows],
        "installment_rate": [float(r[7]) for r in rows],
        "age_years": [float(r[12]) for r in rows],
        "existing_credits": [float(r[15]) for r in rows],
        "checking_lt_0": [1.0 if r[0] == "A11" else 0.0 for r in rows],
        "no_checking_account": [1.0 if r[0] == "A14" else 0.0 for r in rows],
        "credit_history_critical_or_none": [1.0 if r[2] in ("A30", "A31") else 0.0 for r in rows],
    }
    return {name: np.asarray(values) for name, values in cols.items()}


def labels_bad_credit(rows: list[list[str]]) -> np.ndarray:
    """1 = bad credit (class 2 in the UCI file), the event the scorecard predicts."""
    return np.asarray([1 if r[20] == "2" else 0 for r in rows])


def sex(rows: list[list[str]]) -> list[str]:
    return [PERSONAL_STATUS_SEX[r[8]] for r in rows]


def age_band(rows: list[list[str]]) -> list[str]:
    return ["under_25" if int(r[12]) < 25 else "25_plus" for r in rows]


def score(version: str, rows: list[list[str]]) -> np.ndarray:
    artifact = json.loads(ARTIFACTS[version].read_text())
    cols = features(rows)
    z = np.full(len(rows), artifact["intercept"])
    for name, coef in zip(artifact["features"], artifact["coefficients"], strict=True):
        z = z + coef * cols[name]
    return 1.0 / (1.0 + np.exp(-z))

"""Evaluation inputs on the German Credit data, and evaluations created through the evaluation service."""

from __future__ import annotations

import io

import numpy as np

from audit.context import Actor
from governance.common import demo
from governance.evaluations import services
from governance.evaluations.models import Evaluation, ReferenceSample
from governance.registry.models import ModelVersion
from tests.factories.accounts import as_user

ACTOR = Actor.system("tests")
DRIFT_FEATURES = ("duration_months", "credit_amount_thousands", "age_years", "installment_rate")


def german(version: str = "1.0.0") -> dict:
    """Rows, labels (1 = bad credit), scores of the demo scorecard, sex and age band, and features."""
    rows = demo.load_rows()
    return {
        "rows": rows,
        "y": demo.labels_bad_credit(rows),
        "score": demo.score(version, rows),
        "sex": np.asarray(demo.sex(rows)),
        "age_band": np.asarray(demo.age_band(rows)),
        "features": demo.features(rows),
    }


def fairness_data(g: dict, sl=slice(700, 1000), threshold: float = 0.5) -> dict:
    return {
        "y_true": g["y"][sl].tolist(),
        "y_pred": (g["score"][sl] >= threshold).astype(int).tolist(),
        "sensitive_features": {"sex": g["sex"][sl].tolist(), "age_band": g["age_band"][sl].tolist()},
    }


def performance_data(g: dict, sl=slice(700, 1000)) -> dict:
    return {"y_true": g["y"][sl].tolist(), "y_score": g["score"][sl].tolist()}


def drift_sample(g: dict, sl) -> dict:
    return {name: g["features"][name][sl].tolist() for name in DRIFT_FEATURES}


def drift_data(g: dict) -> dict:
    return {"reference": drift_sample(g, slice(0, 700)), "current": drift_sample(g, slice(700, 1000))}


def table_bytes(columns: dict, file_format: str) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    buf = io.BytesIO()
    if file_format == "csv":
        pacsv.write_csv(table, buf)
    else:
        pq.write_table(table, buf)
    return buf.getvalue()


def fairness_table(g: dict, sl=slice(700, 1000)) -> tuple[dict, dict]:
    d = fairness_data(g, sl)
    cols = {
        "label": d["y_true"],
        "prediction": d["y_pred"],
        "sex": d["sensitive_features"]["sex"],
        "age_band": d["sensitive_features"]["age_band"],
    }
    return cols, {"y_true": "label", "y_pred": "prediction", "sensitive_features": ["sex", "age_band"]}


def performance_table(g: dict, sl=slice(700, 1000)) -> tuple[dict, dict]:
    d = performance_data(g, sl)
    return {"label": d["y_true"], "score": d["y_score"]}, {"y_true": "label", "y_score": "score"}


def drift_table(g: dict, sl) -> tuple[dict, dict]:
    return drift_sample(g, sl), {"features": list(DRIFT_FEATURES)}


def evaluation(
    version: ModelVersion,
    user,
    *,
    kind: str = "performance",
    data: dict | None = None,
    dataset: str = "holdout-2026-10",
    thresholds=None,
    params=None,
) -> Evaluation:
    """An evaluation through the service (computed in the request)."""
    if data is None:
        g = german(version.version if version.version in demo.ARTIFACTS else "1.0.0")
        data = (
            {"performance": performance_data, "fairness": fairness_data, "drift": drift_data}[kind](g)
            if kind != "reported"
            else {"auc": 0.8}
        )
    return services.evaluation_create(
        by=as_user(user),
        model_version=version,
        kind=kind,
        dataset=dataset,
        thresholds=thresholds,
        params=params,
        data=data,
    ).evaluation


def reference_sample(version: ModelVersion, user, *, file_format: str = "csv") -> ReferenceSample:
    from django.core.files.uploadedfile import SimpleUploadedFile

    g = german()
    cols, mapping = drift_table(g, slice(0, 700))
    upload = SimpleUploadedFile(f"reference.{file_format}", table_bytes(cols, file_format))
    return services.reference_sample_register(by=as_user(user), model_version=version, file=upload, columns=mapping)

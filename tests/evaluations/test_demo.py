"""The evaluations demo step: computed evidence for both German Credit versions, idempotent."""

from __future__ import annotations

import io

import pytest
from django.core.management.base import BaseCommand

from governance.accounts.principal import Principal
from governance.common.management.commands import seed_demo
from governance.evaluations import demo as evaluations_demo
from governance.evaluations.models import Evaluation
from tests.evaluations.conftest import events, record

pytestmark = pytest.mark.django_db


def test_seed_is_idempotent_and_posts_as_the_pipeline(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    command, actor = BaseCommand(stderr=io.StringIO()), Principal.for_command("seed_demo")
    evaluations_demo.seed(command, actor)  # before the model exists: skipped, nothing written
    assert Evaluation.objects.count() == 0
    seed_demo.seed_people(command, actor)
    seed_demo.seed_model(command, actor)
    evaluations_demo.seed(command, actor)
    evaluations_demo.seed(command, actor)
    evs = list(Evaluation.objects.select_related("model_version", "created_by"))
    assert len(evs) == 6
    assert {(e.model_version.version, e.kind) for e in evs} == {
        (v, k) for v in ("1.0.0", "1.1.0") for k in ("fairness", "performance", "drift")
    }
    assert all(
        e.source == "computed" and e.status == "done" and e.created_by.username == "credit-pipeline" for e in evs
    )
    fair = next(e for e in evs if e.kind == "fairness")
    assert fair.params["sensitive_features"] == ["age_band", "sex"]
    assert [c["metric"] for c in fair.checks] == ["demographic_parity_difference", "disparate_impact_ratio"]
    drift = next(e for e in evs if e.kind == "drift")
    assert drift.input_rows == 1000 and drift.metrics["n_features"] == 8
    assert {r["feature"] for r in drift.result["features"] if r["type"] == "categorical"} == set(
        evaluations_demo.CATEGORICAL
    )
    perf = {e.model_version.version: e for e in evs if e.kind == "performance"}
    assert perf["1.1.0"].metrics["auc"] > perf["1.0.0"].metrics["auc"]
    creates = events("evaluation.create")
    assert len(creates) == 6 and all(record(e)["actor"]["username"] == "credit-pipeline" for e in creates)

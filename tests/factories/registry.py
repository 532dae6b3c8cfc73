"""Registered models and versions, created through the audited registry services."""

from __future__ import annotations

import hashlib
import itertools

from governance.accounts.models import User
from governance.registry import services
from governance.registry.models import ModelVersion, RegisteredModel
from tests.factories.accounts import as_user, person

_counter = itertools.count(1)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def registered_model(
    *,
    owner: User | None = None,
    risk_tier: str = "tier_1",
    eu_ai_act_category: str = "high",
    name: str | None = None,
    **extra,
) -> RegisteredModel:
    owner = owner or person("developer")
    return services.registered_model_create(
        by=as_user(owner),
        name=name or f"model-{next(_counter)}",
        purpose="Scores applications.",
        business_unit="Retail",
        eu_ai_act_category=eu_ai_act_category,
        risk_tier=risk_tier,
        **extra,
    )


def model_version(
    *, model: RegisteredModel | None = None, user: User | None = None, version: str | None = None, **extra
) -> ModelVersion:
    model = model or registered_model()
    user = user or model.owner
    number = next(_counter)
    fields = {
        "artifact_uri": f"s3://models/{model.name}/{number}.pkl",
        "artifact_sha256": sha(f"artifact-{number}"),
        "training_data_ref": f"s3://data/train-{number}.parquet",
        "training_data_sha256": sha(f"data-{number}"),
        "code_commit": sha(f"commit-{number}")[:40],
        "framework": "scikit-learn 1.5",
        "parameters": {"C": "1.0"},
    }
    fields.update(extra)
    return services.model_version_create(by=as_user(user), model=model, version=version or f"1.{number}.0", **fields)

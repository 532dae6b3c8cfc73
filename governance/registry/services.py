"""Inventory rules: registering models and versions, limited updates, and stage changes.

Lineage fields are immutable once set. The stage is written only by
``model_version_stage_change``, which the promotion workflow calls.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_unit
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import DEVELOPER, PIPELINE, RISK_OFFICER
from governance.common.errors import Conflict, PermissionRefused, ValidationFailed
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.common.services import changed_fields, full_clean_or_raise
from governance.registry import regimes as regimes_mod
from governance.registry.models import (
    LINEAGE_FIELDS,
    ModelStatus,
    ModelVersion,
    RegisteredModel,
    Stage,
)

MODEL_CREATE_ROLES = (DEVELOPER, PIPELINE, RISK_OFFICER)
VERSION_CREATE_ROLES = (DEVELOPER, PIPELINE)
MODEL_DESCRIPTIVE_FIELDS = ("title", "purpose", "business_unit")
MODEL_CLASSIFICATION_FIELDS = (
    "risk_tier",
    "eu_ai_act_category",
    "annex_iii_area",
    "governing_regimes",
    "owner",
    "status",
)
VERSION_MUTABLE_FIELDS = ("description",)


def model_target(model: RegisteredModel) -> dict:
    return {"type": "registered_model", "id": str(model.pk), "name": model.name}


def version_target(version: ModelVersion) -> dict:
    return {"type": "model_version", "id": str(version.pk), "model": version.model.name, "version": version.version}


def _model_snapshot(model: RegisteredModel) -> dict:
    return {
        "name": model.name,
        "title": model.title,
        "purpose": model.purpose,
        "owner": model.owner.username,
        "business_unit": model.business_unit,
        "eu_ai_act_category": model.eu_ai_act_category,
        "annex_iii_area": model.annex_iii_area,
        "risk_tier": model.risk_tier,
        "governing_regimes": list(model.governing_regimes or []),
        "status": model.status,
    }


def version_lineage(version: ModelVersion) -> dict:
    return {name: getattr(version, name) for name in LINEAGE_FIELDS}


def registered_model_create(
    *,
    by: Principal,
    name: str,
    purpose: str,
    business_unit: str,
    eu_ai_act_category: str,
    risk_tier: str,
    annex_iii_area: str = "none",
    title: str = "",
    owner: User | None = None,
    governing_regimes: list[str] | None = None,
) -> RegisteredModel:
    """Register a model. ``governing_regimes`` (empty: the installation default) is validated against
    the regimes the outlines define."""
    target = {"type": "registered_model", "id": name, "name": name}
    with refusals(by, "registered_model.create", target):
        by.require_role(*MODEL_CREATE_ROLES, reason="only developers, pipelines and risk officers register models")
        regimes = regimes_mod.clean_regimes(governing_regimes or [])
        model = RegisteredModel(
            name=name,
            title=title,
            purpose=purpose,
            business_unit=business_unit,
            eu_ai_act_category=eu_ai_act_category,
            risk_tier=risk_tier,
            annex_iii_area=annex_iii_area,
            governing_regimes=regimes,
            owner=owner or by.user,
            created_by=by.user,
        )
        full_clean_or_raise(model)
        with audit_unit(by.actor) as audit:
            if RegisteredModel.objects.select_for_update().filter(name=name).exists():
                raise Conflict(f"a model named {name!r} is already registered", field="name")
            model.save()
            audit.add("registered_model.create", model_target(model), details=_model_snapshot(model))
    return model


def registered_model_update(*, by: Principal, model: RegisteredModel, data: dict) -> RegisteredModel:
    """Descriptive fields: the owner or a risk officer. Classification and ownership: risk officers only,
    because lowering a model's risk tier would lower the gates it must pass."""
    with refusals(by, "registered_model.update", model_target(model)):
        unknown = sorted(set(data) - set(MODEL_DESCRIPTIVE_FIELDS) - set(MODEL_CLASSIFICATION_FIELDS))
        if unknown:
            raise ValidationFailed(f"{unknown[0]} cannot be changed", field=unknown[0])
        touches_classification = sorted(set(data) & set(MODEL_CLASSIFICATION_FIELDS))
        if touches_classification:
            by.require_role(
                RISK_OFFICER,
                reason=f"only a risk officer may change {', '.join(touches_classification)}",
                field=touches_classification[0],
            )
        if not by.has_role(RISK_OFFICER) and (by.user is None or model.owner_id != by.user.pk):
            raise PermissionRefused("only the model's owner or a risk officer may change it")
        if "governing_regimes" in data:
            data = {**data, "governing_regimes": regimes_mod.clean_regimes(data["governing_regimes"])}
        with audit_unit(by.actor) as audit:
            model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
            changes = changed_fields(model, data)
            if not changes:
                return model
            for name, value in data.items():
                setattr(model, name, value)
            model.updated_at = timezone.now()
            full_clean_or_raise(model, exclude=["name"])
            model.save()
            audit.add(
                "registered_model.update",
                model_target(model),
                details={
                    name: {"before": _plain(before), "after": _plain(after)}
                    for name, (before, after) in changes.items()
                },
            )
    return model


def _plain(value):
    return value.username if isinstance(value, User) else value


def model_version_create(
    *,
    by: Principal,
    model: RegisteredModel,
    version: str,
    artifact_uri: str,
    artifact_sha256: str,
    training_data_ref: str = "",
    training_data_sha256: str = "",
    code_commit: str = "",
    framework: str = "",
    parameters: dict | None = None,
    description: str = "",
) -> ModelVersion:
    target = {"type": "model_version", "id": f"{model.name}:{version}", "model": model.name, "version": version}
    with refusals(by, "model_version.create", target):
        by.require_role(*VERSION_CREATE_ROLES, reason="only developers and pipelines register model versions")
        if model.status != ModelStatus.ACTIVE:
            raise ValidationFailed("the model is decommissioned; no new versions", field="model")
        if parameters is not None and not isinstance(parameters, dict):
            raise ValidationFailed("parameters must be a JSON object", field="parameters")
        mv = ModelVersion(
            model=model,
            version=version,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            training_data_ref=training_data_ref,
            training_data_sha256=training_data_sha256,
            code_commit=code_commit,
            framework=framework,
            parameters=parameters or {},
            description=description,
            registered_by=by.user,
        )
        full_clean_or_raise(mv, exclude=["model", "registered_by"])
        if ModelVersion.objects.filter(model=model, version=version).exists():
            raise Conflict(f"{model.name} already has a version {version!r}", field="version")
        try:
            with audit_unit(by.actor) as audit:
                mv.save()
                audit.add(
                    "model_version.create",
                    version_target(mv),
                    details={"lineage": version_lineage(mv), "stage": mv.stage},
                )
        except IntegrityError as exc:  # a concurrent registration of the same version won the race
            raise Conflict(f"{model.name} already has a version {version!r}", field="version") from exc
    return mv


def model_version_update(*, by: Principal, version: ModelVersion, data: dict) -> ModelVersion:
    """The description may change; a lineage field may be set once when it was empty, never changed."""
    with refusals(by, "model_version.update", version_target(version)):
        if "stage" in data:
            raise ValidationFailed("stage is changed only through the promotion workflow", field="stage")
        unknown = sorted(set(data) - set(VERSION_MUTABLE_FIELDS) - set(LINEAGE_FIELDS))
        if unknown:
            raise ValidationFailed(f"{unknown[0]} cannot be changed", field=unknown[0])
        user_id = by.user_id
        if user_id is None or (
            version.registered_by_id != user_id and version.model.owner_id != user_id and not by.is_superuser
        ):
            raise PermissionRefused("only whoever registered the version or the model's owner may change it")
        for name in sorted(set(data) & set(LINEAGE_FIELDS)):
            current = getattr(version, name)
            if current not in ("", None, {}) and current != data[name]:
                raise ValidationFailed(f"{name} is lineage and cannot be changed once set", field=name)
        with audit_unit(by.actor) as audit:
            version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
            changes = changed_fields(version, data)
            if not changes:
                return version
            for name, value in data.items():
                setattr(version, name, value)
            full_clean_or_raise(version, exclude=["model", "registered_by", "version"])
            version.save()
            audit.add(
                "model_version.update",
                version_target(version),
                details={name: {"before": before, "after": after} for name, (before, after) in changes.items()},
            )
    return version


# Moves the registry itself allows; the workflow's policies decide which of them need gates.
ALLOWED_STAGE_MOVES = {
    Stage.DEVELOPMENT: {Stage.STAGING, Stage.RETIRED},
    Stage.STAGING: {Stage.PRODUCTION, Stage.DEVELOPMENT, Stage.RETIRED},
    Stage.PRODUCTION: {Stage.RETIRED},
    Stage.RETIRED: {Stage.PRODUCTION, Stage.STAGING},
}


def model_version_stage_change(
    *, by: Principal, version: ModelVersion, to_stage: str, reason: str, details: dict | None = None
) -> list[ModelVersion]:
    """The only writer of ``ModelVersion.stage``. Must run inside the caller's unit of work (its
    ``model_version.stage_change`` events join the caller's, appended when the caller's unit ends).

    Moving a version to production retires the model's current production version in the same
    transaction (one production version per model). Returns every version whose stage changed.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("model_version_stage_change must run inside the workflow's transaction")
    with audit_unit(by.actor) as audit:
        return _stage_change(audit, version, to_stage, reason, details)


def _stage_change(audit, version: ModelVersion, to_stage: str, reason: str, details: dict | None) -> list[ModelVersion]:
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    if to_stage not in Stage.values:
        raise ValidationFailed(f"unknown stage {to_stage!r}", field="target_stage")
    if to_stage not in ALLOWED_STAGE_MOVES[Stage(version.stage)]:
        raise ValidationFailed(f"a version cannot move from {version.stage} to {to_stage}", field="target_stage")
    moved = []
    now = timezone.now()
    if to_stage == Stage.PRODUCTION:
        current = (
            ModelVersion.objects.select_for_update()
            .filter(model=version.model, stage=Stage.PRODUCTION)
            .exclude(pk=version.pk)
            .first()
        )
        if current is not None:
            _write_stage(current, Stage.RETIRED, now)
            audit.add(
                "model_version.stage_change",
                version_target(current),
                details={
                    "from": Stage.PRODUCTION,
                    "to": Stage.RETIRED,
                    "replaced_by": version.version,
                    **(details or {}),
                },
                reason=f"replaced in production by {version.version}",
            )
            moved.append(current)
    before = version.stage
    _write_stage(version, to_stage, now)
    audit.add(
        "model_version.stage_change",
        version_target(version),
        details={"from": before, "to": to_stage, **(details or {})},
        reason=reason,
    )
    moved.append(version)
    return moved


def _write_stage(version: ModelVersion, stage: str, moment) -> None:
    announce("model_version.stage_changed", version_id=version.pk, from_stage=version.stage, to_stage=stage)
    version.stage = stage
    version.stage_changed_at = moment
    version._stage_write_allowed = True
    version.save(update_fields=["stage", "stage_changed_at"])

"""Replays registry events to rebuild registered models and versions (audit.state, ``audit_verify --state``)."""

from __future__ import annotations

from governance.registry.models import LINEAGE_FIELDS, ModelVersion, RegisteredModel

MODEL_FIELDS = (
    "name",
    "title",
    "purpose",
    "owner",
    "business_unit",
    "eu_ai_act_category",
    "annex_iii_area",
    "risk_tier",
    "governing_regimes",
    "status",
)
VERSION_FIELDS = ("model", "version", "stage", *LINEAGE_FIELDS)


class RegistryReplayer:
    name = "registry"
    actions = (
        "registered_model.create",
        "registered_model.update",
        "model_version.create",
        "model_version.update",
        "model_version.stage_change",
    )

    def __init__(self):
        self.models: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        if action == "registered_model.create":
            self.models[key] = {name: data.get(name) for name in MODEL_FIELDS if name in data}
            self.models[key].setdefault("governing_regimes", [])  # models registered before the field
        elif action == "registered_model.update":
            row = self.models.setdefault(key, {})
            for name, change in data.items():
                if name in MODEL_FIELDS and isinstance(change, dict) and "after" in change:
                    row[name] = change["after"]
        elif action == "model_version.create":
            self.versions[key] = {
                "model": target.get("model"),
                "version": target.get("version"),
                "stage": data.get("stage"),
                **{name: value for name, value in (data.get("lineage") or {}).items() if name in LINEAGE_FIELDS},
            }
        elif action == "model_version.update":
            row = self.versions.setdefault(key, {})
            for name, change in data.items():
                if name in VERSION_FIELDS and isinstance(change, dict) and "after" in change:
                    row[name] = change["after"]
        elif action == "model_version.stage_change":
            self.versions.setdefault(key, {})["stage"] = data.get("to")

    def compare(self):
        from audit.state import compare_rows

        models = {
            str(m["pk"]): {**{k: m[k] for k in MODEL_FIELDS if k != "owner"}, "owner": m["owner__username"]}
            for m in RegisteredModel.objects.values("pk", "owner__username", *[f for f in MODEL_FIELDS if f != "owner"])
        }
        divergence = compare_rows("registry_registeredmodel", models, self.models)
        if divergence:
            return divergence
        versions = {
            str(v["pk"]): {
                "model": v["model__name"],
                "version": v["version"],
                "stage": v["stage"],
                **{k: v[k] for k in LINEAGE_FIELDS},
            }
            for v in ModelVersion.objects.values("pk", "model__name", "version", "stage", *LINEAGE_FIELDS)
        }
        return compare_rows("registry_modelversion", versions, self.versions)

"""Model card (Model Card Toolkit schema v0.0.2 field names) and datasheets (Gebru et al.).

Both are built only from the pack document: auto-filled fields come from records; the fields that
people must write (model card ``considerations``, datasheet motivation/consent/uses/distribution/
maintenance) come from ``pack["narratives"]`` and are left empty (model card) or ``None``
(datasheet) when not provided. Nothing is invented.

Metric values are carried as strings exactly as they appear in the pack (MCT's
``performance_metrics[].value`` is a string), floats via ``repr`` (shortest round-trip form).
"""

from __future__ import annotations

from collections.abc import Mapping

MCT_SCHEMA_VERSION = "0.0.2"

#: model card ``considerations`` field -> narrative key.
CONSIDERATION_NARRATIVES = {
    "users": "intended_users",
    "use_cases": "intended_purpose",
    "limitations": "major_limitations",
    "tradeoffs": "tradeoffs",
    "ethical_considerations": "ethical_considerations",
}

#: datasheet group (Gebru et al.) -> narrative key, for the groups people must write.
DATASHEET_NARRATIVES = {
    "motivation": "datasheet_motivation",
    "consent_and_ethical_review": "datasheet_consent",
    "uses": "datasheet_uses",
    "distribution": "datasheet_distribution",
    "maintenance": "datasheet_maintenance",
}


def value_text(value) -> str:
    """A value exactly as it came: floats by repr, decimal strings unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _narrative_text(pack: Mapping, key: str) -> str | None:
    entry = (pack.get("narratives") or {}).get(key)
    if isinstance(entry, Mapping) and isinstance(entry.get("text"), str) and entry["text"].strip():
        return entry["text"]
    return None


def performance_metrics(pack: Mapping) -> list[dict]:
    """MCT ``performance_metrics`` rows for every evaluation metric and per-group metric."""
    rows = []
    for ev in pack.get("evaluations") or []:
        base_slice = f"{ev.get('kind', '')}:{ev.get('dataset', '')}"
        for name in sorted(ev.get("metrics") or {}):
            rows.append({"type": name, "value": value_text(ev["metrics"][name]), "slice": base_slice})
        for grp in ev.get("by_group") or []:
            slice_name = f"{base_slice}:{grp.get('attribute', '')}={grp.get('group', '')}"
            for name in sorted(grp.get("metrics") or {}):
                rows.append({"type": name, "value": value_text(grp["metrics"][name]), "slice": slice_name})
    return rows


def model_card(pack: Mapping) -> dict:
    """The pack's model card as an MCT v0.0.2 compatible dict (JSON-serialisable)."""
    model = pack.get("model") or {}
    version = pack.get("version") or {}
    lineage = version.get("lineage") or {}
    owners = []
    if model.get("owner"):
        owners.append({"name": model["owner"], "contact": model.get("owner_contact", "")})
    datasets = [
        {
            "name": d.get("name", ""),
            "link": d.get("uri", ""),
            "sensitive": {"sensitive_data": list(d.get("sensitive_attributes") or [])},
        }
        for d in pack.get("datasets") or []
    ]
    considerations: dict[str, list] = {}
    for field, key in CONSIDERATION_NARRATIVES.items():
        text = _narrative_text(pack, key)
        if field == "ethical_considerations":
            considerations[field] = [{"name": text, "mitigation_strategy": ""}] if text else []
        else:
            considerations[field] = [{"description": text}] if text else []
    return {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": {
            "name": model.get("name", ""),
            "overview": model.get("purpose", ""),
            "documentation": version.get("description", ""),
            "owners": owners,
            "version": {
                "name": str(version.get("version", "")),
                "date": version.get("registered_at", ""),
                "diff": version.get("change_summary", ""),
            },
            "licenses": [{"custom_text": model["licence"]}] if model.get("licence") else [],
            "references": [{"reference": r} for r in model.get("references") or []],
            "citations": [],
            "path": lineage.get("artifact_uri", ""),
        },
        "model_parameters": {
            "model_architecture": version.get("architecture", ""),
            "data": datasets,
            "input_format": version.get("input_format", ""),
            "output_format": version.get("output_format", ""),
        },
        "quantitative_analysis": {
            "performance_metrics": performance_metrics(pack),
            "graphics": {"description": "Per-group and per-feature charts are in the PDF pack.", "collection": []},
        },
        "considerations": considerations,
    }


def datasheet(dataset: Mapping, narratives: Mapping | None = None) -> dict:
    """A datasheet for one pack dataset, in Gebru et al.'s seven groups.

    ``narratives`` is ``pack["narratives"]``; the human-written groups are ``None`` when missing.
    """
    pack_like = {"narratives": narratives or {}}
    window = dataset.get("time_window") or {}
    human = {group: _narrative_text(pack_like, key) for group, key in DATASHEET_NARRATIVES.items()}
    return {
        "name": dataset.get("name", ""),
        "motivation": human["motivation"],
        "composition": {
            "rows": dataset.get("rows"),
            "features": list(dataset.get("features") or []),
            "label": dataset.get("label"),
            "splits": dataset.get("splits") or {},
            "sensitive_attributes": list(dataset.get("sensitive_attributes") or []),
        },
        "collection_process": {
            "source": dataset.get("source"),
            "uri": dataset.get("uri"),
            "sha256": dataset.get("sha256"),
            "time_window": {"start": window.get("start"), "end": window.get("end")},
            "selection": dataset.get("selection"),
            "consent_and_ethical_review": human["consent_and_ethical_review"],
        },
        "preprocessing": {
            "steps": list(dataset.get("preprocessing") or []),
            "labelling": dataset.get("labelling"),
        },
        "uses": human["uses"],
        "distribution": {"licence": dataset.get("licence"), "terms": human["distribution"]},
        "maintenance": human["maintenance"],
    }


def datasheets(pack: Mapping) -> list[dict]:
    return [datasheet(d, pack.get("narratives")) for d in pack.get("datasets") or []]

"""Versioned pack outlines, one JSON data file per regime.

An outline is data, not code: adding a regime (OCC 2026-13, NIST AI RMF, ISO/IEC 42001) means adding
``<name>.json`` here, reusing the named blocks in :data:`BLOCKS` and the narrative keys of
:mod:`governance.reports.narratives`. Shape::

    {"regime": "sr11-7", "outline_version": "1", "title": str, "short_title": str,
     "regulatory_text": str,          # printed on the cover ("regulatory text followed")
     "cover_statement": str,          # sentence printed under it on the cover
     "sections": [{"id": "9.1", "title": str, "citation": str,
                   "blocks": [<block>, ...], "narratives": [<narrative key>, ...]}]}

A ``<block>`` is either a block name (``"lineage_table"``) or an object ``{"type": <name>, ...options}``.
Outlines are immutable once published: change one by adding a new ``outline_version`` (packs record
the version they were rendered with).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from governance.reports import narratives as _narratives

_DIR = Path(__file__).resolve().parent


def _discover() -> dict[str, str]:
    """regime id -> data file name: every ``<name>.json`` here (not ``<name>.v<N>.json``) by its
    ``regime`` key. Adding a regime is adding its outline file: no code changes."""
    found = {}
    for path in sorted(_DIR.glob("*.json")):
        if ".v" in path.stem:
            continue
        with open(path, encoding="utf-8") as fh:
            regime = json.load(fh)["regime"]
        if regime in found:
            raise ValueError(f"two outline files declare regime {regime!r}")
        found[regime] = path.name
    return found


#: regime id -> data file name (the latest outline version of that regime), discovered from the files.
REGIMES = _discover()

#: Named record blocks the renderer knows, with their options. Documented in docs/pack-schema.md.
BLOCKS: dict[str, str] = {
    "model_summary": "Key facts of the model and version (name, purpose, owner, business unit, tier, "
    "EU category, status, version, stage).",
    "model_inventory": "SR 11-7 §VI (Model Inventory) entry: purpose, products, usage, restrictions, inputs, "
    "outputs, status, last update, responsible people, validation dates, validity.",
    "headline_metrics": "Every check of every evaluation against its threshold, one line each, with a pass/fail count.",
    "lineage_table": "Version lineage: artefact URI and SHA-256, training data ref and SHA-256, code "
    "commit, framework, registered by/at. Hashes in the hash font, wrapped.",
    "parameters_table": "version.lineage.parameters as a name/value table.",
    "datasets_table": "One row per pack dataset: name, role, source, rows, time window, SHA-256.",
    "evaluations_table": "Evaluations with their checks (metric, value, comparator, threshold, PASS/FAIL, "
    "computed/reported, input digest). Option kinds: [evaluation kinds] filter.",
    "fairness_chart": "Bar chart per fairness evaluation of the per-group metric with the threshold "
    "line, plus the per-group table and each group's 95% intervals (Wilson; ratios by seeded bootstrap).",
    "drift_chart": "Bar chart per drift evaluation of the per-feature statistic with the threshold "
    "line, plus the per-feature table.",
    "metric_trends": "Line chart per gated metric across the model's versions (computed and reported "
    "values, the threshold line), plus the table of its points.",
    "performance_charts": "ROC curve and calibration chart (with their diagonals) per computed "
    "performance evaluation, plus the calibration bins table.",
    "approval_chain": "Approvals: approver, role, signed at, decision, justification, signature meaning; "
    "overrides in a highlighted box; invalidated approvals marked.",
    "independence_check": "Automatic check that validators differ from the developer/owner.",
    "stage_history": "Stage transitions: from, to, at, request, approvers, rollback flag.",
    "policy_summary": "The policy version applied and its checks.",
    "audit_summary": "Audit event counts per action. Option actions: [action names, or 'object_type.*' "
    "for every action on that object type] filter.",
    "overrides_summary": "Gate overrides by approvers (from the approval records) apart from overrides of model "
    "outputs in use (not held unless a deployment posts them).",
    "operational_logs": "Art. 12 logs the AI system records while operating, and which of them the service holds.",
    "evidence_reconciliation": "Reported beside computed values of every metric both give, the difference, "
    "whether it exceeds EVALUATION_DISCREPANCY_TOLERANCE, the computed verdict and which one the gates used.",
    "review_flags": "Review flags raised on the version (monitoring breaches of the production policy), open or "
    "resolved, with their breaches.",
    "audit_trail": "Every audit event (seq, time, actor, action, object, leaf hash) and the checkpoint.",
    "classification": "EU AI Act category and Annex III area as registered, the Annex III point derived by the "
    "outline's annex_iii_points rules, the Art. 6(3) derogation statement, SR 11-7 tier.",
    "conformity_route": "The conformity-assessment procedure (Art. 43) for the derived Annex III point and "
    "whether a notified body is involved, from the outline's conformity routes.",
    "version_history": "pack.version_history: earlier versions, stage, registration, artefact hash.",
    "model_card": "Model Card Toolkit v0.0.2 content (see modelcard.model_card).",
    "datasheets": "One datasheet per dataset (Gebru et al. groups, see modelcard.datasheet).",
    "completeness": "Narratives provided / missing per section.",
    "model_specification": "The model's actual specification when the artefact carries it: coefficients, "
    "intercept and the decision cut-offs the evaluations used.",
    "backtest_status": "Whether out-of-time back-testing is possible (some dataset carries dates) or not.",
    "prohibited_basis_inputs": "The model's inputs matched by name against prohibited bases. Option bases: "
    "{basis: [name terms]}.",
    "field_table": "Generic label/value table. Options: rows [[label, dotted.path]], title.",
    "records_table": "Generic list table. Options: source (dotted path to a list), columns [[key, "
    "header]], empty_text.",
    "static_table": "A fixed table from the outline. Options: columns [headers], rows [[cells]].",
    "note": "A fixed explanatory note. Option: text.",
    "validation_history": "Revalidation interval, last and next validation, revalidation flags; every validation "
    "(validator, dates, conclusion, scope) and every finding with its status and answer as of the pack's seq, "
    "overdue ones marked.",
    "ongoing_monitoring": "The version's monitoring schedules, their latest checks and results, missed checks and "
    "their resolution (NOT PROVIDED, naming who provides it, when the version has no schedule).",
    "effective_challenge": "Who challenged what and the answer: validation findings, gate overrides, rejections "
    "and review-flag resolutions.",
    "pmm_plan": "The post-market monitoring plan's text and the schedules carrying it out (Art. 72; NOT PROVIDED, "
    "naming who provides it, for a high-risk model without a plan).",
    "incident_register": "Serious incidents of the version: what happened, awareness, the Art. 73 rule and "
    "deadline, deadline status and the reports sent.",
}


def block_type(block) -> str:
    """Name of a block given as a string or as ``{"type": ...}``."""
    return block if isinstance(block, str) else block["type"]


def block_options(block) -> dict:
    return {} if isinstance(block, str) else {k: v for k, v in block.items() if k != "type"}


@cache
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_outline(regime: str, outline_version: str | None = None) -> dict:
    """Return a fresh copy of the outline for ``regime``.

    ``outline_version`` must match the file's version when given (a pack rendered with an older
    outline needs that outline's file: keep old versions as ``<name>.v<N>.json``).
    """
    if regime not in REGIMES:
        raise KeyError(f"unknown regime {regime!r}; known: {sorted(REGIMES)}")
    name = REGIMES[regime]
    if outline_version is not None:
        versioned = _DIR / name.replace(".json", f".v{outline_version}.json")
        if versioned.exists():
            return copy.deepcopy(_load(str(versioned)))
    outline = _load(str(_DIR / name))
    if outline_version is not None and outline["outline_version"] != str(outline_version):
        raise KeyError(f"{regime} outline version {outline_version!r} is not available")
    problems = validate_outline(outline)
    if problems:  # e.g. an unknown block: refused when loaded, never printed into a PDF
        raise ValueError(f"{regime} outline is invalid: " + "; ".join(problems))
    return copy.deepcopy(outline)


def available_regimes() -> list[str]:
    return sorted(REGIMES)


def regime_title(regime: str) -> str:
    """The outline's short title, for choice lists."""
    return _load(str(_DIR / REGIMES[regime])).get("short_title") or regime


def regime_choices() -> list[tuple[str, str]]:
    """(regime, short title) for every outline: the choices of ``DocumentationPack.regime``."""
    return [(r, regime_title(r)) for r in available_regimes()]


def validate_outline(outline: dict) -> list[str]:
    """Problems with an outline (unknown blocks or narrative keys, duplicate ids); empty if valid."""
    problems = []
    for key in ("regime", "outline_version", "title", "regulatory_text", "sections"):
        if key not in outline:
            problems.append(f"missing top-level key {key!r}")
    seen = set()
    for section in outline.get("sections", []):
        sid = section.get("id")
        if sid in seen:
            problems.append(f"duplicate section id {sid!r}")
        seen.add(sid)
        for key in ("id", "title", "citation", "blocks", "narratives"):
            if key not in section:
                problems.append(f"section {sid!r}: missing {key!r}")
        for block in section.get("blocks", []):
            name = block_type(block)
            if name not in BLOCKS:
                problems.append(f"section {sid!r}: unknown block {name!r}")
        for key in _narratives.unknown_keys(section.get("narratives", [])):
            problems.append(f"section {sid!r}: unknown narrative {key!r}")
    return problems

"""Catalogue of narrative fields: the text that only people may write (reference §3.4).

The PDF renderer never invents these texts. A narrative is either present in
``pack["narratives"][key]`` (``{"text", "author", "updated_at"}``) or it is printed as a boxed
"NOT PROVIDED" marker carrying the label below.

Each entry says:

- ``key``: stable identifier, used as the key in ``pack["narratives"]`` and in the outlines'
  ``"narratives"`` lists; never rename a key (add a new one and retire the old one instead);
- ``label``: the heading printed in the PDF (also on the NOT PROVIDED marker);
- ``help``: what the author is expected to write, shown to authors in the UI;
- ``scope``: ``"model"`` (one text for the model, carried across versions) or ``"version"``
  (written again for each model version);
- ``role``: owning role, one of :data:`ROLES`;
- ``regimes``: the regimes whose outlines use the key (informational; the outlines are the
  source of truth for which section shows it, see :func:`sections_using`).

This module is pure data plus small helpers; it does not import Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ROLES = ("developer", "validator", "risk_officer")
SCOPES = ("model", "version")


@dataclass(frozen=True)
class Narrative:
    key: str
    label: str
    help: str
    scope: str
    role: str
    regimes: tuple[str, ...]


def _n(key: str, label: str, help: str, scope: str, role: str, *regimes: str) -> Narrative:
    return Narrative(key, label, help, scope, role, tuple(regimes))


SR = "sr11-7"
EU = "eu-ai-act"

CATALOGUE: tuple[Narrative, ...] = (
    # --- shared by both regimes -------------------------------------------------------------
    _n(
        "intended_purpose",
        "Intended-purpose statement",
        "The purpose of the model in business terms and, for the EU pack, in the legal sense of "
        "Art. 3(12): what decisions it supports, for whom, in which context.",
        "model",
        "developer",
        SR,
        EU,
    ),
    _n(
        "intended_users",
        "Intended users",
        "Who uses the model's output (teams, roles, deployers) and what they need to know.",
        "model",
        "developer",
        SR,
        EU,
    ),
    _n(
        "major_limitations",
        "Major limitations",
        "Known limitations of the model and of its data, and where it must not be relied on.",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "key_assumptions",
        "Key assumptions",
        "The assumptions the model depends on, and what happens to outputs if they fail.",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "design_rationale",
        "Design rationale, theory and assumptions",
        "General logic and theory of the model; key design choices with rationale, including "
        "assumptions about the persons or groups it is used on (Annex IV 2(b); SR 11-7 §IV (design, theory "
        "and logic)).",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "tradeoffs",
        "Trade-offs",
        "Trade-offs made between accuracy, fairness, robustness, explainability and cost.",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "data_gaps_remediation",
        "Data gaps, proxies and remediation",
        "Identified data gaps or shortcomings, proxies and adjustments used, their justification "
        "and how they are addressed (Art. 10(2)(h); SR 11-7 §IV (data quality and relevance)).",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "ethical_considerations",
        "Ethical considerations and mitigations",
        "Risks to affected people and the mitigation adopted for each (model card considerations).",
        "model",
        "risk_officer",
        SR,
        EU,
    ),
    _n(
        "datasheet_motivation",
        "Datasheet: motivation and funding",
        "Why the datasets were created, by whom, and who funded them (Gebru et al. §1).",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "datasheet_consent",
        "Datasheet: consent and ethical review",
        "Whether data subjects consented or were notified, and any ethical review performed.",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "datasheet_uses",
        "Datasheet: recommended and prohibited uses",
        "Tasks the data suits, and uses it must not be put to (Gebru et al. §5).",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "datasheet_distribution",
        "Datasheet: distribution and licensing",
        "Whether and how the data is shared, under which licence or terms (Gebru et al. §6).",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "datasheet_maintenance",
        "Datasheet: maintenance plan",
        "Who maintains the datasets, how errors are corrected, and update cadence (§7).",
        "version",
        "developer",
        SR,
        EU,
    ),
    _n(
        "vendor_assessment",
        "Third-party components and vendor evidence",
        "How third-party components (pre-trained models, libraries, data vendors) were chosen, "
        "modified or integrated; assessment of vendor evidence; contingency plan.",
        "version",
        "validator",
        SR,
        EU,
    ),
    # --- SR 11-7 style --------------------------------------------------------------------
    _n(
        "executive_synopsis",
        "Synopsis of the model and of the validation results",
        "An accessible synopsis of what the model does and what validation found, for readers "
        "who will not read the whole pack.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "product_scope",
        "Products, usage and restrictions on use",
        "Products or business lines the model serves, actual or expected usage, and any "
        "restrictions on use (SR 11-7 §VI (Model Inventory)).",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "business_rationale",
        "Business rationale and boundary conditions",
        "Why the model is needed and the conditions outside which it must not be used.",
        "model",
        "developer",
        SR,
    ),
    _n(
        "alternatives_considered",
        "Alternatives considered",
        "Alternative theories, methods and variables considered, and why they were rejected.",
        "version",
        "developer",
        SR,
    ),
    _n(
        "instability_interpretation",
        "Interpretation of instabilities",
        "Interpretation of instabilities seen in sensitivity and stress testing.",
        "version",
        "developer",
        SR,
    ),
    _n(
        "adjustments_policy",
        "Judgemental adjustments and user guidance",
        "Policy for judgemental adjustments and overrides; guidance to users on limitations.",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "validation_independence",
        "Independence statement and scope rationale",
        "Who validated, how independent they are of development and use, and why the validation "
        "scope fits the model's risk tier (SR 11-7 §V (independence; scope and rigour by risk); §III "
        "(effective challenge)).",
        "version",
        "validator",
        SR,
    ),
    _n(
        "conceptual_soundness",
        "Validator's assessment of conceptual soundness",
        "Assessment of design, assumptions, variable choice and developmental evidence.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "monitoring_assessment",
        "Assessment of ongoing monitoring",
        "Whether changes in products, exposures, clients or markets require adjustment, redevelopment or replacement.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "outcomes_explanation",
        "Explanation of outcome breaches",
        "For each back-testing breach: omitted factors, specification error or random variation.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "validation_findings",
        "Validation findings",
        "Findings with severity, owner, due date and remediation status.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "validation_opinion",
        "Validation opinion, conditions and compensating controls",
        "The validation outcome (approve, approve with conditions, reject), conditions on "
        "approval, restrictions, compensating controls and next review date.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "effective_challenge",
        "Effective challenge and committee minutes",
        "Summary of review threads and committee decisions: who raised what, the response, and "
        "what changed as a result.",
        "version",
        "risk_officer",
        SR,
    ),
    _n(
        "escalation_procedure",
        "Escalation procedure",
        "How monitoring alerts are escalated, to whom, and within what time.",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "aggregate_risk_commentary",
        "Aggregate model-risk commentary",
        "Board-level commentary on aggregate model risk: dependencies, shared data and "
        "assumptions across models (SR 11-7 §III (aggregate model risk); §VI (Board of Directors and Senior "
        "Management: reporting on significant model risk, individually and in the aggregate)).",
        "model",
        "risk_officer",
        SR,
    ),
    # --- EU AI Act style -------------------------------------------------------------------
    _n(
        "art5_screening",
        "Art. 5 prohibited-practices screening attestation",
        "Attestation that the system does not fall under any Art. 5 prohibited practice.",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "art6_determination",
        "Art. 6 high-risk determination",
        "The legal determination under Art. 6(1)/(2) and the Annex III point relied on.",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "art6_3_derogation",
        "Art. 6(3) derogation reasoning",
        "If relying on Art. 6(3), the documented assessment required by Art. 6(4); otherwise "
        "state that no derogation is claimed.",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "art50_applicability",
        "Art. 50 transparency applicability",
        "Whether any Art. 50 transparency obligation applies, and how it is met.",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "classification_signoff",
        "Legal sign-off of the classification",
        "Name and function of the compliance or legal owner who reviewed the classification.",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "ui_description",
        "User interface and instructions for use",
        "Basic description of the user interface provided to the deployer, and the instructions "
        "for use (Annex IV 1(g)-(h)).",
        "model",
        "developer",
        EU,
    ),
    _n(
        "change_envelope",
        "Pre-determined change envelope",
        "Declaration of pre-determined changes: retraining triggers, allowed ranges, and the "
        "technical solutions that keep the system compliant (Annex IV 2(f)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "data_design_choices",
        "Data design choices and assumptions",
        "Design choices for the data sets and the assumptions about what the data measures and "
        "represents (Art. 10(2)(a), (d)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "special_category_basis",
        "Legal basis for special-category data",
        "Legal basis and safeguards for any special-category personal data processed for bias "
        "detection (Art. 10(5)); state 'none processed' if so.",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "oversight_assessment",
        "Human-oversight assessment",
        "Assessment of the human-oversight measures needed (Annex IV 2(e); Art. 14).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "test_report_signoff",
        "Test report sign-off statement",
        "Statement by the responsible person that the test reports listed are complete; the "
        "signature itself is the approval record, never generated.",
        "version",
        "validator",
        EU,
    ),
    _n(
        "threat_model",
        "Threat model",
        "Threat model covering data poisoning, model poisoning, adversarial examples, "
        "confidentiality attacks and model flaws (Art. 15(5)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "foreseeable_outcomes",
        "Foreseeable unintended outcomes and risks",
        "Foreseeable unintended outcomes and sources of risk to health, safety, fundamental "
        "rights and of discrimination (Annex IV 3).",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "metric_appropriateness",
        "Appropriateness of the performance metrics",
        "Why the metrics and thresholds used suit this system's intended purpose (Annex IV 4).",
        "version",
        "validator",
        EU,
    ),
    _n(
        "risk_identification",
        "Risk identification and foreseeable misuse",
        "Known and reasonably foreseeable risks under intended use and foreseeable misuse (Art. 9(2)(a)-(b)).",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "residual_risk_acceptability",
        "Residual-risk acceptability judgement",
        "The judgement that residual risk is acceptable, per hazard and overall (Art. 9(5)).",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "vulnerable_groups",
        "Vulnerable groups",
        "Consideration of impact on persons under 18 and other vulnerable groups (Art. 9(9)).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "substantial_modification",
        "Substantial-modification determination",
        "Whether this version is a substantial modification (Art. 3(23)) and why.",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "harmonised_standards",
        "Harmonised standards or alternative solutions",
        "Harmonised standards applied in full or in part, or the alternative solutions adopted.",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "declaration_of_conformity",
        "Declaration of conformity statements and signature",
        "Statements of sole responsibility and conformity, the GDPR/EUDPR/LED statement, place "
        "and date of issue, signatory name and function (Annex V). Never auto-signed.",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "pmm_plan",
        "Post-market monitoring plan",
        "The plan itself: objectives, data sources, responsibilities and escalation (Art. 72).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "log_retention",
        "Log retention justification",
        "Retention period for logs and its justification (at least six months; longer under "
        "financial-services law) (Art. 19(1); Art. 26(6)).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "overseer_competence",
        "Overseer competence, training and authority",
        "Competence, training and authority of the people assigned to oversight (Art. 26(2)).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "automation_bias_guidance",
        "Automation-bias guidance",
        "Guidance given to overseers on automation bias (Art. 14(4)(b)).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "accuracy_circumstances",
        "Circumstances affecting accuracy",
        "Known and foreseeable circumstances that affect the declared accuracy and robustness.",
        "version",
        "developer",
        EU,
    ),
    _n(
        "qms_summary",
        "Quality management system and accountability framework",
        "Summary of and references to the QMS documents and the accountability framework "
        "(Art. 17; Art. 17(4) for financial institutions).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "incident_procedure",
        "Serious-incident classification and reporting",
        "Incident classification, causal-link determination and report text (Art. 73).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "conformity_assessment",
        "Conformity assessment procedure and outcome",
        "The procedure followed and its outcome: for Annex III points 2-8, Annex VI internal control "
        "without a notified body (Art. 43(2)).",
        "version",
        "risk_officer",
        EU,
    ),
    _n(
        "eu_registration",
        "EU database registration",
        "Member States concerned and confirmation of submission to the EU database (Art. 49).",
        "model",
        "risk_officer",
        EU,
    ),
    # --- added for the corrected outlines (issue 14) ----------------------------------------
    _n(
        "process_verification",
        "Process verification",
        "How inputs, code and outputs were checked to reconcile: data feeds complete and accurate, the "
        "implemented code matches the approved specification, reports agree with model outputs (SR 11-7 §V "
        "(2. Ongoing Monitoring: process verification)). A drift test is not process verification.",
        "version",
        "validator",
        SR,
    ),
    _n(
        "benchmark_model",
        "Benchmark model and comparison",
        "The alternative model or estimate the model was compared with, on which data, and what the "
        "comparison showed (SR 11-7 §V (2. Ongoing Monitoring: benchmarking)).",
        "version",
        "validator",
        SR,
    ),
    _n(
        "backtesting_assessment",
        "Back-testing and out-of-time testing",
        "Forecasts compared with actual outcomes over a period not used in development, with the "
        "expected ranges; or why out-of-time testing is not possible (SR 11-7 §V (3. Outcomes Analysis: "
        "back-testing)).",
        "version",
        "validator",
        SR,
    ),
    _n(
        "use_restrictions",
        "Use restrictions and compensating controls",
        "Restrictions on use, conditions of approval and the compensating controls warranted by the "
        "validation (SR 11-7 §VI (Documentation: validation reports, adjustments and compensating controls)).",
        "version",
        "risk_officer",
        SR,
    ),
    _n(
        "tiering_rationale",
        "Model tiering rationale",
        "Why the model has its risk tier (materiality, complexity, uncertainty, breadth of use) and what "
        "scope and frequency of validation follow from it (SR 11-7 §VI (Policies and Procedures: "
        "prioritization, scope and frequency of validation)).",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "board_reporting",
        "Reporting to senior management and the board",
        "How and when the model's risk, individually and in aggregate, and compliance with policy are "
        "reported to senior management and the board (SR 11-7 §VI (Board of Directors and Senior Management: "
        "reporting on significant model risk, individually and in the aggregate)).",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "internal_audit_assessment",
        "Internal audit's assessment",
        "Internal audit's independent assessment of the model risk management framework as it applies to "
        "this model: validation independence, policy compliance, inventory completeness (SR 11-7 §VI "
        "(Internal Audit)). Recorded by the risk officer from internal audit's report.",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "fl_prohibited_bases",
        "Prohibited bases among the inputs (ECOA / Regulation B)",
        "Whether age or any other prohibited basis is an input or a proxy, and why its use is permitted "
        "(12 CFR 1002.6(b)(2): an empirically derived, demonstrably and statistically sound system may use "
        "age only if applicants 62 or older are not assigned a negative factor).",
        "model",
        "risk_officer",
        SR,
    ),
    _n(
        "fl_adverse_action_method",
        "Adverse-action reasons method",
        "How the principal reasons for an adverse action are derived from the model (12 CFR 1002.9(b)(2)).",
        "version",
        "developer",
        SR,
    ),
    _n(
        "fl_less_discriminatory_alternatives",
        "Search for less discriminatory alternatives",
        "Which alternative models or features were tested for a smaller disparity at comparable accuracy, "
        "and the result.",
        "version",
        "developer",
        SR,
    ),
    _n(
        "ifu_characteristics",
        "Characteristics, capabilities and limitations of performance",
        "Intended purpose, accuracy levels and metrics, known circumstances affecting them, groups of "
        "persons, input specifications, output interpretation (Art. 13(3)(b)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "ifu_changes",
        "Pre-determined changes",
        "Changes to the system and its performance pre-determined at the initial conformity assessment "
        "(Art. 13(3)(c)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "ifu_resources",
        "Computational resources, lifetime and maintenance",
        "Computational and hardware resources needed, expected lifetime, maintenance and care measures "
        "including software updates (Art. 13(3)(e)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "ifu_logging",
        "Mechanisms to collect, store and interpret logs",
        "How deployers collect, store and interpret the logs of Art. 12 (Art. 13(3)(f)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "oversight_built_in",
        "Oversight measures built into the system",
        "Measures identified and built into the system by the provider before it is placed on the market, "
        "mapped to Art. 14(4)(a)-(e) (Art. 14(3)(a)).",
        "version",
        "developer",
        EU,
    ),
    _n(
        "oversight_deployer",
        "Oversight measures for the deployer to implement",
        "Measures identified by the provider as appropriate to be implemented by the deployer, mapped to "
        "Art. 14(4)(a)-(e) (Art. 14(3)(b)).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "accuracy_declaration",
        "Declared levels of accuracy and the metrics",
        "The levels of accuracy and the relevant accuracy metrics declared in the instructions for use "
        "(Art. 15(3)), and the robustness (15(4)) and cybersecurity (15(5)) testing performed.",
        "version",
        "validator",
        EU,
    ),
    _n(
        "fi_provisions",
        "Financial-institution provisions",
        "How the obligations are met through the internal governance arrangements under Union financial "
        "services law (Art. 17(4), 18(3), 19(2), 72(4)).",
        "model",
        "risk_officer",
        EU,
    ),
    _n(
        "fria",
        "Fundamental rights impact assessment",
        "The deployer's assessment under Art. 27(1)(a)-(f): processes, period and frequency of use, "
        "categories of persons affected, specific risks of harm, human oversight measures, measures if "
        "risks materialise. Required before first use for deployers of Annex III 5(b) systems.",
        "model",
        "risk_officer",
        EU,
    ),
)

BY_KEY: dict[str, Narrative] = {n.key: n for n in CATALOGUE}


def get(key: str) -> Narrative:
    """The catalogue entry for ``key``; ``KeyError`` if the key is unknown."""
    return BY_KEY[key]


def label(key: str) -> str:
    """The printable label; unknown keys fall back to the key itself (never fail a render)."""
    entry = BY_KEY.get(key)
    return entry.label if entry else key


def for_regime(regime: str) -> list[Narrative]:
    """Entries used by ``regime`` in catalogue order."""
    return [n for n in CATALOGUE if regime in n.regimes]


def sections_using(outline: Mapping, key: str) -> list[str]:
    """Ids of the outline's sections that print the narrative ``key``."""
    return [s["id"] for s in outline["sections"] if key in s.get("narratives", ())]


def is_provided(narratives: Mapping | None, key: str) -> bool:
    """True when the pack carries non-blank text for ``key``."""
    value = (narratives or {}).get(key)
    if not isinstance(value, Mapping):
        return False
    text = value.get("text")
    return isinstance(text, str) and bool(text.strip())


def completeness(pack: Mapping, outline: Mapping) -> list[dict]:
    """Per section of ``outline``: narratives provided and missing for ``pack``.

    Returns ``[{"id", "title", "provided": [keys], "missing": [keys]}]`` in outline order.
    """
    narratives = pack.get("narratives") or {}
    rows = []
    for section in outline["sections"]:
        keys = list(section.get("narratives", ()))
        provided = [k for k in keys if is_provided(narratives, k)]
        missing = [k for k in keys if not is_provided(narratives, k)]
        rows.append({"id": section["id"], "title": section["title"], "provided": provided, "missing": missing})
    return rows


def unknown_keys(keys: Iterable[str]) -> list[str]:
    """Keys not in the catalogue (used to validate outlines)."""
    return sorted({k for k in keys if k not in BY_KEY})

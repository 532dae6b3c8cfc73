"""Factory of realistic pack documents for the renderer tests and the benchmark.

A German-credit scoring model (UCI Statlog German Credit data), two versions, evaluations with
checks, per-group fairness rows, per-feature drift rows, an approval chain with one override,
stage history and audit events. Everything is deterministic (no clock, no randomness).
"""

from __future__ import annotations

import base64
import copy
import hashlib

from governance.reports.identity import derive_pack_id
from governance.reports.narratives import for_regime
from governance.reports.outlines import load_outline

FEATURES = [
    "checking_status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings_status",
    "employment",
    "installment_commitment",
    "personal_status",
    "other_parties",
    "residence_since",
    "property_magnitude",
    "age",
    "other_payment_plans",
    "housing",
    "existing_credits",
    "job",
    "num_dependents",
    "own_telephone",
    "foreign_worker",
]

# Narratives deliberately left out of the "full" pack, so NOT PROVIDED markers can be tested.
MISSING_IN_FULL = (
    "alternatives_considered",
    "validation_findings",
    "art6_3_derogation",
    "harmonised_standards",
    "declaration_of_conformity",
    "datasheet_consent",
)


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def leaf(seq: int) -> str:
    return base64.b64encode(hashlib.sha256(f"leaf-{seq}".encode()).digest()).decode()


def ts(day: int, sec: int = 0) -> str:
    """Deterministic timestamps in 2026 (day-of-year offset from 1 March), microsecond precision."""
    month, dom = (3 + (day - 1) // 28, (day - 1) % 28 + 1)
    hh, rem = divmod(sec % 86400, 3600)
    mm, ss = divmod(rem, 60)
    return f"2026-{month:02d}-{dom:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{(sec * 7919) % 1000000:06d}Z"


def narrative_texts(regime: str) -> dict:
    out = {}
    for i, n in enumerate(for_regime(regime)):
        if n.key in MISSING_IN_FULL:
            continue
        author = {
            "developer": "jonas.weber@bank.example",
            "validator": "maria.rossi@bank.example",
            "risk_officer": "claire.dubois@bank.example",
        }[n.role]
        out[n.key] = {
            "text": f"[{n.label}] Statement written by the {n.role.replace('_', ' ')} for the "
            f"German credit scorecard. The model estimates the probability of default of "
            f"consumer credit applicants.\n\nSecond paragraph of {n.key}.",
            "author": author,
            "updated_at": ts(20 + i % 5, 3600 + i),
        }
    return out


def evaluations(count: int = 6) -> list[dict]:
    """``count`` evaluations; the first six are the canonical ones tests look for."""
    libs = {"scikit-learn": "1.5.2", "numpy": "2.1.3", "fairlearn": "0.12.0"}
    base = [
        {
            "id": "EV-0001",
            "kind": "performance",
            "dataset": "german-credit-holdout-2025Q4",
            "source": "computed",
            "created_at": ts(10, 3600),
            "model_version": "2.0",
            "input_sha256": h("holdout"),
            "metrics": {"roc_auc": 0.7912, "ks": "0.4630", "brier": 0.1684, "accuracy": 0.765},
            "checks": [
                {"metric": "roc_auc", "comparator": ">=", "threshold": 0.75, "value": 0.7912, "passed": True},
                {"metric": "ks", "comparator": ">=", "threshold": "0.30", "value": "0.4630", "passed": True},
                {"metric": "brier", "comparator": "<=", "threshold": 0.2, "value": 0.1684, "passed": True},
            ],
            "libraries": libs,
        },
        {
            "id": "EV-0002",
            "kind": "fairness",
            "dataset": "german-credit-holdout-2025Q4",
            "source": "computed",
            "created_at": ts(10, 7200),
            "model_version": "2.0",
            "input_sha256": h("holdout-fairness"),
            "metrics": {"demographic_parity_ratio": 0.8421, "equalized_odds_difference": 0.0712},
            "checks": [
                {
                    "metric": "demographic_parity_ratio",
                    "comparator": ">=",
                    "threshold": 0.8,
                    "value": 0.8421,
                    "passed": True,
                },
                {
                    "metric": "equalized_odds_difference",
                    "comparator": "<=",
                    "threshold": 0.1,
                    "value": 0.0712,
                    "passed": True,
                },
            ],
            "group_metric": {"name": "selection_rate_ratio", "comparator": ">=", "threshold": 0.8},
            "by_group": [
                {
                    "attribute": "sex",
                    "group": "female",
                    "n": 310,
                    "metrics": {"selection_rate": 0.6129, "selection_rate_ratio": 0.8421, "tpr": 0.8377},
                },
                {
                    "attribute": "sex",
                    "group": "male",
                    "n": 690,
                    "metrics": {"selection_rate": 0.7278, "selection_rate_ratio": 1.0, "tpr": 0.8953},
                },
                {
                    "attribute": "age_band",
                    "group": "under_25",
                    "n": 149,
                    "metrics": {"selection_rate": 0.5705, "selection_rate_ratio": 0.7839, "tpr": 0.8011},
                },
                {
                    "attribute": "age_band",
                    "group": "25_and_over",
                    "n": 851,
                    "metrics": {"selection_rate": 0.7277, "selection_rate_ratio": 1.0, "tpr": 0.8841},
                },
            ],
            "libraries": libs,
        },
        {
            "id": "EV-0003",
            "kind": "drift",
            "dataset": "production-scores-2026-03",
            "source": "computed",
            "created_at": ts(25, 600),
            "model_version": "2.0",
            "input_sha256": h("prod-2026-03"),
            "metrics": {"max_psi": 0.2731, "drifted_features": 2},
            "checks": [{"metric": "max_psi", "comparator": "<=", "threshold": 0.25, "value": 0.2731, "passed": False}],
            "features": [
                {
                    "feature": f,
                    "type": "numeric",
                    "method": "ks",
                    "statistic_name": "ks_statistic",
                    "statistic": round(v / 3, 6),
                    "p_value": round(max(0.0, 0.5 - v * 1.9), 6),
                    "decided_by": "p_value",
                    "comparator": "<",
                    "threshold": 0.05,
                    "drifted": v > 0.25,
                    "psi": v,
                }
                for f, v in zip(
                    FEATURES,
                    [
                        0.021,
                        0.2731,
                        0.034,
                        0.118,
                        0.2602,
                        0.044,
                        0.012,
                        0.009,
                        0.051,
                        0.003,
                        0.007,
                        0.015,
                        0.132,
                        0.006,
                        0.011,
                        0.004,
                        0.019,
                        0.002,
                        0.008,
                        0.001,
                    ],
                    strict=True,
                )
            ],
            "libraries": {"numpy": "2.1.3", "scipy": "1.14.1"},
        },
        {
            "id": "EV-0004",
            "kind": "backtest",
            "dataset": "out-of-time-2025H2",
            "source": "reported",
            "created_at": ts(12, 100),
            "model_version": "2.0",
            "input_sha256": h("oot-2025H2"),
            "metrics": {
                "observed_default_rate": "0.2870",
                "predicted_default_rate": "0.2790",
                "binomial_p_value": 0.4127,
            },
            "checks": [
                {"metric": "binomial_p_value", "comparator": ">=", "threshold": 0.05, "value": 0.4127, "passed": True}
            ],
            "libraries": {"internal-backtest": "3.2"},
        },
        {
            "id": "EV-0005",
            "kind": "data_quality",
            "dataset": "german-credit-train-2019-2024",
            "source": "computed",
            "created_at": ts(5, 50),
            "model_version": "2.0",
            "input_sha256": h("train"),
            "metrics": {"missing_rate_max": 0.0, "duplicate_rows": 0, "rows": 1000},
            "checks": [
                {"metric": "missing_rate_max", "comparator": "<=", "threshold": 0.01, "value": 0.0, "passed": True}
            ],
            "libraries": {"pandas": "2.2.3"},
        },
        {
            "id": "EV-0006",
            "kind": "sensitivity",
            "dataset": "german-credit-holdout-2025Q4",
            "source": "computed",
            "created_at": ts(11, 50),
            "model_version": "2.0",
            "input_sha256": h("sens"),
            "metrics": {"max_auc_drop_under_noise": 0.0143},
            "checks": [
                {
                    "metric": "max_auc_drop_under_noise",
                    "comparator": "<=",
                    "threshold": 0.02,
                    "value": 0.0143,
                    "passed": True,
                }
            ],
            "libraries": libs,
        },
    ]
    out = base[:count]
    kinds = ["performance", "backtest", "stability", "robustness", "sensitivity"]
    for i in range(len(out), count):
        kind = kinds[i % len(kinds)]
        auc = round(0.74 + (i % 17) * 0.003, 4)
        out.append(
            {
                "id": f"EV-{i + 1:04d}",
                "kind": kind,
                "dataset": f"monthly-sample-{i % 24:02d}",
                "source": "computed" if i % 3 else "reported",
                "created_at": ts(1 + i % 60, i * 37),
                "model_version": "2.0",
                "input_sha256": h(f"eval-{i}"),
                "metrics": {"roc_auc": auc, "ks": f"{0.40 + (i % 9) * 0.01:.4f}"},
                "checks": [
                    {"metric": "roc_auc", "comparator": ">=", "threshold": 0.75, "value": auc, "passed": auc >= 0.75},
                    {
                        "metric": "ks",
                        "comparator": ">=",
                        "threshold": "0.30",
                        "value": f"{0.40 + (i % 9) * 0.01:.4f}",
                        "passed": True,
                    },
                ],
                "libraries": libs,
            }
        )
    return out


def audit_events(count: int = 40) -> list[dict]:
    actions = [
        "model.registered",
        "version.registered",
        "evaluation.recorded",
        "approval.requested",
        "approval.signed",
        "override.recorded",
        "stage.transitioned",
        "prediction.batch",
        "report.generated",
        "access.granted",
    ]
    actors = [
        "jonas.weber@bank.example",
        "maria.rossi@bank.example",
        "claire.dubois@bank.example",
        "svc-scoring-pipeline",
        "thomas.klein@bank.example",
    ]
    return [
        {
            "seq": i,
            "ts": ts(1 + (i * 59) // max(count, 1), i * 131),
            "actor": actors[i % len(actors)],
            "action": actions[i % len(actions)],
            "object": f"model:german-credit-scorecard/v{1 + (i % 2)}.0#{i}",
            "leaf_hash": leaf(i),
        }
        for i in range(count)
    ]  # seq is 0-based, as in the log


def oversight_record() -> dict:
    """``pack["oversight"]``: two validations, findings in every state (one overdue, one risk acceptance
    expired), the challenges they and an override raised, and two incidents (one overdue)."""
    long = "The challenger model's out-of-time Gini on the 2025 vintage is materially lower than the champion's " * 2
    findings = [
        {
            "id": f"FND-{i}",
            "validation": "VAL-1" if i < 3 else "VAL-2",
            "severity": severity,
            "description": long if i == 2 else f"Finding {i}: {severity} issue in the scorecard's calibration.",
            "owner": "Dana Developer (dana.developer)",
            "raised_by": "Victor Validator (victor.validator)",
            "raised_at": ts(10 + i),
            "due_date": "2026-03-01" if i == 2 else "2026-09-30",
            "status": status,
            "unresolved": status != "closed",
            "overdue": i == 2,
            "evidence": ["audit seq 1234567", "audit seq 1234568"],
            "answer": None if status == "open" else f"Answer to finding {i}: recalibrated on the 2025 vintage. " * 3,
            "answered_by": None if status == "open" else "victor.validator",
            "answered_at": None if status == "open" else ts(20 + i),
            "history": [],
        }
        for i, (severity, status) in enumerate(
            [
                ("high", "closed"),
                ("high", "open"),
                ("medium", "remediation proposed"),
                ("low", "risk accepted until 2026-01-31 (EXPIRED: unresolved again)"),
            ],
            start=1,
        )
    ]
    challenges = [
        {
            "at": f["raised_at"],
            "kind": "finding",
            "ref": f["id"],
            "challenger": f["raised_by"],
            "challenge": f"{f['severity']} finding: {f['description']}",
            "answer": f"{f['status']}: {f['answer']}" if f["answer"] else f"no answer yet ({f['status']})",
            "answered_by": f["answered_by"],
        }
        for f in findings
    ] + [
        {
            "at": ts(40),
            "kind": "gate override",
            "ref": "PR-12",
            "challenger": "the policy's gates",
            "challenge": "failing: disparate_impact_ratio, demographic_parity_difference, max_psi",
            "answer": "signed past the gate: " + long,
            "answered_by": "Rita Risk (rita.risk) (risk_officer)",
        },
        {
            "at": ts(41),
            "kind": "review flag",
            "ref": "RF-3",
            "challenger": "production monitoring (the policy's checks)",
            "challenge": "EV-0004 breaches the production policy",
            "breaches": [{"metric": "max_psi", "comparator": "<=", "threshold": 0.25, "value": 0.2722222222222222}],
            "answer": "open: not resolved yet",
            "answered_by": None,
        },
    ]
    schedules = [
        {
            "id": f"MS-{i}",
            "version": "2.1.0",
            "kind": kind,
            "cadence_days": 7 if kind == "performance" else 30,
            "grace_hours": 24,
            "starts_at": ts(1),
            "responsible": "credit-pipeline",
            "description": "Labelled outcomes of the previous month from the collections data warehouse, "
            "joined on the application id. " * (2 if i == 1 else 1),
            "status": "active" if i == 1 else "ended 2026-03-30T10:00:00.000000Z: replaced by the monthly check",
            "received": 1234567,
            "missed": 2,
            "next_due_at": ts(36),
            "periods": [
                {
                    "due_at": ts(1 + 7 * k),
                    "status": "missed" if k in (2, 4) else "received",
                    "evaluation": None if k in (2, 4) else f"EV-{1000 + k:04d}",
                }
                for k in range(1, 9)
            ],
            "missed_checks": [
                {"due_at": ts(15), "flagged_at": ts(16), "status": "OPEN", "open": True},
                {
                    "due_at": ts(29),
                    "flagged_at": ts(30),
                    "status": "resolved by rita.risk: the warehouse load failed; rerun and posted late. " * 2,
                    "open": False,
                },
            ],
        }
        for i, kind in ((1, "performance"), (2, "drift"))
    ]
    plan = {
        "revision": 3,
        "updated_at": ts(20),
        "updated_by": "rita.risk",
        "narrative": {
            "monitored": "Approval rate, default rate by vintage, population stability of every input, "
            "disparate impact by sex and age band. " * 2,
            "data_collection": "Monthly extract of decisions and outcomes from the collections warehouse.",
            "responsibilities": "Model owner reviews monthly; the risk officer escalates breaches to the committee.",
            "thresholds": "PSI above 0.25 on any input, AUC below 0.70, disparate impact below 0.80.",
            "review_cadence": "Annually, and after every material change.",
        },
        "schedules": schedules,
    }
    return {
        "monitoring": schedules,
        "pmm_plan": plan,
        "as_of_date": "2026-04-02",
        "revalidation": {
            "interval_months": 12,
            "interval_source": "tier 1 default",
            "last_validated": "2026-03-18",
            "next_due": "2027-03-18",
            "status": "due in 350 day(s)",
            "flags": [{"raised_at": ts(5), "due_on": "2026-03-01", "resolution": "validation 2 completed"}],
        },
        "validations": [
            {
                "id": f"VAL-{i}",
                "scope": long if i == 2 else "Initial validation: conceptual soundness and outcomes analysis.",
                "validator": "Victor Validator (victor.validator)",
                "started_on": "2026-02-01",
                "completed_on": "2026-03-18" if i == 1 else None,
                "conclusion": "fit with conditions" if i == 1 else "in progress",
                "summary": "Fit for use provided the age-band disparity is monitored monthly." if i == 1 else None,
                "findings": [f["id"] for f in findings if f["validation"] == f"VAL-{i}"],
            }
            for i in (1, 2)
        ],
        "findings": findings,
        "open_findings": {"high": 1, "medium": 1, "low": 1},
        "overdue_findings": ["FND-2"],
        "challenges": challenges,
        "incidents": [
            {
                "id": f"INC-{i}",
                "description": long,
                "occurred_at": ts(30),
                "aware_at": ts(31),
                "category": "general",
                "rule": "Art. 73(2): 15 days after awareness",
                "reporting_deadline": ts(46),
                "affected_persons": "About 120 credit applicants at the Northern branch.",
                "causal_link": "The scorecard scored a defaulted feature value; refusals followed its scores.",
                "recorded_by": "Rita Risk (rita.risk)",
                "status": "reported on time" if i == 1 else "OVERDUE",
                "reports": [
                    {
                        "kind": "initial",
                        "submitted_at": ts(33),
                        "authority": "Bundesnetzagentur market surveillance authority",
                        "reference": "MSA-2026-000123",
                        "recorded_by": "rita.risk",
                    }
                ]
                if i == 1
                else [],
            }
            for i in (1, 2)
        ],
    }


def make_pack(
    regime: str = "sr11-7", *, n_evaluations: int = 6, n_audit: int = 40, as_of_seq: int | None = None
) -> dict:
    outline = load_outline(regime)
    seq = as_of_seq if as_of_seq is not None else n_audit - 1
    model = {
        "model_id": "mdl-7f3a",
        "name": "German Credit Scorecard",
        "purpose": "Estimate the probability of default of consumer credit applicants to support "
        "credit decisions for unsecured instalment loans.",
        "owner": "ulrike.schmidt@bank.example",
        "owner_contact": "retail-credit-risk@bank.example",
        "developer": "jonas.weber@bank.example",
        "business_unit": "Retail Credit Risk",
        "products": ["Unsecured instalment loans", "Overdraft limit increases"],
        "usage": "Scores every new application (about 4,000 a month); decisions above 0.35 PD are referred.",
        "restrictions": "Not for small-business lending; not for applicants under 18.",
        "inputs": "Application form data and credit bureau attributes (20 features)",
        "outputs": "Probability of default (0-1) and a reason-code list, consumed by the loan origination system",
        "upstream_models": ["bureau-score-v7 (vendor)"],
        "consumers": ["Loan origination system"],
        "out_of_scope_use": "Pricing, collections, marketing",
        "eu_ai_act": {
            "category": "high-risk",
            "annex_iii_area": "5. Access to essential private services",
            "annex_iii_point": "5(b) creditworthiness of natural persons",
        },
        "sr11_7_tier": "Tier 1",
        "status": "in production",
        "last_validated": "2026-03-18",
        "next_review": "2027-03-18",
        "validity_horizon": "12 months",
        "monitoring_cadence": "monthly PSI and quarterly back-test",
        "licence": "Proprietary",
    }
    version = {
        "version": "2.0",
        "stage": "production",
        "registered_by": "jonas.weber@bank.example",
        "registered_at": ts(3, 40000),
        "description": "Gradient-boosted scorecard, monotone constraints.",
        "change_summary": "Retrained on 2019-2024 data; added savings_status monotone constraint.",
        "architecture": "Gradient-boosted trees (scikit-learn HistGradientBoostingClassifier), 300 iterations",
        "compute": "8 vCPU, 32 GB RAM, 14 minutes training",
        "input_format": "JSON record, 20 fields",
        "output_format": "JSON {pd: float, reasons: [str]}",
        "integrations": ["Loan origination system REST API"],
        "distribution_forms": ["internal REST API"],
        "runtime_hardware": "Kubernetes, x86-64 CPU nodes",
        "lineage": {
            "artifact_uri": "s3://mlgov-artifacts/german-credit-scorecard/2.0/model.skops",
            "artifact_sha256": h("artifact-2.0"),
            "training_data_ref": "s3://mlgov-data/german-credit/train-2019-2024.parquet",
            "training_data_sha256": h("train"),
            "code_commit": "9c1f2e7b4a0d3c8e6f5a1b2c3d4e5f60718293a4",
            "framework": "scikit-learn 1.5.2",
            "parameters": {
                "learning_rate": 0.05,
                "max_iter": 300,
                "max_depth": 4,
                "l2_regularization": "0.10",
                "monotonic_cst": "duration:+1, savings_status:-1",
            },
        },
        "dependencies": [
            {
                "name": "scikit-learn",
                "version": "1.5.2",
                "kind": "library",
                "source": "PyPI",
                "licence": "BSD-3-Clause",
            },
            {
                "name": "bureau-score-v7",
                "version": "7.3",
                "kind": "vendor model",
                "source": "Credit bureau",
                "licence": "Commercial",
            },
        ],
    }
    approvals = [
        {
            "request_id": "REQ-0107",
            "target_stage": "staging",
            "approver": "maria.rossi@bank.example",
            "role": "validator",
            "signed_at": ts(14, 36000),
            "decision": "approve",
            "justification": "Independent validation complete; all blocking checks pass.",
            "signature_meaning": "I have validated this model version",
            "override_justification": None,
            "invalidated": False,
        },
        {
            "request_id": "REQ-0112",
            "target_stage": "production",
            "approver": "maria.rossi@bank.example",
            "role": "validator",
            "signed_at": ts(26, 30000),
            "decision": "approve",
            "justification": "Back-test within expected range.",
            "signature_meaning": "I have validated this model version",
            "override_justification": None,
            "invalidated": False,
        },
        {
            "request_id": "REQ-0112",
            "target_stage": "production",
            "approver": "claire.dubois@bank.example",
            "role": "risk_officer",
            "signed_at": ts(26, 40000),
            "decision": "approve",
            "justification": "Accepted with monthly drift monitoring.",
            "signature_meaning": "I accept the residual model risk",
            "override_justification": "PSI on duration (0.2731) exceeds the 0.25 policy limit; driven by a "
            "product change in loan terms, reviewed with the business. Approved "
            "for 90 days with weekly monitoring.",
            "invalidated": False,
        },
        {
            "request_id": "REQ-0098",
            "target_stage": "staging",
            "approver": "thomas.klein@bank.example",
            "role": "validator",
            "signed_at": ts(9, 1000),
            "decision": "approve",
            "justification": "Superseded by re-training.",
            "signature_meaning": "I have validated this model version",
            "override_justification": None,
            "invalidated": True,
        },
    ]
    stage_history = [
        {
            "from": "development",
            "to": "staging",
            "at": ts(14, 40000),
            "request_id": "REQ-0107",
            "approvers": ["maria.rossi@bank.example"],
            "rollback": False,
        },
        {
            "from": "staging",
            "to": "production",
            "at": ts(26, 50000),
            "request_id": "REQ-0112",
            "approvers": ["maria.rossi@bank.example", "claire.dubois@bank.example"],
            "rollback": False,
        },
    ]
    datasets = [
        {
            "name": "german-credit-train-2019-2024",
            "role": "training",
            "source": "Core banking extract",
            "uri": "s3://mlgov-data/german-credit/train-2019-2024.parquet",
            "sha256": h("train"),
            "rows": 1000,
            "features": FEATURES,
            "label": "default within 12 months",
            "time_window": {"start": "2019-01-01", "end": "2024-12-31"},
            "selection": "All closed instalment loans with 12-month outcome",
            "labelling": "90+ days past due",
            "preprocessing": ["drop test applications", "cap credit_amount at 99th percentile"],
            "sensitive_attributes": ["sex (derived from personal_status)", "age"],
            "licence": "internal",
        },
        {
            "name": "german-credit-holdout-2025Q4",
            "role": "test",
            "source": "Core banking extract",
            "uri": "s3://mlgov-data/german-credit/holdout-2025Q4.parquet",
            "sha256": h("holdout"),
            "rows": 1000,
            "features": FEATURES,
            "label": "default within 12 months",
            "time_window": {"start": "2025-10-01", "end": "2025-12-31"},
            "selection": "Random 20% holdout",
            "labelling": "90+ days past due",
            "preprocessing": ["same as training"],
            "sensitive_attributes": ["sex (derived from personal_status)", "age"],
            "licence": "internal",
        },
    ]
    pack = {
        "regime": regime,
        "outline_version": outline["outline_version"],
        "as_of": {"seq": seq, "ts": "2026-04-02T09:30:00.000000Z"},
        "generator": {"name": "mlgov", "version": "0.1.0"},
        "regulatory_text": outline["regulatory_text"],
        "applicable_date": (
            "Annex III obligations: 2 August 2026 under Art. 113; a postponement to "
            "2 December 2027 (Digital Omnibus) is reported but unverified"
            if regime == "eu-ai-act"
            else None
        ),
        "organisation": {
            "name": "Example Bank",
            "legal_name": "Example Bank AG",
            "address": "Hauptstrasse 1, 60311 Frankfurt am Main, Germany",
            "contact": "model-governance@bank.example",
            "notified_body": None,
        },
        "model": model,
        "version": version,
        "version_history": [
            {
                "version": "1.0",
                "stage": "retired",
                "registered_at": "2025-02-11T10:00:00.000000Z",
                "registered_by": "jonas.weber@bank.example",
                "artifact_sha256": h("artifact-1.0"),
                "change_summary": "Initial logistic scorecard.",
            },
            {
                "version": "2.0",
                "stage": "production",
                "registered_at": version["registered_at"],
                "registered_by": "jonas.weber@bank.example",
                "artifact_sha256": h("artifact-2.0"),
                "change_summary": version["change_summary"],
            },
        ],
        "narratives": narrative_texts(regime),
        "evaluations": evaluations(n_evaluations),
        "approvals": approvals,
        "stage_history": stage_history,
        "policy": {
            "name": "Retail credit model policy",
            "version": "4",
            "applied_at": ts(26, 29000),
            "required_approvals": ["validator", "risk_officer"],
            "checks": [
                {
                    "id": "perf-auc",
                    "kind": "performance",
                    "metric": "roc_auc",
                    "comparator": ">=",
                    "threshold": 0.75,
                    "blocking": True,
                },
                {
                    "id": "fair-dpr",
                    "kind": "fairness",
                    "metric": "demographic_parity_ratio",
                    "comparator": ">=",
                    "threshold": 0.8,
                    "blocking": True,
                },
                {
                    "id": "drift-psi",
                    "kind": "drift",
                    "metric": "max_psi",
                    "comparator": "<=",
                    "threshold": 0.25,
                    "blocking": False,
                },
            ],
        },
        "risks": [
            {
                "hazard": "Indirect age discrimination",
                "affected_group": "Applicants under 25",
                "likelihood": "medium",
                "severity": "high",
                "measure": "Monotone constraints; fairness checks",
                "residual": "low",
                "owner": "claire.dubois@bank.example",
            }
        ],
        "oversight": oversight_record(),
        "retention": {
            "storage_location": "s3://mlgov-packs (object lock)",
            "retain_until": "2036-04-02",
            "rule": "10 years after placing on the market (Art. 18(1))",
        },
        "audit_events": audit_events(n_audit),
        "checkpoint": {
            "origin": "mlgov.bank.example/log",
            "size": n_audit,
            "root": base64.b64encode(hashlib.sha256(f"root-{n_audit}".encode()).digest()).decode(),
            "note": f"mlgov.bank.example/log\n{n_audit}\n"
            + base64.b64encode(hashlib.sha256(f"root-{n_audit}".encode()).digest()).decode(),
        },
        "datasets": datasets,
    }
    add_curves(pack)
    pack["pack_id"] = derive_pack_id(regime, pack["outline_version"], model["model_id"], version["version"], seq)
    return pack


def roc_points(n: int = 60) -> dict:
    """A smooth concave ROC curve with ``n`` points (17-digit floats, as the kernel stores them)."""
    fpr = [i / (n - 1) for i in range(n)]
    tpr = [min(1.0, x**0.35) for x in fpr]
    return {"fpr": fpr, "tpr": tpr, "n_points": n, "n_vertices": 914, "exact": False, "max_points": 201}


def calibration_bins() -> list[dict]:
    bins = []
    for i in range(10):
        count = 0 if i == 9 else 120 + 37 * i
        mean = (i + 0.5) / 10 + 0.01234567891234
        bins.append(
            {
                "lower": i / 10,
                "upper": (i + 1) / 10,
                "count": count,
                "mean_score": mean if count else None,
                "observed_rate": min(1.0, mean * 1.1 - 0.03) if count else None,
            }
        )
    return bins


def add_curves(pack: dict, *, versions: int = 4) -> None:
    """The chart data the snapshot adds: ROC and calibration on the first performance evaluation,
    and the trend of every checked metric of the evaluations across ``versions`` versions."""
    for ev in pack["evaluations"]:
        if ev["kind"] == "performance":
            ev["roc_curve"] = roc_points()
            ev["calibration"] = calibration_bins()
            break
    labels = [f"1.{i}.0" for i in range(versions - 1)] + [pack["version"]["version"]]
    metrics = []
    for ev in pack["evaluations"][:3]:
        for chk in ev.get("checks") or []:
            base = float(chk["value"])
            points = []
            for i, label in enumerate(labels):
                points.append(
                    {
                        "version": label,
                        "source": "computed",
                        "value": base * (0.9 + 0.1 * i / versions) + 1e-13,
                        "evaluation": f"EV-{i + 1:04d}",
                        "at": ts(i + 1),
                    }
                )
                if i % 2:
                    points.append({**points[-1], "source": "reported", "value": base * 1.05})
            metrics.append(
                {
                    "kind": ev["kind"],
                    "metric": chk["metric"],
                    "comparator": chk["comparator"],
                    "threshold": chk["threshold"],
                    "source": None,
                    "points": points,
                }
            )
    pack["metric_trends"] = {
        "rule_source": "policy tier_1 -> production version 3",
        "versions": labels,
        "metrics": metrics,
    }


def variant(pack: dict, *, evaluations: bool = True, approvals: bool = True, narratives: bool = True) -> dict:
    out = copy.deepcopy(pack)
    if not evaluations:
        out["evaluations"] = []
        out["metric_trends"] = {**out["metric_trends"], "metrics": []}
    if not approvals:
        out["approvals"] = []
        out["stage_history"] = []
    if not narratives:
        out["narratives"] = {}
    return out


def worst_case(pack: dict, *, groups: int = 40, features: int = 60) -> dict:
    """The layout's worst cases in one pack: ``groups`` fairness groups with long names and
    17-digit rates, ``features`` drift features of every method, 10-digit counts, long warnings."""
    pack = copy.deepcopy(pack)
    rates = ("selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy")
    by_group = []
    for i in range(groups):
        label = f"region_of_residence_and_employment_category={'very-long-group-name-' * 2}{i:02d}"
        by_group.append(
            {
                "attribute": "region_of_residence_and_employment_category",
                "group": label,
                "n": 1234567890 + i if i % 3 else 12 + i,
                "metrics": {k: (i + 1) / (groups + 7) + j / 3000 for j, k in enumerate(rates)},
                "warnings": [f"group has {12 + i} rows, fewer than min_group_size (30); its rates are unreliable"]
                if i % 3 == 0
                else [],
            }
        )
    methods = (
        ("ks", "ks_statistic", "p_value", 0.05),
        ("chi2", "chi2_statistic", "p_value", 0.05),
        ("wasserstein_normalized", "wasserstein_normalized", "statistic", 0.1),
        ("jensen_shannon", "js_distance", "statistic", 0.1),
    )
    feats = []
    for i in range(features):
        method, stat_name, decided_by, thr = methods[i % 4]
        stat = 0.7391304347826086 * ((i % 7) + 1) / 7
        p = None if decided_by == "statistic" else (1e-9 if i % 5 == 0 else 0.3244444444444444 / (i + 1))
        drifted = (p is not None and p < thr) or (p is None and stat > thr)
        feats.append(
            {
                "feature": f"applicant_feature_with_a_rather_long_descriptive_name_{i:02d}",
                "type": "numeric" if method in ("ks", "wasserstein_normalized") else "categorical",
                "method": method,
                "statistic_name": stat_name,
                "statistic": stat,
                "p_value": p,
                "decided_by": decided_by,
                "comparator": "<" if decided_by == "p_value" else ">",
                "threshold": thr,
                "drifted": drifted,
                "psi": stat / 3,
                "n_reference": 1234567890,
                "n_current": 9876543210,
            }
        )
    for ev in pack["evaluations"]:
        if ev["kind"] == "fairness":
            ev["by_group"] = by_group
            ev["warnings"] = [
                {"code": "small_group", "message": w, "group": g["group"], "count": g["n"]}
                for g in by_group
                for w in g["warnings"]
            ]
            ev["metrics"]["demographic_parity_difference"] = 0.3244444444444444
            ev["input_rows"] = 9876543210
        if ev["kind"] == "drift":
            ev["features"] = feats
            ev["metrics"].update({"n_features": features, "drift_share": 0.7391304347826086})
    for d in pack.get("datasets") or []:
        d["rows"] = 9876543210
    return pack

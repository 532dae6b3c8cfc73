"""The ongoing model risk management blocks (issue 17): validation history with findings, monitoring
schedules with missed checks, the effective-challenge record, the post-market monitoring plan and the
incident register are printed from ``pack["oversight"]``; without a schedule or a plan the pack says NOT
PROVIDED and who must provide it; no layout defect."""

from __future__ import annotations

import layout
import reports_pack_factory as factory
from conftest import render

from governance.reports import numbers


def test_sr11_7_prints_validations_findings_monitoring_and_challenges(full):
    if full.pack["regime"] != "sr11-7":
        return
    text = full.text
    for expected in (
        "Revalidation schedule",
        "12 months (tier 1 default)",
        "2027-03-18",
        "VAL-1",
        "fit with conditions",
        "4 finding(s); unresolved: 1 high, 1 medium, 1 low; overdue on 2026-04-02: FND-2.",
        "OVERDUE",
        "risk accepted until 2026-01-31 (EXPIRED: unresolved again)",
        "Effective-challenge record",
        "6 challenge(s): 4 finding(s), 1 gate override(s), 1 review flag(s).",
        "max_psi = 0.2722 (threshold <= 0.25)",
        "signed past the gate",
        "2 monitoring schedule(s) of this version; 4 scheduled check(s) missed, 2 missed-check flag(s) open",
        "performance every 7 day(s), 24 h grace",
        "1,234,567 / 2",
        "MS-1: latest checks",
        "resolved by rita.risk: the warehouse load failed",
    ):
        assert expected in text, expected
    assert layout.problems(full.path, max_digits=numbers.digits()) == []


def test_eu_prints_the_incident_register_and_the_plan_gap(full):
    if full.pack["regime"] != "eu-ai-act":
        return
    text = full.text
    for expected in (
        "Serious-incident register (Art. 73)",
        "2 serious incident(s) of this version.",
        "Art. 73(2): 15 days after awareness",
        "reported on time",
        "initial 2026-04-05",
        "MSA-2026-000123",
        "Post-market monitoring plan (recorded)",
        "3, written 2026-03-20",
        "PSI above 0.25 on any input, AUC below 0.70, disparate impact below 0.80.",
        "Monitoring schedules carrying out the plan",
        "replaced by the monthly check",
    ):
        assert expected in text, expected
    assert layout.problems(full.path, max_digits=numbers.digits()) == []


def test_an_empty_oversight_record_says_so(tmp_path_factory):
    for regime in ("sr11-7", "eu-ai-act"):
        pack = factory.make_pack(regime)
        pack["oversight"] = {}
        rendered = render(tmp_path_factory, pack, f"no-oversight-{regime}")
        if regime == "sr11-7":
            assert "No validation of this version is recorded in this service." in rendered.text
            assert "No validation findings are recorded in this service for this version." in rendered.text
            assert "NOT PROVIDED: monitoring schedule of this version, its results and missed checks" in rendered.text
            assert "Who must provide it: a risk officer or validator (sets the schedule)" in rendered.text
        else:
            assert "No serious incident of this version is recorded in this service." in rendered.text
            assert "NOT PROVIDED: post-market monitoring plan record of this system" in rendered.text
            assert "Who must provide it: the risk officer, for each high-risk model" in rendered.text


def test_a_system_that_is_not_high_risk_needs_no_plan(tmp_path_factory):
    pack = factory.make_pack("eu-ai-act")
    pack["model"]["eu_ai_act"]["category"] = "limited"
    pack["oversight"] = {}
    text = render(tmp_path_factory, pack, "limited-no-plan").text
    assert "No plan is recorded. A post-market monitoring plan is kept for high-risk systems (Art. 72); this " in text
    assert "NOT PROVIDED: post-market monitoring plan record" not in text


def test_the_inventory_report_pdf_lays_out_many_long_rows(tmp_path):
    """60 models with long names and texts, large counts: no layout defect, pages numbered "k of n"."""
    from governance.reports.inventory import COLUMNS, render_inventory_pdf

    rows = []
    for i in range(60):
        row = {
            c: 1234567 if c.startswith(("open_", "review_", "overrides", "incidents", "missed", "overdue")) else ""
            for c in COLUMNS
        }
        row.update(
            {
                "model": f"retail-credit-application-scorecard-with-a-long-name-{i:02d}",
                "title": "Probability of default at application, unsecured consumer lending " * 2,
                "risk_tier": "tier_1",
                "eu_ai_act_category": "high",
                "stage": "production",
                "version": f"{i}.10.100",
                "last_validation": "2026-03-18",
                "last_conclusion": "fit with conditions",
                "next_validation_due": "2027-03-18",
                "validation_status": "OVERDUE by 1234 day(s)",
                "revalidation_flags_open": 1,
            }
        )
        rows.append(row)
    document = {
        "format": "mlgov.inventory/v1",
        "report_id": "inv-0123456789abcdef0123",
        "title": "Model inventory report for the model risk committee",
        "as_of": {"date": "2026-11-29", "seq": 1234567, "ts": "2026-11-29T23:59:59.999999Z"},
        "period": {"start": "2026-08-31", "end": "2026-11-29"},
        "generator": {"name": "mlgov", "version": "0.1.0"},
        "organisation": "Example Bank plc",
        "columns": list(COLUMNS),
        "models": rows,
        "totals": {"models": 60},
        "overrides": [
            {
                "model": rows[0]["model"],
                "version": "1.0.0",
                "request": "PR-123456",
                "approver": "rita.risk",
                "role": "risk_officer",
                "signed_at": "2026-11-01T10:00:00.000000Z",
                "overridden_checks": "disparate_impact_ratio, demographic_parity_difference",
                "justification": "Compensating control: manual review of every refusal in the affected band. " * 3,
            }
        ],
        "incidents": [
            {
                "model": rows[1]["model"],
                "version": "1.0.0",
                "id": "INC-123456",
                "aware_at": "2026-11-20T09:00:00.000000Z",
                "rule": "Art. 73(3): 2 days after awareness",
                "reporting_deadline": "2026-11-22T09:00:00.000000Z",
                "status": "OVERDUE",
            }
        ],
    }
    path = tmp_path / "inventory.pdf"
    render_inventory_pdf(document, path)
    assert layout.problems(str(path), max_digits=numbers.digits()) == []
    from pypdf import PdfReader

    pages = PdfReader(str(path)).pages
    assert len(pages) > 2 and f"Page {len(pages)} of {len(pages)}" in pages[-1].extract_text()

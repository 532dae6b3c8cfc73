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

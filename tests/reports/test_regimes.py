"""Issue 14: the packs say what the regulations say. The corrected statements are read back from
the demo's PDFs; the three regimes (SR 11-7, EU AI Act, PRA SS1/23) generate, verify offline and
regenerate byte-identically; the UK regime is data only."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from audit import checkpoints
from audit.verifier import parse_verifier_key, verify_evidence_bundle
from governance.reports.models import DocumentationPack
from governance.reports.outlines import REGIMES, available_regimes
from governance.reports.services import pack_generate
from tests.factories.accounts import ADMIN
from tests.reports.test_demo_packs import demo, generate, pdf_path, read  # noqa: F401

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

import layout  # noqa: E402  (tests/reports_core, put on the path by test_demo_packs)


def test_three_regimes_generate_verify_offline_and_regenerate_identically(demo, tmp_path):  # noqa: F811
    assert available_regimes() == ["eu-ai-act", "pra-ss1-23", "sr11-7"]
    keys = [parse_verifier_key(k) for k in checkpoints.public_keys()]
    v1 = demo["1.0.0"]
    for regime in available_regimes():
        pack = generate(v1, regime)
        assert pack.status == "done", pack.failure_reason
        assert verify_evidence_bundle(pack.bundle.path, keys).ok, regime
        again = DocumentationPack.objects.create(
            model_version=v1,
            regime=regime,
            as_of_seq=pack.as_of_seq,
            as_of_ts=pack.as_of_ts,
            requested_by=pack.requested_by,
            outline_version=pack.outline_version,
        )
        again = pack_generate(again.pk, by=ADMIN)
        assert again.pdf_sha256 == pack.pdf_sha256 and again.content_sha256 == pack.content_sha256, regime
        with zipfile.ZipFile(pack.bundle.path) as a, zipfile.ZipFile(again.bundle.path) as b:
            assert {n: a.read(n) for n in a.namelist()} == {n: b.read(n) for n in b.namelist()}, regime


def test_corrected_eu_statements(demo, tmp_path):  # noqa: F811
    pack = generate(demo["1.0.0"], "eu-ai-act")
    text, _pages = read(pack)
    rows = layout.table_rows(pdf_path(pack, tmp_path))
    cells = {row[0]: row[1] for row in rows if len(row) == 2}
    point = cells["Annex III point (derived from the area and the purpose)"]
    assert point.startswith("5(b): AI systems intended to be used to evaluate the creditworthiness of natural persons")
    assert cells["Derogation (Art. 6(3), last subparagraph)"].startswith("Not available")
    notified = [row[1] for row in rows if len(row) == 2 and row[0] == "Notified body"]
    assert notified and all(n.startswith("not applicable") for n in notified), notified
    procedures = [row[1] for row in rows if len(row) == 2 and row[0].startswith("Conformity-assessment procedure")]
    assert procedures and all(p == "Annex VI: conformity assessment based on internal control" for p in procedures)
    assert "Annex VI internal control or Annex VII" not in text
    assert "Art. 12(3)" not in text and "Art. 12(1)-(3)" not in text
    assert "holds none of them unless a deployment posts them" in text
    assert "Art. 17(1)(k)" in text
    for section in ("Instructions for use", "Human oversight measures", "Fundamental rights impact assessment"):
        assert section in text
    assert "NOT PROVIDED: Fundamental rights impact assessment" in text
    assert "Example Bank plc (demo)" in cells.get("Provider", "")


def test_corrected_sr11_7_statements(demo, tmp_path):  # noqa: F811
    pack = generate(demo["1.0.0"], "sr11-7")
    text, _pages = read(pack)
    rows = layout.table_rows(pdf_path(pack, tmp_path))
    assert "14 Internal audit" in text and "15 Governance event record" in text
    assert "9.2.1 Process verification" in text and "9.2.2 Benchmarking" in text
    assert "Ongoing monitoring: process verification and benchmarking" not in text
    assert "Out-of-time back-testing is not possible" in text
    assert "No validation findings are recorded for this version." not in text
    assert "Independence check passed" not in text and "passed: validators differ" not in text
    checks = [row[1] for row in rows if len(row) == 2 and row[0] == "Separation-of-accounts check"]
    assert checks and all(c.startswith("passed: no validator is the same user account") for c in checks)
    assert "Owner and developer" in {row[0] for row in rows if len(row) == 2}  # dana owns and developed it
    inputs = {row[0]: row[1] for row in rows if len(row) == 2 and row[0] in ("age_years", "duration_months")}
    assert inputs == {"age_years": "age", "duration_months": "no"}
    spec = {row[0]: row[1] for row in rows if len(row) == 2 and row[0] in ("intercept", "age_years")}
    assert spec.get("intercept") == "-1.654"
    assert "Fair lending (US): ECOA and Regulation B" in text
    # the SR 11-7 references are the 2011 letter's headings (issue 14)
    assert "SR 11-7 §V (2. Ongoing Monitoring: process verification)" in text
    assert "SR 11-7 §V (Validation of Vendor and Other Third-Party Products)" in text
    assert "element 1" not in text and "prompt remedial action" not in text
    # the approver's words are kept, with the failing computed values beside them
    justifications = [row[-1] for row in rows if len(row) == 6 and row[0].startswith("PR-")]
    assert justifications
    assert all("Note: the computed value fails its threshold for" in j for j in justifications if "threshold" in j)


def test_the_uk_regime_is_data_and_the_api_accepts_it(demo, api_for, django_capture_on_commit_callbacks):  # noqa: F811
    from governance.accounts.models import User

    assert REGIMES["pra-ss1-23"] == "pra_ss1_23.json"
    client = api_for(User.objects.get(username="alex.auditor"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/reports/", {"model_version": demo["1.0.0"].pk, "regime": "pra-ss1-23"}, format="json"
        )
    assert response.status_code == 202, response.json()
    job = DocumentationPack.objects.get(pk=response.json()["id"])
    assert job.status == "done" and job.regime == "pra-ss1-23"
    text, _pages = read(job)
    for principle in (
        "Model tiering (model risk classification)",
        "Board and senior management oversight",
        "Model development testing",
        "Independent validation function and independent review",
        "Restrictions on model use",
        # the sub-principles are cited by their titles in the supervisory statement (issue 14)
        "PRA SS1/23 Principle 4.1 (The independent validation function); Principle 4.2 (Independent review)",
        "PRA SS1/23 Principle 5.1 (Process for applying post-model adjustments)",
    ):
        assert principle in text
    assert "paraphrased" not in text


def test_per_group_intervals_are_printed_beside_the_rates(demo, tmp_path):  # noqa: F811
    """Issue 14: each group's rate with its 95% interval (Wilson) and the ratio with its seeded bootstrap
    interval, as stored in the evaluation's result."""
    from governance.evaluations.models import Evaluation
    from governance.reports import numbers

    pack = generate(demo["1.0.0"], "sr11-7")
    text, _pages = read(pack)
    rows = layout.table_rows(pdf_path(pack, tmp_path))
    evaluation = Evaluation.objects.filter(model_version=demo["1.0.0"], kind="fairness", source="computed").first()
    assert evaluation is not None and evaluation.result.get("metric_intervals")
    assert "95% confidence intervals. Rates: Wilson score interval on the group's counts" in text
    printed = {row[0]: row[2] for row in rows if len(row) == 5 and "to" in row[2]}
    for group in evaluation.result["by_group"]:
        if group["overall"]:
            continue
        low, high = group["intervals"]["favourable_rate"]
        label = ", ".join(f"{k}={v}" for k, v in sorted(group["group"].items()))
        match = [v for k, v in printed.items() if k.replace(" ", "") == label.replace(" ", "")]
        assert match == [f"{numbers.measured(low)} to {numbers.measured(high)}"], (label, printed)
    low, high = evaluation.result["metric_intervals"]["disparate_impact_ratio"]
    assert f"95% interval {numbers.measured(low)} to {numbers.measured(high)}" in text
    assert layout.problems(pdf_path(pack, tmp_path)) == []
    # the demo seeds the regimes governing the model; the summary prints them
    governing = [row[1] for row in rows if len(row) == 2 and row[0] == "Governing regimes"]
    assert governing and set(governing) == {"sr11-7, eu-ai-act, pra-ss1-23"}

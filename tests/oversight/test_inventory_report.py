"""The inventory-level report for model risk committees (issue 17, item 7): every model with tier, EU AI
Act category, stage, last and next validation, open findings by severity, review flags, overrides and
incidents in the period; PDF and CSV in a signed bundle that verifies offline; the same as-of gives the
same bytes after the record moves on; bad input refused with the field named and audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from audit import checkpoints
from audit.verifier import parse_verifier_key, verify_evidence_bundle
from governance.common.errors import PermissionRefused
from governance.oversight import services
from governance.reports import numbers
from governance.reports.inventory import COLUMNS, inventory_report_generate
from tests.factories.accounts import as_user
from tests.factories.registry import model_version, registered_model
from tests.oversight.conftest import events, last_event

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports_core"))
import layout

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory(production, developer, validator, risk_officer):
    """The production tier-1 model validated with a high open finding and an incident, and a second,
    tier-3 model still in development."""
    validation = services.validation_start(by=as_user(validator), version=production, scope="Annual.")
    finding = services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="high",
        description="Coefficients not reconciled.",
        owner=developer,
        due_date=dt.date.today() + dt.timedelta(days=10),
    )
    services.validation_complete(by=as_user(validator), validation=validation, conclusion="fit with conditions")
    services.serious_incident_record(
        by=as_user(risk_officer),
        version=production,
        description="Refusals after a feed fault.",
        aware_at=timezone.now() - dt.timedelta(hours=5),
        affected_persons="Applicants.",
        causal_link="Scores.",
    )
    other = registered_model(name="aaa-collections", owner=developer, risk_tier="tier_3", eu_ai_act_category="minimal")
    model_version(model=other, user=developer)
    return {"version": production, "finding": finding}


def _rows(report) -> list[dict]:
    return list(csv.DictReader(io.StringIO(report.csv.decode())))


def test_every_model_with_its_oversight_state_in_csv_and_pdf(inventory, risk_officer, tmp_path):
    version = inventory["version"]
    report = inventory_report_generate(by=as_user(risk_officer))
    rows = _rows(report)
    assert list(rows[0]) == list(COLUMNS)
    assert [r["model"] for r in rows] == ["aaa-collections", version.model.name]
    other, main = rows
    assert (other["risk_tier"], other["eu_ai_act_category"], other["stage"]) == ("tier_3", "minimal", "development")
    assert other["last_validation"] == "" and other["open_findings_high"] == "0"
    today = dt.date.today()
    assert main["risk_tier"] == "tier_1" and main["eu_ai_act_category"] == "high"
    assert (main["stage"], main["version"]) == ("production", version.version)
    assert (main["last_validation"], main["last_conclusion"]) == (today.isoformat(), "fit with conditions")
    assert main["next_validation_due"] == today.replace(year=today.year + 1).isoformat()
    assert (main["open_findings_high"], main["open_findings_medium"], main["overdue_findings"]) == ("1", "0", "0")
    assert (main["incidents"], main["incidents_unreported"], main["overrides"]) == ("1", "1", "0")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report.pdf)
    assert layout.problems(str(pdf), max_digits=numbers.digits()) == []
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(str(pdf)).pages).split())
    assert "Model inventory report for the model risk committee" in text
    assert "2 model(s). Unresolved findings: 1 high, 0 medium, 0 low (0 overdue)." in text
    assert "Page 1 of 1" in text
    [event] = events("inventory_report.generate")
    assert event.record_json["data"]["bundle_sha256"] == report.sha256("bundle")
    assert event.record_json["data"]["models"] == 2


def test_the_bundle_verifies_offline_and_regenerates_identically(
    inventory, risk_officer, developer, validator, tmp_path
):
    moment = timezone.now()
    first = inventory_report_generate(by=as_user(risk_officer), now=moment)
    # the record moves on: the finding is closed, another report is generated, the log grows
    finding = inventory["finding"]
    services.finding_propose_remediation(by=as_user(developer), finding=finding, remediation="Reconciled.")
    services.finding_close(by=as_user(validator), finding=finding, note="Checked.")
    checkpoints.checkpoint_create()
    again = inventory_report_generate(by=as_user(risk_officer), now=moment)
    assert (again.seq, again.pdf, again.csv, again.bundle) == (first.seq, first.pdf, first.csv, first.bundle)
    latest = inventory_report_generate(by=as_user(risk_officer))
    assert _rows(latest)[1]["open_findings_high"] == "0" and latest.seq > first.seq
    path = tmp_path / "inventory.zip"
    path.write_bytes(first.bundle)
    keys = [parse_verifier_key(k) for k in checkpoints.public_keys()]
    assert verify_evidence_bundle(str(path), keys).ok
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert archive.read("report.csv") == first.csv and archive.read("report.pdf") == first.pdf
    assert {"report.pdf", "report.csv", "report.json", "manifest.json", "manifest.sig", "verifier.py"} <= names
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data.replace(b"tier_1", b"tier_3") if name == "report.csv" else data)
    result = verify_evidence_bundle(str(tampered), keys)
    assert not result.ok and result.bad_file == "report.csv"


def test_the_api_and_the_admin_page_serve_it(inventory, api_for, auditor, developer):
    api = api_for(auditor)
    bundle = api.get("/api/v1/reports/inventory/")
    assert bundle.status_code == 200 and bundle["Content-Type"] == "application/zip"
    assert bundle["Content-Disposition"].startswith('attachment; filename="inv-')
    as_csv = api.get("/api/v1/reports/inventory/?file=csv")
    assert as_csv.status_code == 200 and as_csv.content.startswith(b"model,title,risk_tier")
    assert api.get("/api/v1/reports/inventory?file=pdf").content.startswith(b"%PDF")
    assert api_for(developer).get("/api/v1/reports/inventory/").status_code == 403
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/reports/documentationpack/inventory/")
    assert page.status_code == 200 and b"Model inventory report" in page.content
    download = client.get(
        "/admin/reports/documentationpack/inventory/", {"as_of": dt.date.today().isoformat(), "file": "csv"}
    )
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"model,title")


@pytest.mark.parametrize(
    "query, field, reason",
    [
        ({"as_of": "2999-01-01"}, "as_of", "as_of: cannot be in the future"),
        ({"as_of": "yesterday"}, "as_of", "as_of: must be a date such as 2026-12-31"),
        ({"as_of": "2001-01-01"}, "as_of", "as_of: the audit log has no entry by the end of 2001-01-01"),
        ({"period_start": "2999-01-01"}, "period_start", "period_start: must be on or before as_of"),
        ({"period_start": "2001-01-01"}, "period_start", "period_start: the period is at most 1098 days"),
        ({"file": "xls"}, "file", "file: must be one of bundle, pdf, csv"),
        ({"as_of": "9" * 5000}, "as_of", "as_of: must be a date such as 2026-12-31"),
    ],
)
def test_bad_input_names_the_field_and_is_audited(inventory, api_for, risk_officer, query, field, reason):
    response = api_for(risk_officer).get("/api/v1/reports/inventory/", query)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [reason]}
    if field != "file":  # refused by the view before the service: not a service refusal
        assert last_event("inventory_report.generate.denied").record_json["data"]["field"] == field
    assert events("inventory_report.generate") == []


def test_a_developer_is_refused_by_the_service_too(inventory, developer):
    with pytest.raises(PermissionRefused):
        inventory_report_generate(by=as_user(developer))
    assert last_event("inventory_report.generate.denied") is not None

"""The packs print the ongoing model risk management record as of their audit seq (issue 17, item 6):
SR 11-7 validation history with findings and their status, monitoring schedules with missed checks and
the effective-challenge record; EU AI Act post-market monitoring plan and incident register. A pack
regenerated for the same seq is byte-identical after findings and missed checks move on, it cites the
oversight events, and its bundle verifies offline."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from pypdf import PdfReader

from audit import checkpoints
from audit.verifier import parse_verifier_key, verify_evidence_bundle
from governance.oversight import clock, services
from governance.reports.services import pack_generate, pack_request
from tests.factories.accounts import ADMIN, as_user, person

pytestmark = pytest.mark.django_db


def generate(version, regime, as_of=None):
    pack = pack_request(by=as_user(person("auditor")), version=version, regime=regime, as_of=as_of)
    return pack_generate(pack.pk, by=ADMIN)


def text(pack) -> str:
    with pack.pdf.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture
def record(production, developer, validator, risk_officer):
    today = clock.today()
    validation = services.validation_start(
        by=as_user(validator), version=production, scope="Annual revalidation.", started_on=today
    )
    high = services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="high",
        description="Coefficients not reconciled with the training run.",
        owner=developer,
        due_date=today + dt.timedelta(days=30),
    )
    services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="low",
        description="Monitoring report lacks the age band.",
        owner=developer,
        due_date=today - dt.timedelta(days=1),
    )
    services.validation_complete(by=as_user(validator), validation=validation, conclusion="fit with conditions")
    incident = services.serious_incident_record(
        by=as_user(risk_officer),
        version=production,
        description="Refusals after a data-feed fault.",
        aware_at=clock.now() - dt.timedelta(days=1),
        affected_persons="About 120 applicants.",
        causal_link="A defaulted feature value was scored.",
    )
    schedule = services.monitoring_schedule_create(
        by=as_user(risk_officer),
        version=production,
        kind="performance",
        cadence_days=7,
        grace_hours=24,
        starts_at=clock.now() - dt.timedelta(days=9),
        description="Weekly AUC on labelled applications.",
    )
    [missed] = services.missed_checks_flag(by=as_user(risk_officer))
    services.post_market_plan_set(
        by=as_user(risk_officer),
        model=production.model,
        monitored="Approval rate and AUC by vintage.",
        data_collection="Weekly labelled outcomes.",
        responsibilities="The model owner reviews; the risk officer escalates.",
        thresholds="AUC below 0.70 escalates to the committee.",
    )
    return {"version": production, "high": high, "incident": incident, "schedule": schedule, "missed": missed}


def test_sr11_7_pack_shows_findings_as_of_its_seq_and_regenerates_identically(
    record, developer, validator, risk_officer, tmp_path
):
    version, high = record["version"], record["high"]
    first = generate(version, "sr11-7")
    body = text(first)
    assert "Validations" in body and "fit with conditions" in body
    assert f"FND-{high.pk}" in body and "Coefficients not reconciled with the training run." in body
    assert "unresolved: 1 high, 0 medium, 1 low" in body
    assert "OVERDUE" in body  # the low finding is past its due date
    assert "Effective-challenge record" in body and "2 challenge(s): 2 finding(s)." in body
    schedule = record["schedule"]
    assert f"MS-{schedule.pk}" in body and "performance every 7 day(s), 24 h grace" in body
    assert "1 monitoring schedule(s) of this version; 1 scheduled check(s) missed, 1 missed-check flag(s) open" in body
    with zipfile.ZipFile(first.bundle.path) as archive:
        document = json.loads(archive.read("pack.json"))
    cited = {e["action"] for e in document["audit_events"]}
    assert {"validation.start", "validation.complete", "finding.create", "monitoring_check.missed"} <= cited
    assert document["model"]["last_validated"] == clock.today().isoformat()

    # the record moves on: the finding is remediated and closed after the pack's seq
    services.finding_propose_remediation(by=as_user(developer), finding=high, remediation="Reconciled.")
    services.finding_close(by=as_user(validator), finding=high, note="Checked.")
    services.missed_check_resolve(by=as_user(risk_officer), missed=record["missed"], resolution="Feed outage.")
    checkpoints.checkpoint_create()
    again = generate(version, "sr11-7", as_of=first.as_of_seq)
    assert (again.pdf_sha256, again.content_sha256, again.bundle_sha256) == (
        first.pdf_sha256,
        first.content_sha256,
        first.bundle_sha256,
    )
    latest = text(generate(version, "sr11-7"))
    assert "unresolved: 0 high, 0 medium, 1 low" in latest
    assert "closed: Checked." in latest
    assert "resolved by" in latest and "Feed outage." in latest

    keys = [parse_verifier_key(k) for k in checkpoints.public_keys()]
    assert verify_evidence_bundle(first.bundle.path, keys).ok


def test_eu_pack_prints_the_incident_register_with_its_deadline(record, risk_officer):
    incident = record["incident"]
    pack = generate(record["version"], "eu-ai-act")
    body = text(pack)
    assert f"INC-{incident.pk}" in body and "Refusals after a data-feed fault." in body
    assert "Art. 73(2): 15 days after awareness" in body
    assert "pending" in body
    assert "Post-market monitoring plan (recorded)" in body and "AUC below 0.70 escalates to the committee." in body
    assert "Monitoring schedules carrying out the plan" in body and "NOT PROVIDED: post-market" not in body
    services.serious_incident_report(
        by=as_user(risk_officer),
        incident=incident,
        kind="initial",
        submitted_at=clock.now(),
        authority="BaFin",
        summary="Initial report.",
    )
    after = text(generate(record["version"], "eu-ai-act"))
    assert "reported on time" in after and "BaFin" in after


@pytest.mark.django_db(transaction=True)  # PostgreSQL: the guard triggers are lifted outside a transaction
def test_a_long_plan_prints_whole_as_of_its_seq_and_regenerates_identically(record, risk_officer):
    """A plan text past the 2,000 characters its event carries is printed whole from its revision row:
    a pack as of the first revision keeps printing that revision after the plan is revised, byte for
    byte; a revision row edited behind the services is not printed as if it were the recorded text."""
    from django.db import connection

    from audit.state import verify_state
    from governance.oversight.models import PostMarketPlanRevision
    from tests.audit.helpers import disable_triggers, reinstall_triggers

    def narrative(pack) -> dict:
        with zipfile.ZipFile(pack.bundle.path) as archive:
            return json.loads(archive.read("pack.json"))["oversight"]["pmm_plan"]["narrative"]

    model = record["version"].model
    long = "Every week the drift of each feature is read against the reference sample. " * 60 + "First."
    services.post_market_plan_set(by=as_user(risk_officer), model=model, monitored=long, reason="Spelt out.")
    checkpoints.checkpoint_create()
    first = generate(record["version"], "eu-ai-act")
    assert len(long) > 4_000 and narrative(first)["monitored"] == long
    services.post_market_plan_set(by=as_user(risk_officer), model=model, monitored=long + " Second.", reason="More.")
    checkpoints.checkpoint_create()
    again = generate(record["version"], "eu-ai-act", as_of=first.as_of_seq)
    assert (again.pdf_sha256, again.content_sha256, again.bundle_sha256) == (
        first.pdf_sha256,
        first.content_sha256,
        first.bundle_sha256,
    )
    assert narrative(generate(record["version"], "eu-ai-act"))["monitored"] == long + " Second."
    assert verify_state().ok

    revision = PostMarketPlanRevision.objects.get(plan__model=model, revision=2)
    disable_triggers(governed=True)
    try:
        with connection.cursor() as cursor:  # a raw write as a database owner would make it
            cursor.execute(
                "UPDATE oversight_postmarketplanrevision SET monitored = %s WHERE id = %s",
                [long[:-6] + "Other.", revision.pk],
            )
    finally:
        reinstall_triggers()
    d = verify_state().divergence
    assert (d.table, d.row, d.field) == ("oversight_postmarketplanrevision", str(revision.pk), "monitored")
    shown = narrative(generate(record["version"], "eu-ai-act", as_of=first.as_of_seq))["monitored"]
    assert shown.startswith(long[:2000]) and "does not match the SHA-256 the audit log recorded" in shown

"""The policy gate: no promotion to production while a high validation finding is unresolved."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.common.errors import Conflict
from governance.oversight import services
from tests.factories import workflow as wf
from tests.factories.accounts import as_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staged_with_high_finding(version, developer, validator):
    wf.good_evidence(version)
    wf.approve(wf.request(version, developer, "staging"), validator)
    validation = services.validation_start(by=as_user(validator), version=version, scope="Pre-production.")
    finding = services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="high",
        description="Unstable on thin files.",
        owner=developer,
        due_date=dt.date.today() + dt.timedelta(days=20),
    )
    version.refresh_from_db()
    assert version.stage == "staging"
    return version, finding


def test_a_high_open_finding_blocks_production_and_its_closure_unblocks(
    staged_with_high_finding, developer, validator, risk_officer
):
    version, finding = staged_with_high_finding
    req = wf.request(version, developer, "production")
    assert req.gates_passed is False
    row = next(r for r in req.gate_results if r["kind"] == "finding")
    assert (row["metric"], row["value"], row["outcome"]) == ("open_high_findings", "1", "fail")
    with pytest.raises(Conflict) as exc:
        wf.approve(req, validator)
    assert "finding:open_high_findings" in exc.value.message
    services.finding_propose_remediation(by=as_user(developer), finding=finding, remediation="Retrained.")
    services.finding_close(by=as_user(validator), finding=finding, note="Verified on the thin-file sample.")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    req.refresh_from_db()
    version.refresh_from_db()
    assert req.status == "promoted" and version.stage == "production"
    assert not [r for r in req.gate_results if r["kind"] == "finding"]


def test_an_accepted_risk_does_not_block(staged_with_high_finding, developer, validator, risk_officer):
    version, finding = staged_with_high_finding
    services.finding_accept_risk(
        by=as_user(risk_officer),
        finding=finding,
        justification="Exposure capped by limits until the rebuild.",
        expires_on=dt.date.today() + dt.timedelta(days=60),
    )
    req = wf.request(version, developer, "production")
    assert req.gates_passed is True


def test_the_gate_can_be_switched_off(staged_with_high_finding, developer, settings):
    settings.OVERSIGHT_BLOCK_PRODUCTION_ON_OPEN_HIGH_FINDINGS = False
    version, _ = staged_with_high_finding
    assert wf.request(version, developer, "production").gates_passed is True


def test_staging_is_not_gated_by_findings(version, developer, validator):
    wf.good_evidence(version)
    validation = services.validation_start(by=as_user(validator), version=version, scope="Early.")
    services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="high",
        description="x",
        owner=developer,
        due_date=dt.date.today(),
    )
    assert wf.request(version, developer, "staging").gates_passed is True

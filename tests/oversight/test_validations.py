"""Validations and findings: independence, the finding life cycle, refusals audited and nothing half-written."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.common.errors import IllegalTransition, PermissionRefused, ValidationFailed
from governance.oversight import services
from governance.oversight.models import Finding, Validation
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person
from tests.oversight.conftest import events, last_event

pytestmark = pytest.mark.django_db


def _validation(version, validator, **extra):
    return services.validation_start(by=as_user(validator), version=version, scope="Full revalidation.", **extra)


def _finding(validation, validator, owner, severity="high", **extra):
    return services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity=severity,
        description="Calibration drifts on thin-file applicants.",
        owner=owner,
        due_date=dt.date.today() + dt.timedelta(days=30),
        **extra,
    )


def test_validation_start_and_complete_are_audited(version, validator):
    validation = _validation(version, validator)
    assert last_event("validation.start").actor_username == validator.username
    done = services.validation_complete(
        by=as_user(validator), validation=validation, conclusion="fit with conditions", summary="Two findings."
    )
    assert done.conclusion == "fit with conditions" and done.completed_on == dt.date.today()
    event = last_event("validation.complete")
    assert event.record_json["data"]["conclusion"] == "fit with conditions"


def test_a_validator_cannot_validate_a_model_they_developed(version, developer):
    developer_validator = person("developer", "validator")
    their_version = registry_factories.model_version(
        model=registry_factories.registered_model(owner=developer_validator), user=developer_validator
    )
    with pytest.raises(ValidationFailed) as exc:
        _validation(their_version, developer_validator)
    assert exc.value.field == "validator" and "independent" in exc.value.message
    assert not Validation.objects.exists()
    denied = last_event("validation.start.denied")
    assert denied.actor_username == developer_validator.username and denied.record_json["data"]["field"] == "validator"


def test_a_risk_officer_cannot_assign_the_developer_as_validator(version, developer, risk_officer):
    with pytest.raises(ValidationFailed) as exc:
        services.validation_start(by=as_user(risk_officer), version=version, scope="x", validator=developer)
    assert exc.value.field == "validator"
    assert not Validation.objects.exists()


def test_only_the_validator_completes(version, validator, second_validator):
    validation = _validation(version, validator)
    with pytest.raises(PermissionRefused):
        services.validation_complete(by=as_user(second_validator), validation=validation, conclusion="fit for use")
    with pytest.raises(ValidationFailed) as exc:
        services.validation_complete(by=as_user(validator), validation=validation, conclusion="fine")
    assert exc.value.field == "conclusion"
    validation.refresh_from_db()
    assert validation.completed_on is None
    assert len(events("validation.complete.denied")) == 2


def test_finding_life_cycle_open_proposed_closed(version, validator, developer):
    validation = _validation(version, validator)
    evaluation = wf.evaluation(version)
    seq = last_event("validation.start").seq
    finding = _finding(
        validation, validator, developer, evidence_evaluations=[evaluation.pk], evidence_audit_seqs=[seq]
    )
    assert finding.status == "open" and finding.evidence_audit_seqs == [seq]
    finding = services.finding_propose_remediation(by=as_user(developer), finding=finding, remediation="Recalibrate.")
    assert finding.status == "remediation proposed"
    finding = services.finding_close(by=as_user(validator), finding=finding, note="Recalibration verified.")
    assert finding.status == "closed" and finding.closed_by == validator
    assert [e.action for e in events("finding.close")] == ["finding.close"]


def test_a_finding_is_not_closed_by_its_owner(version, validator):
    validation = _validation(version, validator)
    finding = _finding(validation, validator, owner=validator)  # the validator owns the remediation
    services.finding_propose_remediation(by=as_user(validator), finding=finding, remediation="Fix.")
    with pytest.raises(PermissionRefused) as exc:
        services.finding_close(by=as_user(validator), finding=finding, note="done")
    assert exc.value.field == "owner"
    finding.refresh_from_db()
    assert finding.status == "remediation proposed"
    assert last_event("finding.close.denied").record_json["data"]["field"] == "owner"


def test_a_finding_is_closed_only_after_a_remediation_is_proposed(version, validator, developer):
    finding = _finding(_validation(version, validator), validator, developer)
    with pytest.raises(IllegalTransition):
        services.finding_close(by=as_user(validator), finding=finding, note="done")
    assert Finding.objects.get().status == "open"


def test_risk_acceptance_needs_an_expiry(version, validator, developer, risk_officer):
    finding = _finding(_validation(version, validator), validator, developer)
    with pytest.raises(ValidationFailed) as exc:
        services.finding_accept_risk(
            by=as_user(risk_officer), finding=finding, justification="Low exposure.", expires_on=None
        )
    assert exc.value.field == "expires_on"
    assert Finding.objects.get().status == "open"
    assert last_event("finding.accept_risk.denied").record_json["data"]["field"] == "expires_on"
    with pytest.raises(PermissionRefused):
        services.finding_accept_risk(
            by=as_user(validator), finding=finding, justification="x", expires_on=dt.date.today() + dt.timedelta(days=9)
        )
    accepted = services.finding_accept_risk(
        by=as_user(risk_officer),
        finding=finding,
        justification="Low exposure until the Q1 rebuild.",
        expires_on=dt.date.today() + dt.timedelta(days=90),
    )
    assert accepted.status == "risk accepted" and accepted.risk_accepted_by == risk_officer
    assert not accepted.is_unresolved(dt.date.today())
    assert accepted.is_unresolved(dt.date.today() + dt.timedelta(days=91))  # the acceptance expired


def test_findings_cite_existing_evidence_only(version, validator, developer):
    validation = _validation(version, validator)
    with pytest.raises(ValidationFailed) as exc:
        _finding(validation, validator, developer, evidence_evaluations=[999999])
    assert exc.value.field == "evidence_evaluations"
    with pytest.raises(ValidationFailed) as exc:
        _finding(validation, validator, developer, evidence_audit_seqs=[10**9])
    assert exc.value.field == "evidence_audit_seqs"
    assert not Finding.objects.exists()


def test_no_findings_on_a_completed_validation(version, validator, developer):
    validation = _validation(version, validator)
    services.validation_complete(by=as_user(validator), validation=validation, conclusion="fit for use")
    with pytest.raises(IllegalTransition):
        _finding(validation, validator, developer)

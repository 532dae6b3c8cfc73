"""Defect 2 of issue 10: ``audit_verify --state`` replays the log and names the first table, row and
field that a raw edit behind the services changed (on SQLite and on PostgreSQL, where a database
owner can lift the guard triggers)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.state import verify_state
from tests.audit.helpers import raw_write
from tests.factories import workflow
from tests.factories.accounts import as_user, person
from tests.factories.registry import model_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def history(developer):
    """Models and versions created, updated and promoted through the services."""
    from governance.registry.services import registered_model_update

    version = model_version(user=developer)
    registered_model_update(by=as_user(version.model.owner), model=version.model, data={"purpose": "Updated."})
    workflow.good_evidence(version)
    req = workflow.request(version, developer)
    workflow.approve(req, person("validator"))
    version.refresh_from_db()
    other = model_version(model=version.model, user=developer)
    workflow.good_evidence(other)
    workflow.request(other, developer)  # left pending
    return version, other


def test_state_built_through_the_services_matches_the_log(history):
    result = verify_state()
    assert result.ok, result.message
    assert "registry" in result.replayers
    call_command("audit_verify", "--state", "--no-progress")


@pytest.mark.parametrize(
    "sql, table, field, expected",
    [
        (
            "UPDATE registry_modelversion SET stage = 'production' WHERE id = {other}",
            "registry_modelversion",
            "stage",
            "development",
        ),
        (
            "UPDATE registry_modelversion SET artifact_sha256 = '{zeros}' WHERE id = {version}",
            "registry_modelversion",
            "artifact_sha256",
            None,
        ),
        (
            "UPDATE registry_registeredmodel SET risk_tier = 'tier_3' WHERE id = {model}",
            "registry_registeredmodel",
            "risk_tier",
            None,
        ),
        (
            "UPDATE registry_registeredmodel SET purpose = 'Quietly rewritten.' WHERE id = {model}",
            "registry_registeredmodel",
            "purpose",
            "Updated.",
        ),
    ],
)
def test_a_raw_edit_is_named_by_table_row_and_field(history, sql, table, field, expected):
    version, other = history
    ids = {"other": other.pk, "version": version.pk, "model": version.model_id, "zeros": "0" * 64}
    row = str(other.pk if "{other}" in sql else version.pk if "{version}" in sql else version.model_id)
    raw_write(sql.format(**ids), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, row, field), result.message
    if expected is not None:
        assert d.expected == expected
    with pytest.raises(CommandError, match=f"{table} row {row}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.mark.parametrize(
    "sql, table, field",
    [
        ("UPDATE workflow_approval SET justification = 'FORGED'", "workflow_approval", "justification"),
        (
            "UPDATE workflow_approval SET approver_id = (SELECT min(id) FROM accounts_user)",
            "workflow_approval",
            "approver",
        ),
        (
            "UPDATE workflow_promotionrequest SET status = 'approved' WHERE status = 'pending'",
            "workflow_promotionrequest",
            "status",
        ),
    ],
)
def test_a_raw_edit_of_a_request_or_approval_is_named(history, sql, table, field):
    raw_write(sql, [])
    result = verify_state()
    assert not result.ok and (result.divergence.table, result.divergence.field) == (table, field), result.message


def test_a_row_inserted_or_deleted_behind_the_services_is_named(history):
    version, _ = history
    spare = model_version(model=version.model)
    raw_write("DELETE FROM registry_modelversion WHERE id = %s", [spare.pk])
    result = verify_state()
    assert not result.ok and (result.divergence.table, result.divergence.row) == (
        "registry_modelversion",
        str(spare.pk),
    )
    assert result.divergence.field == "(row)"


@pytest.fixture
def governed(developer, validator, risk_officer):
    """Policies, evaluations, an override and a review flag, each made through its service: a
    policy revised; an evaluation computed by the service; a production promotion whose failing
    drift gate a risk officer overrode; a new breaching evaluation that raised a review flag,
    resolved by a risk officer."""
    from governance.workflow import services as workflow_services
    from governance.workflow.models import Policy, ReviewFlag
    from tests.factories import evaluations as evaluation_factories

    policy = Policy.objects.get(scope="tier_3", target_stage="staging", is_rollback=False, is_current=True)
    revised = workflow_services.policy_revise(
        by=as_user(risk_officer), policy=policy, data={"request_window_days": 21}, reason="Quarterly review."
    )
    version = model_version(user=developer)
    computed = evaluation_factories.evaluation(version, developer, kind="performance")
    workflow.good_evidence(version)
    workflow.approve(workflow.request(version, developer), validator)
    version.refresh_from_db()
    workflow.evaluation(version, kind="drift", metrics={"max_psi": 0.31, "drift_share": 0.2})
    req = workflow.request(version, developer, "production")
    req = workflow.approve(req, risk_officer, override_justification="PSI driven by a known seasonal shift.")
    override = req.approvals.get()
    workflow.approve(req, validator)
    # The evaluation service announces the breach; the workflow raises the flag.
    workflow.evaluation(version, kind="drift", metrics={"max_psi": 0.41, "drift_share": 0.5})
    flag = ReviewFlag.objects.get(model_version=version)
    workflow_services.review_flag_resolve(by=as_user(risk_officer), flag=flag, resolution="Known shift; RISK-42.")
    return {
        "policy": revised.pk,
        "old_policy": policy.pk,
        "evaluation": computed.pk,
        "approval": override.pk,
        "flag": flag.pk,
    }


def test_policies_evaluations_overrides_and_flags_replay_clean(governed):
    result = verify_state()
    assert result.ok, result.message
    assert {"registry", "workflow", "evaluations"} <= set(result.replayers)


@pytest.mark.parametrize(
    "sql, table, key, field",
    [
        (
            "UPDATE workflow_policy SET approvals_required = 5 WHERE id = {policy}",
            "workflow_policy",
            "policy",
            "approvals_required",
        ),
        ("UPDATE workflow_policy SET checks = '[]' WHERE id = {policy}", "workflow_policy", "policy", "checks"),
        (
            "UPDATE workflow_policy SET is_current = %(false)s WHERE id = {policy}",
            "workflow_policy",
            "policy",
            "is_current",
        ),
        (
            "UPDATE evaluations_evaluation SET metrics = '{{\"auc\": 0.99}}' WHERE id = {evaluation}",
            "evaluations_evaluation",
            "evaluation",
            "metrics",
        ),
        (
            "UPDATE evaluations_evaluation SET status = 'failed' WHERE id = {evaluation}",
            "evaluations_evaluation",
            "evaluation",
            "status",
        ),
        (
            "UPDATE evaluations_evaluation SET input_sha256 = '{zeros}' WHERE id = {evaluation}",
            "evaluations_evaluation",
            "evaluation",
            "input_sha256",
        ),
        (
            "UPDATE workflow_approval SET override_justification = 'Approved by the board.' WHERE id = {approval}",
            "workflow_approval",
            "approval",
            "override_justification",
        ),
        (
            "UPDATE workflow_approval SET overridden_checks = '[]' WHERE id = {approval}",
            "workflow_approval",
            "approval",
            "overridden_checks",
        ),
        (
            "UPDATE workflow_reviewflag SET resolution = 'Nothing to see.' WHERE id = {flag}",
            "workflow_reviewflag",
            "flag",
            "resolution",
        ),
        (
            "UPDATE workflow_reviewflag SET resolved_at = NULL WHERE id = {flag}",
            "workflow_reviewflag",
            "flag",
            "resolved",
        ),
        ("UPDATE workflow_reviewflag SET breaches = '[]' WHERE id = {flag}", "workflow_reviewflag", "flag", "breaches"),
    ],
)
def test_a_raw_edit_of_a_policy_evaluation_override_or_flag_is_named(governed, sql, table, key, field):
    false = "false" if connection.vendor == "postgresql" else "0"
    raw_write(sql.format(**governed, zeros="0" * 64).replace("%(false)s", false), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(governed[key]), field), result.message
    with pytest.raises(CommandError, match=f"{table} row {governed[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.fixture
def evaluated(developer, settings):
    """Fairness evaluations through the service: one computed in the request, one queued (a body over
    EVALUATION_SYNC_MAX_BYTES: stored, then started and completed by the eager worker)."""
    from tests.factories import evaluations as evaluation_factories

    version = model_version(user=developer)
    inline = evaluation_factories.evaluation(version, developer, kind="fairness")
    settings.EVALUATION_SYNC_MAX_BYTES = 100
    queued = evaluation_factories.evaluation(version, developer, kind="fairness")
    queued.refresh_from_db()
    assert (inline.status, queued.status, queued.started_at is not None) == ("done", "done", True)
    return {"inline": inline.pk, "queued": queued.pk}


def test_inline_and_queued_evaluations_replay_clean(evaluated):
    result = verify_state()
    assert result.ok, result.message


def _edit_a_group_rate(pk: int) -> None:
    """A raw edit of one per-group rate deep inside an evaluation's stored ``result``."""
    import json

    from governance.evaluations.models import Evaluation

    result = Evaluation.objects.get(pk=pk).result
    result["by_group"][0]["selection_rate"] = round(1 - result["by_group"][0]["selection_rate"], 3)
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    raw_write(f"UPDATE evaluations_evaluation SET result = {cast} WHERE id = %s", [json.dumps(result), pk])


@pytest.mark.parametrize("key", ["inline", "queued"])
def test_a_raw_edit_of_a_per_group_value_in_a_result_is_named(evaluated, key):
    _edit_a_group_rate(evaluated[key])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == ("evaluations_evaluation", str(evaluated[key]), "result"), result.message
    with pytest.raises(CommandError, match=f"evaluations_evaluation row {evaluated[key]}, field result"):
        call_command("audit_verify", "--state", "--no-progress")


def test_evaluation_events_recorded_before_they_carried_the_result_digest_leave_the_result_unchecked(evaluated):
    """Events written before the result's digest was added lack it: a replay of them does not check the
    result (documented), and still names an edit of a field they did carry."""
    import json

    from audit.models import AuditEvent
    from governance.evaluations.state import EvaluationReplayer

    def replay():
        replayer = EvaluationReplayer()
        for raw in (
            AuditEvent.objects.filter(action__in=replayer.actions).order_by("seq").values_list("record", flat=True)
        ):
            record = json.loads(bytes(raw) if not isinstance(raw, str) else raw)
            record["data"].pop("result_sha256", None)
            replayer.apply(record)
        return replayer.compare()

    _edit_a_group_rate(evaluated["inline"])
    assert replay() is None
    raw_write("UPDATE evaluations_evaluation SET dataset = 'other' WHERE id = %s", [evaluated["inline"]])
    d = replay()
    assert (d.table, d.row, d.field) == ("evaluations_evaluation", str(evaluated["inline"]), "dataset")


@pytest.fixture
def committee(risk_officer, validator):
    """A committee made and revised through the services: v3 leaves, a new validator joins, the
    quorum drops to 2 (one seat ended, one opened)."""
    from governance.workflow import committees
    from governance.workflow.models import CommitteeMember

    v2, v3, v4 = person("validator"), person("validator"), person("validator")
    made = committees.committee_create(
        by=as_user(risk_officer),
        name="Model risk committee",
        scope="high",
        target_stage="staging",
        quorum=3,
        role_minimums={"validator": 2, "risk_officer": 1},
        description="Signs high-risk models to staging; minutes go to the board. " * 40,  # > 2,000 characters
        members=[
            {"user": validator, "role": "validator"},
            {"user": v2, "role": "validator"},
            {"user": v3, "role": "validator"},
            {"user": risk_officer, "role": "risk_officer"},
        ],
    )
    committees.committee_revise(
        by=as_user(risk_officer),
        committee=made,
        reason="v3 leaves; v4 joins",
        quorum=2,
        role_minimums={"validator": 1, "risk_officer": 1},
        members=[
            {"user": validator, "role": "validator"},
            {"user": v2, "role": "validator"},
            {"user": v4, "role": "validator"},
            {"user": risk_officer, "role": "risk_officer"},
        ],
    )
    seats = CommitteeMember.objects.filter(committee=made)
    return {
        "committee": made.pk,
        "ended": seats.get(user=v3).pk,
        "joined": seats.get(user=v4).pk,
        "risk": seats.get(user=risk_officer).pk,
        "v4": v4.pk,
        "v3": v3.pk,
    }


def test_committees_and_their_seats_replay_clean(committee):
    result = verify_state()
    assert result.ok, result.message


@pytest.mark.parametrize(
    "sql, table, key, field",
    [
        (
            "UPDATE workflow_committee SET quorum = 1 WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "quorum",
        ),
        (
            "UPDATE workflow_committee SET role_minimums = '{{}}' WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "role_minimums",
        ),
        (
            "UPDATE workflow_committee SET is_active = %(false)s WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "is_active",
        ),
        (
            "UPDATE workflow_committee SET scope = 'tier_3' WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "scope",
        ),
        (
            "UPDATE workflow_committeemember SET role = 'validator' WHERE id = {risk}",
            "workflow_committeemember",
            "risk",
            "role",
        ),
        (
            "UPDATE workflow_committeemember SET removed_at = NULL WHERE id = {ended}",
            "workflow_committeemember",
            "ended",
            "removed_at",
        ),
        (
            "UPDATE workflow_committeemember SET user_id = {v3} WHERE id = {joined}",
            "workflow_committeemember",
            "joined",
            "user",
        ),
        (
            "UPDATE workflow_committee SET description = 'Signs anything.' WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "description",
        ),
        (  # past the 2,000 characters the event carries, the length kept: seen through the digest
            "UPDATE workflow_committee SET description = substr(description, 1, length(description) - 1) || '!' "
            "WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "description",
        ),
        (
            "UPDATE workflow_committee SET created_at = '2001-01-01 00:00:00' WHERE id = {committee}",
            "workflow_committee",
            "committee",
            "created_at",
        ),
        (
            "UPDATE workflow_committeemember SET added_at = '2001-01-01 00:00:00' WHERE id = {risk}",
            "workflow_committeemember",
            "risk",
            "added_at",
        ),
        (
            "UPDATE workflow_committeemember SET added_at = '2001-01-01 00:00:00' WHERE id = {joined}",
            "workflow_committeemember",
            "joined",
            "added_at",
        ),
        (
            "UPDATE workflow_committeemember SET removed_at = '2001-01-01 00:00:00' WHERE id = {ended}",
            "workflow_committeemember",
            "ended",
            "removed_at",
        ),
    ],
)
def test_a_raw_edit_of_a_committee_or_seat_is_named(committee, sql, table, key, field):
    false = "false" if connection.vendor == "postgresql" else "0"
    raw_write(sql.format(**committee).replace("%(false)s", false), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(committee[key]), field), result.message
    with pytest.raises(CommandError, match=f"{table} row {committee[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


def test_a_seat_added_behind_the_services_is_named(committee):
    from governance.workflow.models import CommitteeMember

    raw_write(
        "INSERT INTO workflow_committeemember (committee_id, user_id, role, added_at) "
        "SELECT committee_id, user_id, 'risk_officer', added_at FROM workflow_committeemember WHERE id = %s",
        [committee["ended"]],
    )
    extra = CommitteeMember.objects.order_by("-pk").first()
    result = verify_state()
    assert not result.ok
    assert (result.divergence.table, result.divergence.row, result.divergence.field) == (
        "workflow_committeemember",
        str(extra.pk),
        "(row)",
    ), result.message


@pytest.fixture
def transitions(developer, validator, risk_officer):
    """Two versions promoted to production through the services: the second retires the first, so
    a promotion records a transition for its version and one for the version it replaced."""
    from governance.workflow.models import StageTransition

    first = model_version(user=developer)
    for version in (first, model_version(model=first.model, user=developer)):
        workflow.good_evidence(version)
        workflow.approve(workflow.request(version, developer), validator)
        version.refresh_from_db()
        req = workflow.request(version, developer, "production", reason="Champion for Q4.")
        workflow.approve(req, risk_officer)
        workflow.approve(req, validator)
    rows = StageTransition.objects.filter(model=first.model)
    return {
        "staging": rows.filter(to_stage="staging").first().pk,
        "production": rows.filter(to_stage="production").last().pk,
        "retired": rows.get(to_stage="retired").pk,
    }


def test_stage_transitions_replay_clean(transitions):
    result = verify_state()
    assert result.ok, result.message


@pytest.mark.parametrize(
    "sql, key, field",
    [
        ("UPDATE workflow_stagetransition SET to_stage = 'production' WHERE id = {staging}", "staging", "to_stage"),
        ("UPDATE workflow_stagetransition SET from_stage = 'staging' WHERE id = {retired}", "retired", "from_stage"),
        (
            "UPDATE workflow_stagetransition SET reason = 'Board decision.' WHERE id = {production}",
            "production",
            "reason",
        ),
        ("UPDATE workflow_stagetransition SET approvers = '[]' WHERE id = {production}", "production", "approvers"),
        ("UPDATE workflow_stagetransition SET evaluation_ids = '[]' WHERE id = {staging}", "staging", "evaluation_ids"),
        (
            "UPDATE workflow_stagetransition SET is_rollback = %(true)s WHERE id = {production}",
            "production",
            "is_rollback",
        ),
        (
            "UPDATE workflow_stagetransition SET request_id = (SELECT min(id) FROM workflow_promotionrequest) "
            "WHERE id = {retired}",
            "retired",
            "request",
        ),
        ("UPDATE workflow_stagetransition SET at = '2001-01-01 00:00:00' WHERE id = {retired}", "retired", "at"),
        ("UPDATE workflow_stagetransition SET at = '2001-01-01 00:00:00' WHERE id = {staging}", "staging", "at"),
    ],
)
def test_a_raw_edit_of_a_stage_transition_is_named(transitions, sql, key, field):
    true = "true" if connection.vendor == "postgresql" else "1"
    raw_write(sql.format(**transitions).replace("%(true)s", true), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == ("workflow_stagetransition", str(transitions[key]), field), result.message
    with pytest.raises(CommandError, match=f"workflow_stagetransition row {transitions[key]}, field"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.fixture
def oversight(developer, validator, risk_officer):
    """A validation with four findings, made through the services: one closed after a proposed
    remediation, one whose risk a risk officer accepted, one left open, one whose description is longer
    than the 2,000 characters an event carries; the validation completed."""
    import datetime as dt

    from governance.oversight import services

    version = model_version(user=developer)
    validation = services.validation_start(by=as_user(validator), version=version, scope="Annual review.")

    def finding(severity: str, description: str = "Calibration drifts on thin-file applicants."):
        return services.finding_create(
            by=as_user(validator),
            validation=validation,
            severity=severity,
            description=description,
            owner=developer,
            due_date=dt.date.today() + dt.timedelta(days=30),
        )

    closed, accepted, left_open = finding("high"), finding("medium"), finding("low")
    long = finding("low", "Thin-file applicants are scored from too few bureau records. " * 40)
    services.finding_propose_remediation(by=as_user(developer), finding=closed, remediation="Recalibrate.")
    services.finding_close(by=as_user(validator), finding=closed, note="Recalibration verified.")
    services.finding_accept_risk(
        by=as_user(risk_officer),
        finding=accepted,
        justification="Low exposure.",
        expires_on=dt.date.today() + dt.timedelta(days=90),
    )
    services.validation_complete(
        by=as_user(validator), validation=validation, conclusion="fit with conditions", summary="Three findings."
    )
    return {
        "validation": validation.pk,
        "closed": closed.pk,
        "accepted": accepted.pk,
        "open": left_open.pk,
        "long": long.pk,
    }


def test_validations_and_findings_replay_clean(oversight):
    result = verify_state()
    assert result.ok, result.message
    assert "oversight" in result.replayers


@pytest.mark.parametrize(
    "sql, table, key, field",
    [
        (
            "UPDATE oversight_validation SET conclusion = 'fit for use' WHERE id = {validation}",
            "oversight_validation",
            "validation",
            "conclusion",
        ),
        (
            "UPDATE oversight_validation SET summary = 'No findings.' WHERE id = {validation}",
            "oversight_validation",
            "validation",
            "summary",
        ),
        (
            "UPDATE oversight_validation SET started_on = '2001-01-01' WHERE id = {validation}",
            "oversight_validation",
            "validation",
            "started_on",
        ),
        (
            "UPDATE oversight_validation SET validator_id = (SELECT min(id) FROM accounts_user) "
            "WHERE id = {validation}",
            "oversight_validation",
            "validation",
            "validator",
        ),
        (
            "UPDATE oversight_finding SET severity = 'low' WHERE id = {closed}",
            "oversight_finding",
            "closed",
            "severity",
        ),
        ("UPDATE oversight_finding SET status = 'closed' WHERE id = {open}", "oversight_finding", "open", "status"),
        (
            "UPDATE oversight_finding SET due_date = '2099-01-01' WHERE id = {open}",
            "oversight_finding",
            "open",
            "due_date",
        ),
        (
            "UPDATE oversight_finding SET closure_note = 'Fine.' WHERE id = {closed}",
            "oversight_finding",
            "closed",
            "closure_note",
        ),
        (
            "UPDATE oversight_finding SET risk_accepted_until = '2099-01-01' WHERE id = {accepted}",
            "oversight_finding",
            "accepted",
            "risk_accepted_until",
        ),
        (
            "UPDATE oversight_finding SET risk_acceptance_justification = 'Board said so.' WHERE id = {accepted}",
            "oversight_finding",
            "accepted",
            "risk_acceptance_justification",
        ),
        (
            "UPDATE oversight_finding SET description = 'Nothing to see.' WHERE id = {open}",
            "oversight_finding",
            "open",
            "description",
        ),
        (  # past the 2,000 characters the event carries, same length: seen through the SHA-256
            "UPDATE oversight_finding SET description = SUBSTR(description, 1, LENGTH(description) - 2) || 'X.' "
            "WHERE id = {long}",
            "oversight_finding",
            "long",
            "description",
        ),
    ],
)
def test_a_raw_edit_of_a_validation_or_finding_is_named(oversight, sql, table, key, field):
    raw_write(sql.format(**oversight), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(oversight[key]), field), result.message
    with pytest.raises(CommandError, match=f"{table} row {oversight[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.fixture
def incidents(developer, validator, risk_officer):
    """A tier 1 version in production with its revalidation interval set twice, an overdue
    revalidation flag (raised on a later day) resolved by a completed validation, and a serious
    incident with its initial report and a follow-up, all through the services."""
    import datetime as dt

    from governance.oversight import services
    from governance.oversight.models import RevalidationInterval

    version = model_version(user=developer)
    workflow.good_evidence(version)
    workflow.approve(workflow.request(version, developer), validator)
    version.refresh_from_db()
    req = workflow.request(version, developer, "production")
    workflow.approve(req, risk_officer)
    workflow.approve(req, validator)
    for months, reason in ((6, "Volatile market."), (9, "Calmer.")):
        services.revalidation_interval_set(by=as_user(risk_officer), model=version.model, months=months, reason=reason)
    (flag,) = services.revalidation_flags_raise(
        by=as_user(risk_officer), today=dt.date.today() + dt.timedelta(days=800)
    )
    validation = services.validation_start(by=as_user(validator), version=version, scope="Overdue revalidation.")
    services.validation_complete(by=as_user(validator), validation=validation, conclusion="fit for use")
    aware = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=5)
    incident = services.serious_incident_record(
        by=as_user(risk_officer),
        version=version,
        description="Applicants in one region were refused credit for a week.",
        aware_at=aware,
        affected_persons="About 400 applicants in region North.",
        causal_link="The model's score drove the refusals; the region feature drifted.",
    )
    reports = [
        services.serious_incident_report(
            by=as_user(risk_officer),
            incident=incident,
            kind=kind,
            submitted_at=aware + dt.timedelta(days=days),
            authority="Market surveillance authority (DE)",
            summary="Report.",
        )
        for kind, days in (("initial", 1), ("follow_up", 2))
    ]
    return {
        "interval": RevalidationInterval.objects.get(model=version.model).pk,
        "flag": flag.pk,
        "incident": incident.pk,
        "initial": reports[0].pk,
        "follow_up": reports[1].pk,
    }


def test_revalidation_and_incidents_replay_clean(incidents):
    result = verify_state()
    assert result.ok, result.message


@pytest.mark.parametrize(
    "sql, table, key, field",
    [
        (
            "UPDATE oversight_revalidationinterval SET months = 36 WHERE id = {interval}",
            "oversight_revalidationinterval",
            "interval",
            "months",
        ),
        (
            "UPDATE oversight_revalidationinterval SET reason = 'Stable.' WHERE id = {interval}",
            "oversight_revalidationinterval",
            "interval",
            "reason",
        ),
        (
            "UPDATE oversight_revalidationflag SET resolved_at = NULL WHERE id = {flag}",
            "oversight_revalidationflag",
            "flag",
            "resolved",
        ),
        (
            "UPDATE oversight_revalidationflag SET due_on = '2099-01-01' WHERE id = {flag}",
            "oversight_revalidationflag",
            "flag",
            "due_on",
        ),
        (
            "UPDATE oversight_seriousincident SET category = 'death' WHERE id = {incident}",
            "oversight_seriousincident",
            "incident",
            "category",
        ),
        (
            "UPDATE oversight_seriousincident SET reporting_deadline = aware_at WHERE id = {incident}",
            "oversight_seriousincident",
            "incident",
            "reporting_deadline",
        ),
        (
            "UPDATE oversight_incidentreport SET submitted_at = "
            "(SELECT submitted_at FROM oversight_incidentreport WHERE id = {follow_up}) WHERE id = {initial}",
            "oversight_incidentreport",
            "initial",
            "submitted_at",
        ),
        (
            "UPDATE oversight_incidentreport SET authority = 'Nobody' WHERE id = {follow_up}",
            "oversight_incidentreport",
            "follow_up",
            "authority",
        ),
        (
            "UPDATE oversight_seriousincident SET description = 'A minor glitch.' WHERE id = {incident}",
            "oversight_seriousincident",
            "incident",
            "description",
        ),
        (
            "UPDATE oversight_seriousincident SET affected_persons = 'Nobody.' WHERE id = {incident}",
            "oversight_seriousincident",
            "incident",
            "affected_persons",
        ),
        (
            "UPDATE oversight_seriousincident SET causal_link = 'None.' WHERE id = {incident}",
            "oversight_seriousincident",
            "incident",
            "causal_link",
        ),
        (
            "UPDATE oversight_seriousincident SET occurred_at = aware_at WHERE id = {incident}",
            "oversight_seriousincident",
            "incident",
            "occurred_at",
        ),
        (
            "UPDATE oversight_incidentreport SET summary = 'Nothing happened.' WHERE id = {initial}",
            "oversight_incidentreport",
            "initial",
            "summary",
        ),
    ],
)
def test_a_raw_edit_of_a_revalidation_or_incident_row_is_named(incidents, sql, table, key, field):
    raw_write(sql.format(**incidents), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(incidents[key]), field), result.message
    with pytest.raises(CommandError, match=f"{table} row {incidents[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.fixture
def monitoring(developer, validator, risk_officer):
    """A production version (of an EU high-risk model) with a weekly performance schedule that started
    a month ago (its missed checks flagged, one resolved), an ended drift-free second schedule, and a
    post-market plan written and revised, all through the services."""
    import datetime as dt

    from django.utils import timezone

    from governance.oversight import services
    from governance.oversight.models import MissedCheck, PostMarketPlan, PostMarketPlanRevision

    version = model_version(user=developer)
    workflow.good_evidence(version)
    workflow.approve(workflow.request(version, developer), validator)
    version.refresh_from_db()
    req = workflow.request(version, developer, "production")
    workflow.approve(req, risk_officer)
    workflow.approve(req, validator)
    version.refresh_from_db()
    ended = services.monitoring_schedule_create(
        by=as_user(risk_officer), version=version, kind="performance", cadence_days=30, description="Monthly AUC."
    )
    services.monitoring_schedule_end(by=as_user(risk_officer), schedule=ended, reason="Replaced by a weekly check.")
    weekly = services.monitoring_schedule_create(
        by=as_user(risk_officer),
        version=version,
        kind="performance",
        cadence_days=7,
        grace_hours=24,
        starts_at=timezone.now() - dt.timedelta(days=30),
        description="Weekly AUC on the labelled applications of the week.",
        responsible=developer,
    )
    flagged = services.missed_checks_flag(by=as_user(risk_officer))
    assert len(flagged) >= 2
    services.missed_check_resolve(by=as_user(risk_officer), missed=flagged[0], resolution="Labels arrived late.")
    narrative = {
        "monitored": "Score drift of application data; AUC once defaults are known.",
        "data_collection": "Weekly extract of scored applications.",
        "responsibilities": "The owner runs the pipelines; risk officers act.",
        "thresholds": "AUC below 0.70 raises a review.",
    }
    services.post_market_plan_set(by=as_user(risk_officer), model=version.model, **narrative)
    services.post_market_plan_set(
        by=as_user(risk_officer), model=version.model, thresholds="AUC below 0.72 raises a review.", reason="Tighter."
    )
    return {
        "ended": ended.pk,
        "weekly": weekly.pk,
        "resolved": flagged[0].pk,
        "unresolved": MissedCheck.objects.filter(resolved_at__isnull=True).first().pk,
        "plan": PostMarketPlan.objects.get(model=version.model).pk,
        "revision": PostMarketPlanRevision.objects.get(plan__model=version.model, revision=2).pk,
    }


def test_monitoring_and_plans_replay_clean(monitoring):
    result = verify_state()
    assert result.ok, result.message


def test_plan_events_recorded_before_plans_kept_revisions_are_compared_on_their_whole_texts(monitoring):
    """``post_market_plan.set`` events written before plans kept revision rows carried the whole texts and
    no digests: a replay of them compares the plan's texts whole, and expects no revision rows."""
    import json

    from audit.models import AuditEvent
    from governance.oversight.models import PLAN_FIELDS, PostMarketPlanRevision
    from governance.oversight.state import OversightReplayer

    whole = {r.revision: {name: getattr(r, name) for name in PLAN_FIELDS} for r in PostMarketPlanRevision.objects.all()}

    def replay():
        replayer = OversightReplayer()
        for raw in (
            AuditEvent.objects.filter(action__in=replayer.actions).order_by("seq").values_list("record", flat=True)
        ):
            record = json.loads(bytes(raw) if not isinstance(raw, str) else raw)
            if record["action"] == "post_market_plan.set":  # as the service wrote it before
                revision = record["data"]["revision"]
                record["data"]["before"] = whole.get(revision - 1)
                record["data"]["after"] = whole[revision]
            replayer.apply(record)
        return replayer.compare()

    raw_write("DELETE FROM oversight_postmarketplanrevision", [])
    assert replay() is None
    raw_write("UPDATE oversight_postmarketplan SET monitored = 'Nothing.' WHERE id = %s", [monitoring["plan"]])
    d = replay()
    assert (d.table, d.row, d.field) == ("oversight_postmarketplan", str(monitoring["plan"]), "monitored")
    assert d.expected == whole[2]["monitored"]


@pytest.mark.parametrize(
    "sql, table, key, field",
    [
        (
            "UPDATE oversight_monitoringschedule SET cadence_days = 90 WHERE id = {weekly}",
            "oversight_monitoringschedule",
            "weekly",
            "cadence_days",
        ),
        (
            "UPDATE oversight_monitoringschedule SET responsible_id = NULL WHERE id = {weekly}",
            "oversight_monitoringschedule",
            "weekly",
            "responsible",
        ),
        (
            "UPDATE oversight_monitoringschedule SET end_reason = 'Nobody looked.' WHERE id = {ended}",
            "oversight_monitoringschedule",
            "ended",
            "end_reason",
        ),
        (
            "UPDATE oversight_missedcheck SET resolution = 'Fine.' WHERE id = {resolved}",
            "oversight_missedcheck",
            "resolved",
            "resolution",
        ),
        (
            "UPDATE oversight_missedcheck SET resolved_at = due_at WHERE id = {unresolved}",
            "oversight_missedcheck",
            "unresolved",
            "resolved",
        ),
        (
            "UPDATE oversight_postmarketplan SET thresholds = 'None.' WHERE id = {plan}",
            "oversight_postmarketplan",
            "plan",
            "thresholds",
        ),
        (
            "UPDATE oversight_postmarketplanrevision SET responsibilities = 'Nobody.' WHERE id = {revision}",
            "oversight_postmarketplanrevision",
            "revision",
            "responsibilities",
        ),
        (
            "UPDATE oversight_postmarketplan SET revision = 1 WHERE id = {plan}",
            "oversight_postmarketplan",
            "plan",
            "revision",
        ),
    ],
)
def test_a_raw_edit_of_a_schedule_missed_check_or_plan_is_named(monitoring, sql, table, key, field):
    raw_write(sql.format(**monitoring), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(monitoring[key]), field), result.message
    with pytest.raises(CommandError, match=f"{table} row {monitoring[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.mark.parametrize(
    "records, table, key, field",
    [
        ("oversight", "oversight_validation", "validation", "created_at"),
        ("oversight", "oversight_finding", "open", "created_at"),
        ("oversight", "oversight_finding", "closed", "remediation_proposed_at"),
        ("oversight", "oversight_finding", "closed", "closed_at"),
        ("oversight", "oversight_finding", "accepted", "risk_accepted_at"),
        ("incidents", "oversight_revalidationinterval", "interval", "set_at"),
        ("incidents", "oversight_revalidationflag", "flag", "raised_at"),
        ("incidents", "oversight_revalidationflag", "flag", "resolved_at"),
        ("incidents", "oversight_seriousincident", "incident", "recorded_at"),
        ("incidents", "oversight_incidentreport", "initial", "recorded_at"),
        ("monitoring", "oversight_monitoringschedule", "weekly", "created_at"),
        ("monitoring", "oversight_monitoringschedule", "ended", "ended_at"),
        ("monitoring", "oversight_missedcheck", "unresolved", "detected_at"),
        ("monitoring", "oversight_missedcheck", "resolved", "resolved_at"),
        ("monitoring", "oversight_postmarketplan", "plan", "created_at"),
        ("monitoring", "oversight_postmarketplan", "plan", "updated_at"),
    ],
)
def test_an_oversight_instant_moved_by_one_microsecond_is_named(request, records, table, key, field):
    """The service stores one instant in the row and its event; a raw edit moving it by a microsecond
    (the precision both SQLite and PostgreSQL keep) is named."""
    import datetime as dt

    from django.apps import apps

    from audit.state import as_recorded

    ids = request.getfixturevalue(records)
    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    stored = model.objects.values_list(field, flat=True).get(pk=ids[key])
    moved = connection.ops.adapt_datetimefield_value(stored + dt.timedelta(microseconds=1))
    raw_write(f"UPDATE {table} SET {field} = %s WHERE id = %s", [moved, ids[key]])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == (table, str(ids[key]), field), result.message
    assert d.expected == as_recorded(stored) and d.stored == as_recorded(stored + dt.timedelta(microseconds=1))
    with pytest.raises(CommandError, match=f"{table} row {ids[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


def test_oversight_events_recorded_before_they_carried_instants_and_texts_leave_those_unchecked(oversight):
    """Events written before issue 10's change lack the instants and texts: a replay of them does not
    check those fields (documented), and still names an edit of a field they did carry."""
    import json

    from audit.models import AuditEvent
    from governance.oversight.state import OversightReplayer

    added = {
        "created_at",
        "description",
        "description_sha256",
        "remediation_proposed_at",
        "closed_at",
        "risk_accepted_at",
    }

    def replay():
        replayer = OversightReplayer()
        for raw in (
            AuditEvent.objects.filter(action__in=replayer.actions).order_by("seq").values_list("record", flat=True)
        ):
            record = json.loads(bytes(raw) if not isinstance(raw, str) else raw)
            record["data"] = {k: v for k, v in record["data"].items() if k not in added}
            replayer.apply(record)
        return replayer.compare()

    raw_write(
        "UPDATE oversight_finding SET description = 'Rewritten.', closed_at = created_at WHERE id = %s",
        [oversight["closed"]],
    )
    assert replay() is None
    assert verify_state().divergence.field == "description"  # the events of today carry both
    raw_write("UPDATE oversight_finding SET severity = 'low' WHERE id = %s", [oversight["closed"]])
    d = replay()
    assert (d.table, d.row, d.field) == ("oversight_finding", str(oversight["closed"]), "severity")


@pytest.fixture
def narratives(developer):
    """Narratives written through the service: a model-wide one revised, a version's one, one longer
    than the 2,000 characters an event carries as its reason."""
    from governance.reports.services import narrative_set

    version = model_version(user=developer)
    model = version.model

    def write(key: str, text: str, on=None):
        return narrative_set(by=as_user(developer), model=model, key=key, text=text, version=on).pk

    return {
        "first": write("intended_purpose", "Ranks retail credit applications."),
        "revised": write("intended_purpose", "Ranks retail credit applications for manual review."),
        "version": write("major_limitations", "Thin-file applicants are scored less reliably.", on=version),
        "long": write("key_assumptions", "The economy is stable. " * 120, on=version),
    }


def test_narratives_replay_clean(narratives):
    result = verify_state()
    assert result.ok, result.message
    assert "reports" in result.replayers


@pytest.mark.parametrize(
    "sql, key, field",
    [
        (
            "UPDATE reports_narrativeentry SET text = 'Approves every applicant.' WHERE id = {revised}",
            "revised",
            "text",
        ),
        ("UPDATE reports_narrativeentry SET text = text || ' Unless rich.' WHERE id = {long}", "long", "chars"),
        ("UPDATE reports_narrativeentry SET key = 'tradeoffs' WHERE id = {version}", "version", "key"),
        ("UPDATE reports_narrativeentry SET author_role = 'risk_officer' WHERE id = {first}", "first", "author_role"),
        ("UPDATE reports_narrativeentry SET model_version_id = NULL WHERE id = {version}", "version", "model_version"),
        (
            "UPDATE reports_narrativeentry SET created_at = '2001-01-01 00:00:00' WHERE id = {first}",
            "first",
            "created_at",
        ),
        (  # past the 2,000 characters the event carries, the length kept: seen through the digest
            "UPDATE reports_narrativeentry SET text = substr(text, 1, length(text) - 1) || '!' WHERE id = {long}",
            "long",
            "text",
        ),
    ],
)
def test_a_raw_edit_of_a_narrative_is_named(narratives, sql, key, field):
    raw_write(sql.format(**narratives), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == ("reports_narrativeentry", str(narratives[key]), field), result.message
    with pytest.raises(CommandError, match=f"reports_narrativeentry row {narratives[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


@pytest.fixture
def subscriptions(settings, risk_officer, developer):
    """Webhook subscriptions made through the services: one updated, disabled and enabled again, one
    disabled."""
    from governance.integrations.webhooks import services

    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    settings.WEBHOOKS_ALLOW_HTTP = True
    by = as_user(risk_officer)
    first, _ = services.subscription_create(
        by=by, url="http://127.0.0.1:9/hooks?token=abc", events=["promotion_request.created"], description="CI"
    )
    services.subscription_update(
        by=by, subscription=first, data={"events": ["promotion_request.created", "promotion_request.decided"]}
    )
    services.subscription_disable(by=by, subscription=first, reason="Receiver moved.")
    services.subscription_enable(by=by, subscription=first)
    second, _ = services.subscription_create(
        by=by, url="http://127.0.0.1:9/other", events=["promotion_request.created"]
    )
    services.subscription_disable(by=by, subscription=second, reason="Not needed.")
    return {"first": first.pk, "second": second.pk, "developer": developer.pk}


def test_webhook_subscriptions_replay_clean(subscriptions):
    result = verify_state()
    assert result.ok, result.message
    assert "webhooks" in result.replayers


@pytest.mark.parametrize(
    "sql, key, field",
    [
        (
            "UPDATE webhooks_webhooksubscription SET url = 'http://attacker.example/x' WHERE id = {first}",
            "first",
            "url",
        ),
        ("UPDATE webhooks_webhooksubscription SET events = '[]' WHERE id = {first}", "first", "events"),
        ("UPDATE webhooks_webhooksubscription SET is_active = %(true)s WHERE id = {second}", "second", "is_active"),
        (
            "UPDATE webhooks_webhooksubscription SET owner_id = {developer} WHERE id = {second}",
            "second",
            "owner",
        ),
        ("UPDATE webhooks_webhooksubscription SET description = 'Prod' WHERE id = {first}", "first", "description"),
        (  # the query string, which the log records as ?…, seen through the URL's keyed digest
            "UPDATE webhooks_webhooksubscription SET url = 'http://127.0.0.1:9/hooks?token=forged' WHERE id = {first}",
            "first",
            "url",
        ),
        (
            "UPDATE webhooks_webhooksubscription SET created_at = '2001-01-01 00:00:00' WHERE id = {first}",
            "first",
            "created_at",
        ),
        (
            "UPDATE webhooks_webhooksubscription SET updated_at = '2001-01-01 00:00:00' WHERE id = {first}",
            "first",
            "updated_at",
        ),
        (
            "UPDATE webhooks_webhooksubscription SET disabled_at = '2001-01-01 00:00:00' WHERE id = {second}",
            "second",
            "disabled_at",
        ),
        (  # a valid token of the server's key, but another subscription's secret
            "UPDATE webhooks_webhooksubscription SET secret_encrypted = "
            "(SELECT secret_encrypted FROM webhooks_webhooksubscription WHERE id = {second}) WHERE id = {first}",
            "first",
            "secret_encrypted",
        ),
        (
            "UPDATE webhooks_webhooksubscription SET secret_encrypted = 'x' WHERE id = {second}",
            "second",
            "secret_encrypted",
        ),
        (
            "UPDATE webhooks_webhooksubscription SET secret_hint = 'whsec_AAAA…' WHERE id = {first}",
            "first",
            "secret_hint",
        ),
    ],
)
def test_a_raw_edit_of_a_webhook_subscription_is_named(subscriptions, sql, key, field):
    true = "true" if connection.vendor == "postgresql" else "1"
    raw_write(sql.format(**subscriptions).replace("%(true)s", true), [])
    result = verify_state()
    assert not result.ok
    d = result.divergence
    assert (d.table, d.row, d.field) == ("webhooks_webhooksubscription", str(subscriptions[key]), field), result.message
    with pytest.raises(CommandError, match=f"webhooks_webhooksubscription row {subscriptions[key]}, field {field}"):
        call_command("audit_verify", "--state", "--no-progress")


def test_the_log_never_holds_the_secret_or_the_query_string(subscriptions):
    """What the log carries instead are keyed digests: nothing of either can be read from it."""
    from audit.models import AuditEvent
    from governance.integrations.webhooks import signing
    from governance.integrations.webhooks.models import WebhookSubscription

    first = WebhookSubscription.objects.get(pk=subscriptions["first"])
    secret = signing.decrypt(first.secret_encrypted)
    records = [
        bytes(raw).decode() if not isinstance(raw, str) else raw
        for raw in AuditEvent.objects.filter(action__startswith="webhook_subscription.").values_list(
            "record", flat=True
        )
    ]
    assert records and any("url_digest" in r and "secret_digest" in r for r in records)
    for record in records:
        assert "token=abc" not in record and secret not in record and secret[6:30] not in record
        assert first.secret_hint.rstrip("…") not in record


def test_after_a_change_of_key_the_digests_are_checked_again_once_the_secrets_are_rotated(settings, subscriptions):
    """A digest names its key: under a new key it cannot be checked, which is reported (the stored
    secrets cannot be decrypted either) until each secret is rotated, recording fresh digests."""
    from cryptography.fernet import Fernet

    from governance.integrations.webhooks import services
    from governance.integrations.webhooks.models import WebhookSubscription

    settings.WEBHOOKS_SECRET_KEY = Fernet.generate_key().decode()
    result = verify_state()
    assert not result.ok
    assert (result.divergence.table, result.divergence.row, result.divergence.field) == (
        "webhooks_webhooksubscription",
        str(subscriptions["first"]),
        "url",
    ), result.message
    by = as_user(WebhookSubscription.objects.get(pk=subscriptions["first"]).owner)
    for sub in WebhookSubscription.objects.order_by("pk"):
        services.subscription_rotate_secret(by=by, subscription=sub)
    result = verify_state()
    assert result.ok, result.message


def _replayed_without(replayer, keys: set[str]):
    """``replayer`` fed the log's events with ``keys`` taken out of their data: as events written
    before these were carried."""
    import json

    from audit.models import AuditEvent

    for raw in AuditEvent.objects.filter(action__in=replayer.actions).order_by("seq").values_list("record", flat=True):
        record = json.loads(bytes(raw) if not isinstance(raw, str) else raw)
        replayer.apply({**record, "data": {k: v for k, v in record["data"].items() if k not in keys}})
    return replayer.compare()


@pytest.mark.parametrize(
    "fixture, replayer, sql, keys",
    [
        (
            "narratives",
            "governance.reports.state.ReportsReplayer",
            "UPDATE reports_narrativeentry SET created_at = '2001-01-01 00:00:00' WHERE id = {first}",
            {"created_at"},
        ),
        (
            "narratives",
            "governance.reports.state.ReportsReplayer",
            "UPDATE reports_narrativeentry SET text = substr(text, 1, length(text) - 1) || '!' WHERE id = {long}",
            {"text_sha256"},
        ),
        (
            "transitions",
            "governance.workflow.state.WorkflowReplayer",
            "UPDATE workflow_stagetransition SET at = '2001-01-01 00:00:00' WHERE id = {retired}",
            {"at"},
        ),
        (
            "committee",
            "governance.workflow.state.WorkflowReplayer",
            "UPDATE workflow_committeemember SET removed_at = '2001-01-01 00:00:00', "
            "added_at = '2001-01-01 00:00:00' WHERE id = {ended}",
            {"created_at", "added_at", "removed_at"},
        ),
        (
            "subscriptions",
            "governance.integrations.webhooks.state.WebhooksReplayer",
            "UPDATE webhooks_webhooksubscription SET url = 'http://127.0.0.1:9/hooks?token=forged', "
            "created_at = '2001-01-01 00:00:00', updated_at = '2001-01-01 00:00:00', secret_hint = 'whsec_AAAA…' "
            "WHERE id = {first}",
            {"created_at", "updated_at", "disabled_at", "url_digest", "secret_digest"},
        ),
    ],
)
def test_events_written_before_a_field_was_carried_are_not_checked_for_it(request, fixture, replayer, sql, keys):
    from django.utils.module_loading import import_string

    ids = request.getfixturevalue(fixture)
    raw_write(sql.format(**ids), [])
    assert _replayed_without(import_string(replayer)(), set()) is not None  # the full events see the edit
    assert _replayed_without(import_string(replayer)(), keys) is None

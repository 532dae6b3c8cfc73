"""The demo step: people, model, workflow walk, then the oversight records (idempotent)."""

from __future__ import annotations

import pytest
from django.core.management.base import BaseCommand

from governance.accounts.principal import Principal
from governance.api.management.commands import seed_demo
from governance.oversight import monitoring, selectors
from governance.oversight.models import (
    Finding,
    MissedCheck,
    MonitoringSchedule,
    PostMarketPlan,
    SeriousIncident,
    Validation,
)

pytestmark = pytest.mark.django_db


def test_demo_seeds_a_validation_two_findings_and_an_incident(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    command, by = BaseCommand(), Principal.for_command("seed_demo")
    for step in (seed_demo.seed_people, seed_demo.seed_model, seed_demo.seed_workflow, seed_demo.seed_oversight):
        step(command, by)
    seed_demo.seed_oversight(command, by)  # idempotent
    validation = Validation.objects.get()
    assert validation.conclusion == "fit with conditions" and validation.model_version.stage == "production"
    assert sorted(Finding.objects.values_list("status", flat=True)) == ["closed", "open"]
    incident = SeriousIncident.objects.get()
    assert incident.deadline_rule == "Art. 73(2)"
    assert selectors.incident_deadline_status(incident)["status"] == "pending"
    row = selectors.revalidation_schedule()[0]
    assert row["last_validation"] == validation.completed_on and row["bucket"] is None


def test_demo_seeds_a_monitoring_schedule_with_one_missed_check_and_the_plan(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    command, by = BaseCommand(), Principal.for_command("seed_demo")
    for step in (seed_demo.seed_people, seed_demo.seed_model, seed_demo.seed_workflow, seed_demo.seed_oversight):
        step(command, by)
    seed_demo.seed_oversight(command, by)  # idempotent
    schedule = MonitoringSchedule.objects.get()
    assert schedule.model_version.stage == "production" and schedule.responsible.username == "credit-pipeline"
    missed = MissedCheck.objects.get()
    assert missed.schedule == schedule and missed.resolved_at is None
    assert [p["status"] for p in monitoring.schedule_periods(schedule)] == ["missed", "upcoming"]
    plan = monitoring.post_market_plan(schedule.model_version.model)
    assert plan["schedules"][0]["missed"] == 1 and PostMarketPlan.objects.count() == 1
    assert seed_demo.DEMO_STEPS.index(seed_demo.seed_oversight) < seed_demo.DEMO_STEPS.index(seed_demo.seed_packs)


@pytest.mark.django_db(transaction=True)  # the raw edit lifts the guard triggers (ALTER TABLE on PostgreSQL)
def test_demo_oversight_records_replay_clean_from_the_log(settings, tmp_path):
    """The demo's validation, findings, incident, schedule, missed check and plan are what the log says,
    instants and texts included (issue 10), and a raw edit of the incident's description is named."""
    from django.db import connection

    from audit.state import verify_state
    from tests.audit.helpers import disable_triggers, reinstall_triggers

    settings.VAR_DIR = tmp_path
    command, by = BaseCommand(), Principal.for_command("seed_demo")
    for step in (seed_demo.seed_people, seed_demo.seed_model, seed_demo.seed_workflow, seed_demo.seed_oversight):
        step(command, by)
    result = verify_state()
    assert result.ok, result.message
    incident = SeriousIncident.objects.get()
    disable_triggers(governed=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE oversight_seriousincident SET description = 'A minor glitch.' WHERE id = %s", [incident.pk]
            )
    finally:
        reinstall_triggers()
    d = verify_state().divergence
    assert (d.table, d.row, d.field) == ("oversight_seriousincident", str(incident.pk), "description")

"""Revalidation by tier: intervals, overrides, the schedule, and the overdue tier-1 flag on a fixed clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command

from governance.common.errors import PermissionRefused, ValidationFailed
from governance.oversight import selectors, services, tasks
from governance.oversight.models import RevalidationFlag
from governance.oversight.rules import add_months
from governance.registry import services as registry_services
from tests.factories.accounts import as_user
from tests.oversight.conftest import events, last_event

pytestmark = pytest.mark.django_db


def _validated(version, validator, on: dt.date):
    validation = services.validation_start(by=as_user(validator), version=version, scope="Annual.", started_on=on)
    return services.validation_complete(
        by=as_user(validator), validation=validation, conclusion="fit for use", completed_on=on
    )


def _row(version, today):
    return next(r for r in selectors.revalidation_schedule(today=today) if r["version_id"] == version.pk)


def test_add_months_clamps_to_month_end():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 2, 29), 12) == dt.date(2029, 2, 28)
    assert add_months(dt.date(2026, 11, 15), 36) == dt.date(2029, 11, 15)


def test_next_due_follows_the_last_completed_validation_and_the_tier(production, validator, risk_officer, settings):
    today = dt.date.today()
    _validated(production, validator, today - dt.timedelta(days=10))
    row = _row(production, today)
    assert row["risk_tier"] == "tier_1" and row["interval_months"] == 12 and row["interval_source"] == "tier"
    assert row["next_due"] == add_months(today - dt.timedelta(days=10), 12)
    assert row["bucket"] is None
    # a tier 3 model that is not EU high-risk: three years
    registry_services.registered_model_update(
        by=as_user(risk_officer), model=production.model, data={"risk_tier": "tier_3", "eu_ai_act_category": "minimal"}
    )
    assert _row(production, today)["interval_months"] == 36
    # an EU AI Act high-risk model is revalidated at least annually, whatever its tier
    registry_services.registered_model_update(
        by=as_user(risk_officer), model=production.model, data={"eu_ai_act_category": "high"}
    )
    row = _row(production, today)
    assert (row["interval_months"], row["interval_source"]) == (12, "eu_high_risk")
    settings.OVERSIGHT_REVALIDATION_MONTHS = {"tier_3": 6}
    assert _row(production, today)["interval_months"] == 6


def test_buckets_30_60_90_and_overdue(production, validator):
    start = dt.date.today() - dt.timedelta(days=5)
    _validated(production, validator, start)
    due = add_months(start, 12)
    assert _row(production, due - dt.timedelta(days=91))["bucket"] is None
    assert _row(production, due - dt.timedelta(days=90))["bucket"] == "due_90"
    assert _row(production, due - dt.timedelta(days=45))["bucket"] == "due_60"
    assert _row(production, due - dt.timedelta(days=30))["bucket"] == "due_30"
    assert _row(production, due)["bucket"] == "due_30"
    assert _row(production, due + dt.timedelta(days=1))["bucket"] == "overdue"
    assert selectors.revalidation_schedule(today=due - dt.timedelta(days=200), horizon_days=90) == []


def test_interval_override_by_risk_officers_only_and_audited(production, validator, developer, risk_officer):
    model = production.model
    registry_services.registered_model_update(
        by=as_user(risk_officer), model=model, data={"eu_ai_act_category": "minimal"}
    )
    with pytest.raises(PermissionRefused):
        services.revalidation_interval_set(by=as_user(developer), model=model, months=48, reason="Stable.")
    assert last_event("revalidation_interval.set.denied").actor_username == developer.username
    services.revalidation_interval_set(by=as_user(risk_officer), model=model, months=6, reason="Volatile market.")
    services.revalidation_interval_set(by=as_user(risk_officer), model=model, months=9, reason="Calmer.")
    assert [e.record_json["data"]["months"] for e in events("revalidation_interval.set")] == [
        {"before": None, "after": 6},
        {"before": 6, "after": 9},
    ]
    model.refresh_from_db()
    row = _row(production, dt.date.today())
    assert (row["interval_months"], row["interval_source"]) == (9, "override")


def test_an_eu_high_risk_model_cannot_be_given_more_than_a_year(production, risk_officer):
    with pytest.raises(ValidationFailed) as exc:
        services.revalidation_interval_set(by=as_user(risk_officer), model=production.model, months=24, reason="x")
    assert exc.value.field == "months"


def test_an_overdue_tier_1_model_flags_itself_on_a_fixed_clock(production, validator, travel):
    validated_on = dt.date.today()
    _validated(production, validator, validated_on)
    due = add_months(validated_on, 12)
    travel(due)  # due today: not overdue yet
    assert tasks.flag_overdue_revalidations() == []
    travel(due + dt.timedelta(days=1))
    flagged = tasks.flag_overdue_revalidations()
    flag = RevalidationFlag.objects.get()
    assert flagged == [flag.pk] and flag.model_version == production and flag.due_on == due
    event = last_event("revalidation_flag.raise")
    assert (
        event.actor_id == "celery:oversight.flag_overdue_revalidations"
        and event.record_json["data"]["due_on"] == due.isoformat()
    )
    assert tasks.flag_overdue_revalidations() == []  # one open flag per version
    # a completed revalidation resolves the flag
    travel(due + dt.timedelta(days=3))
    _validated(production, validator, due + dt.timedelta(days=3))
    flag.refresh_from_db()
    assert flag.resolved_at is not None and last_event("revalidation_flag.resolve") is not None
    assert _row(production, due + dt.timedelta(days=3))["bucket"] is None


def test_tier_2_models_are_listed_but_not_flagged(production, validator, risk_officer, travel):
    registry_services.registered_model_update(
        by=as_user(risk_officer), model=production.model, data={"risk_tier": "tier_2", "eu_ai_act_category": "minimal"}
    )
    _validated(production, validator, dt.date.today())
    travel(dt.date.today() + dt.timedelta(days=800))
    assert _row(production, dt.date.today() + dt.timedelta(days=800))["bucket"] == "overdue"
    assert tasks.flag_overdue_revalidations() == []


def test_a_production_version_never_validated_is_overdue(production):
    assert _row(production, dt.date.today() + dt.timedelta(days=1))["bucket"] == "overdue"


def test_command_flags_as_of_a_date(production, capsys):
    call_command("flag_overdue_revalidations", "--today", (dt.date.today() + dt.timedelta(days=2)).isoformat())
    assert "1 revalidation flag(s) raised" in capsys.readouterr().out
    assert RevalidationFlag.objects.filter(model_version=production).count() == 1

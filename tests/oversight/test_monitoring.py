"""Monitoring schedules (issue 17.4): a missed scheduled evaluation flags itself on a fixed clock (time
travel, not sleeps), is audited and e-mailed; the bad paths are refused and audited; each gated metric's
series is served over the API, paginated."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from governance.common.errors import Conflict, PermissionRefused, ValidationFailed
from governance.oversight import monitoring, services, tasks
from governance.oversight.models import MissedCheck, MonitoringSchedule
from tests.factories import evaluations as evaluation_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user
from tests.oversight.conftest import events, last_event

pytestmark = pytest.mark.django_db


def _weekly(version, by, **extra):
    return services.monitoring_schedule_create(
        by=as_user(by),
        version=version,
        kind="performance",
        cadence_days=7,
        grace_hours=24,
        description="Weekly AUC on the labelled applications of the week.",
        **extra,
    )


def _arrives(version, at: dt.datetime, auc: float = 0.8):
    """A performance evaluation that finished at ``at`` (a pipeline's weekly post)."""
    return wf.evaluation(
        version, kind="performance", metrics={"auc": auc}, age_days=(timezone.now() - at).total_seconds() / 86400
    )


def test_a_missed_scheduled_evaluation_flags_itself_on_a_fixed_clock(
    production, risk_officer, developer, travel, django_capture_on_commit_callbacks
):
    start = travel((timezone.now() + dt.timedelta(seconds=1)).replace(microsecond=0))
    schedule = _weekly(production, risk_officer, responsible=developer)
    assert schedule.starts_at == start and last_event("monitoring_schedule.create") is not None
    week = dt.timedelta(days=7)
    travel(start + week + dt.timedelta(hours=23))  # due, still within grace
    assert tasks.flag_missed_checks() == []
    assert [p["status"] for p in monitoring.schedule_periods(schedule)] == ["due", "upcoming"]
    mail.outbox.clear()
    travel(start + week + dt.timedelta(hours=25))  # grace over, nothing arrived
    with django_capture_on_commit_callbacks(execute=True):
        flagged = tasks.flag_missed_checks()
    missed = MissedCheck.objects.get()
    assert flagged == [missed.pk] and missed.due_at == start + week
    assert missed.grace_until == start + week + dt.timedelta(hours=24)
    event = last_event("monitoring_check.missed")
    assert event.actor_id == "celery:oversight.flag_missed_checks"
    assert event.record_json["data"]["due_at"] == (start + week).isoformat()
    assert len(mail.outbox) == 1 and "Missed performance check" in mail.outbox[0].subject
    assert developer.email in mail.outbox[0].to and risk_officer.email in mail.outbox[0].to
    assert tasks.flag_missed_checks() == []  # one flag per period, never twice
    # the second week's evaluation arrives (late in the week): that period is received
    _arrives(production, start + week + dt.timedelta(days=3))
    travel(start + 2 * week + dt.timedelta(hours=25))
    assert tasks.flag_missed_checks() == []
    assert [p["status"] for p in monitoring.schedule_periods(schedule)] == ["missed", "received", "upcoming"]
    state = monitoring.schedule_state(schedule)
    assert state["missed"] == 1 and state["received"] == 1 and state["open_missed_checks"] == 1
    assert state["next_due_at"] == start + 3 * week
    # a risk officer resolves the flag, with the reason on record
    services.missed_check_resolve(by=as_user(risk_officer), missed=missed, resolution="Label feed outage; re-run.")
    assert monitoring.schedule_state(schedule)["open_missed_checks"] == 0
    assert last_event("monitoring_check.resolve").record_json["reason"] == "Label feed outage; re-run."


def test_an_evaluation_late_within_grace_counts_once(production, risk_officer, travel):
    start = travel((timezone.now() + dt.timedelta(seconds=1)).replace(microsecond=0))
    schedule = _weekly(production, risk_officer)
    week = dt.timedelta(days=7)
    _arrives(production, start + week + dt.timedelta(hours=2))  # two hours late, within grace
    travel(start + 2 * week + dt.timedelta(hours=25))
    statuses = [p["status"] for p in monitoring.schedule_periods(schedule)]
    assert statuses == ["received", "missed", "upcoming"]
    assert len(tasks.flag_missed_checks()) == 1


def test_only_production_versions_of_active_schedules_are_checked(production, risk_officer, travel):
    start = travel((timezone.now() + dt.timedelta(seconds=1)).replace(microsecond=0))
    schedule = _weekly(production, risk_officer)
    services.monitoring_schedule_end(by=as_user(risk_officer), schedule=schedule, reason="Model replaced.")
    travel(start + dt.timedelta(days=30))
    assert tasks.flag_missed_checks() == []
    assert MonitoringSchedule.objects.get().is_active is False


def test_schedule_bad_paths_are_refused_audited_and_write_nothing(production, version, risk_officer, developer, travel):
    def refused(exc_type, field, **kwargs):
        with pytest.raises(exc_type) as exc:
            services.monitoring_schedule_create(**{"by": as_user(risk_officer), "version": production, **kwargs})
        assert exc.value.field == field, exc.value.message
        assert last_event("monitoring_schedule.create.denied").record_json["data"]["field"] == field

    refused(ValidationFailed, "cadence_days", kind="performance", cadence_days=0)
    refused(ValidationFailed, "grace_hours", kind="performance", cadence_days=1, grace_hours=24)
    refused(ValidationFailed, "kind", kind="fairness", cadence_days=7)
    refused(ValidationFailed, "kind", kind="drift", cadence_days=7)  # no reference sample registered
    with pytest.raises(PermissionRefused):
        services.monitoring_schedule_create(
            by=as_user(developer), version=production, kind="performance", cadence_days=7
        )
    assert not MonitoringSchedule.objects.exists()
    _weekly(production, risk_officer)
    refused(Conflict, "kind", kind="performance", cadence_days=7)
    assert MonitoringSchedule.objects.count() == 1
    assert len(events("monitoring_schedule.create.denied")) == 6


def test_a_drift_schedule_needs_the_reference_sample_and_a_production_version(production, developer, risk_officer):
    evaluation_factories.reference_sample(production, developer)
    schedule = services.monitoring_schedule_create(
        by=as_user(risk_officer), version=production, kind="drift", cadence_days=30, grace_hours=48
    )
    assert schedule.kind == "drift"


def test_a_version_not_in_production_is_refused(version, risk_officer):
    with pytest.raises(ValidationFailed) as exc:
        services.monitoring_schedule_create(
            by=as_user(risk_officer), version=version, kind="performance", cadence_days=7
        )
    assert exc.value.field == "model_version" and "production" in exc.value.message


# --- API --------------------------------------------------------------------------------------------------------


def test_schedules_and_missed_checks_over_the_api(api_for, production, risk_officer, auditor, validator, travel):
    start = travel((timezone.now() + dt.timedelta(seconds=1)).replace(microsecond=0))
    officer = api_for(risk_officer)
    body = {"model_version": production.pk, "kind": "performance", "cadence_days": 7, "grace_hours": 12}
    response = officer.post("/api/v1/monitoring/schedules/", body, format="json", HTTP_IDEMPOTENCY_KEY="weekly")
    assert response.status_code == 201, response.json()
    again = officer.post("/api/v1/monitoring/schedules/", body, format="json", HTTP_IDEMPOTENCY_KEY="weekly")
    assert again.status_code == 201 and again.json()["id"] == response.json()["id"]
    bad = officer.post("/api/v1/monitoring/schedules/", {**body, "cadence_days": 0}, format="json")
    assert bad.status_code == 400 and "cadence_days" in bad.json()["error"]["fields"]
    travel(start + dt.timedelta(days=7, hours=13))
    tasks.flag_missed_checks()
    reader = api_for(auditor)
    listed = reader.get("/api/v1/monitoring/missed-checks/?open=true").json()
    assert listed["count"] == 1 and listed["results"][0]["kind"] == "performance"
    missed_id = listed["results"][0]["id"]
    schedule = reader.get(f"/api/v1/monitoring/schedules/{response.json()['id']}/").json()
    assert schedule["state"]["missed"] == 1 and schedule["state"]["open_missed_checks"] == 1
    denied = api_for(validator).post(
        f"/api/v1/monitoring/missed-checks/{missed_id}/resolve/", {"resolution": "x"}, format="json"
    )
    assert denied.status_code == 403
    done = officer.post(f"/api/v1/monitoring/missed-checks/{missed_id}/resolve/", {"resolution": "ok"}, format="json")
    assert done.status_code == 200 and done.json()["resolved_by"] == risk_officer.username
    assert reader.get("/api/v1/monitoring/missed-checks/?open=true").json()["count"] == 0


def test_each_gated_metric_series_is_served_paginated(api_for, production, auditor):
    for auc in (0.79, 0.77, 0.74):
        wf.evaluation(production, kind="performance", metrics={"auc": auc, "gini": 2 * auc - 1})
    reader = api_for(auditor)
    listed = reader.get(f"/api/v1/versions/{production.pk}/series/").json()
    gated = {(m["kind"], m["metric"]) for m in listed["metrics"]}
    assert ("performance", "auc") in gated and ("drift", "max_psi") in gated
    page = reader.get(f"/api/v1/versions/{production.pk}/series/?metric=auc&page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]  # 1 from the promotion + 3
    assert page["comparator"] == ">=" and page["threshold"] == "0.7" and page["kind"] == "performance"
    assert page["results"][0]["evaluated_at"] <= page["results"][1]["evaluated_at"]
    rest = reader.get(page["next"]).json()
    assert [p["value"] for p in rest["results"]][-2:] == ["0.77", "0.74"]
    bad = reader.get(f"/api/v1/versions/{production.pk}/series/?metric=nonsense")
    assert bad.status_code == 400 and "kind" in bad.json()["error"]["fields"]


def test_celery_beat_runs_the_missed_check_job_hourly():
    from celery import current_app
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["oversight-flag-missed-checks"]
    assert entry["task"] == "oversight.flag_missed_checks" and entry["schedule"] == 3600.0
    assert "oversight.flag_missed_checks" in current_app.tasks

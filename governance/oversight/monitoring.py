"""Reads for monitoring after promotion (issue 17.4, 17.5): the periods of a monitoring schedule and
which ones were received or missed, the series of each gated metric (for trend charts), and the
EU AI Act post-market monitoring plan of a model as one record (for the EU pack).

Kept apart from ``selectors`` because it reads the workflow's policies (the gated metrics and their
thresholds), and the workflow's gate already reads ``oversight.selectors``.

A schedule's check ``k`` (k = 1, 2, ...) is due at ``starts_at + k * cadence``. It is received when an
evaluation of the schedule's kind of the version finished after the previous check's grace ended (after
``starts_at`` for the first check) and by ``due + grace``; it is missed when nothing did and the clock is
past ``due + grace``. Grace is shorter than the cadence, so the windows are consecutive and disjoint.
"""

from __future__ import annotations

import bisect
import datetime as dt

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce

from governance.evaluations.models import Evaluation, EvaluationStatus
from governance.oversight import clock
from governance.oversight.models import PLAN_FIELDS, MissedCheck, MonitoringSchedule, PostMarketPlan
from governance.registry.models import ModelVersion, RegisteredModel
from governance.workspace.selectors import gated_metrics

MAX_PERIODS = 3660  # a daily schedule over ten years; older periods are not examined

RECEIVED, MISSED, DUE, UPCOMING = "received", "missed", "due", "upcoming"


def schedule_list() -> QuerySet[MonitoringSchedule]:
    return MonitoringSchedule.objects.select_related("model_version__model", "responsible", "created_by")


def missed_check_list() -> QuerySet[MissedCheck]:
    return MissedCheck.objects.select_related("schedule__model_version__model", "resolved_by")


def open_missed_checks() -> QuerySet[MissedCheck]:
    return missed_check_list().filter(resolved_at__isnull=True)


def _arrivals(schedule: MonitoringSchedule) -> list[tuple[dt.datetime, int]]:
    return sorted(
        Evaluation.objects.filter(
            model_version_id=schedule.model_version_id, kind=schedule.kind, status=EvaluationStatus.DONE
        )
        .annotate(at=Coalesce(F("finished_at"), F("created_at")))
        .values_list("at", "pk")
    )


def schedule_periods(schedule: MonitoringSchedule, *, now: dt.datetime | None = None) -> list[dict]:
    """Every check of ``schedule`` due up to ``now`` (and the next upcoming one, while the schedule is
    active), oldest first: ``{"due_at", "grace_until", "status", "evaluation_id"}`` with status
    received | missed | due (within grace) | upcoming."""
    now = now or clock.now()
    cadence = dt.timedelta(days=schedule.cadence_days)
    grace = dt.timedelta(hours=schedule.grace_hours)
    end = min(schedule.ended_at, now) if schedule.ended_at else now
    arrivals = _arrivals(schedule)
    times = [at for at, _ in arrivals]
    first = 1
    elapsed = (end - schedule.starts_at) // cadence if end > schedule.starts_at else 0
    if elapsed > MAX_PERIODS:
        first = elapsed - MAX_PERIODS + 1
    rows = []
    k = first
    while True:
        due = schedule.starts_at + k * cadence
        if due > end:
            if schedule.is_active and not schedule.ended_at:
                rows.append({"due_at": due, "grace_until": due + grace, "status": UPCOMING, "evaluation_id": None})
            break
        # the first arrival after the previous check's grace ended (the start, for the first check)
        # and by this one's due time plus grace: consecutive windows never overlap
        lower = due - cadence + grace if k > 1 else schedule.starts_at
        i = bisect.bisect_right(times, lower)
        evaluation_id = arrivals[i][1] if i < len(times) and times[i] <= due + grace else None
        if evaluation_id is not None:
            status = RECEIVED
        elif now > due + grace:
            status = MISSED
        else:
            status = DUE
        rows.append({"due_at": due, "grace_until": due + grace, "status": status, "evaluation_id": evaluation_id})
        k += 1
    return rows


def schedule_state(schedule: MonitoringSchedule, *, now: dt.datetime | None = None) -> dict:
    """Summary for pages, the API and packs: next due time, last received, counts by status, open flags."""
    periods = schedule_periods(schedule, now=now)
    upcoming = [p for p in periods if p["status"] in (DUE, UPCOMING)]
    received = [p for p in periods if p["status"] == RECEIVED]
    return {
        "next_due_at": upcoming[0]["due_at"] if upcoming else None,
        "last_received_due_at": received[-1]["due_at"] if received else None,
        "received": len(received),
        "missed": sum(1 for p in periods if p["status"] == MISSED),
        "open_missed_checks": schedule.missed_checks.filter(resolved_at__isnull=True).count(),
    }


# --- metric series ----------------------------------------------------------------------------------------------


def gated_metric_list(version: ModelVersion) -> list[dict]:
    """The metrics the model's current policies gate on (production first), with their rule."""
    return _gated(version.model)


def metric_series(version: ModelVersion, *, kind: str, metric: str) -> QuerySet[Evaluation]:
    """The finished evaluations of ``version`` that can carry ``metric`` (its kind, or reported metrics),
    oldest first; the caller reads the value from each (``series_point``)."""
    return (
        Evaluation.objects.filter(
            model_version=version, status=EvaluationStatus.DONE, kind__in=sorted({kind, "reported"})
        )
        .annotate(at=Coalesce(F("finished_at"), F("created_at")))
        .order_by("at", "pk")
    )


def series_point(evaluation: Evaluation, metric: str) -> dict | None:
    """One point of a series, or None when the evaluation does not carry the metric."""
    metrics = evaluation.metrics or {}
    if metric in metrics:
        value = metrics[metric]
    elif ":" in metric:  # a per-feature drift metric, e.g. psi:income
        name, feature = metric.split(":", 1)
        row = next((f for f in (evaluation.result or {}).get("features", []) if f.get("feature") == feature), None)
        if row is None or name not in row:
            return None
        value = row[name]
    else:
        return None
    return {
        "evaluation_id": evaluation.pk,
        "kind": evaluation.kind,
        "dataset": evaluation.dataset,
        "source": evaluation.source,
        "evaluated_at": evaluation.finished_at or evaluation.created_at,
        "value": None if value is None else str(value),
    }


# --- the post-market monitoring plan ----------------------------------------------------------------------------


def post_market_plan(model: RegisteredModel, *, now: dt.datetime | None = None) -> dict | None:
    """The post-market monitoring plan of ``model`` as one record (None when none is written):

    ``{"model", "revision", "updated_at", "updated_by", "narrative": {monitored, data_collection,
    responsibilities, thresholds, review_cadence}, "schedules": [...], "thresholds": [...]}`` where each
    schedule is ``{"id", "version", "kind", "cadence_days", "grace_hours", "starts_at", "responsible",
    "description", "is_active", "next_due_at", "received", "missed", "missed_checks": [...]}`` (active
    schedules of the model's versions, and ended ones for the record) and ``thresholds`` are the gated
    metrics of the model's current policies. Stable order, so packs render the same bytes."""
    plan = PostMarketPlan.objects.filter(model=model).select_related("updated_by").first()
    if plan is None:
        return None
    schedules = []
    for schedule in schedule_list().filter(model_version__model=model).order_by("model_version_id", "kind", "pk"):
        state = schedule_state(schedule, now=now)
        schedules.append(
            {
                "id": schedule.pk,
                "version": schedule.model_version.version,
                "kind": schedule.kind,
                "cadence_days": schedule.cadence_days,
                "grace_hours": schedule.grace_hours,
                "starts_at": schedule.starts_at,
                "responsible": schedule.responsible.username if schedule.responsible else None,
                "description": schedule.description,
                "is_active": schedule.is_active,
                "next_due_at": state["next_due_at"],
                "received": state["received"],
                "missed": state["missed"],
                "missed_checks": [
                    {
                        "due_at": m.due_at,
                        "detected_at": m.detected_at,
                        "resolved_at": m.resolved_at,
                        "resolution": m.resolution,
                    }
                    for m in schedule.missed_checks.order_by("due_at", "pk")
                ],
            }
        )
    return {
        "model": model.name,
        "revision": plan.revision,
        "updated_at": plan.updated_at,
        "updated_by": plan.updated_by.username,
        "narrative": {name: getattr(plan, name) for name in PLAN_FIELDS},
        "schedules": schedules,
        "thresholds": _gated(model),
    }


def _gated(model: RegisteredModel) -> list[dict]:
    return [
        {
            "kind": m["kind"],
            "metric": m["metric"],
            "comparator": m["comparator"],
            "threshold": m["threshold"],
            "stage": m["stage"],
            "policy": str(m["policy"]),
        }
        for m in gated_metrics(model)
    ]

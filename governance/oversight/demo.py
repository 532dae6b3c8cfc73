"""Demo step for ``seed_demo`` (idempotent): one completed validation of the production scorecard with
two findings (one closed, one open with a due date), one serious incident awaiting its initial report,
a weekly performance monitoring schedule whose first check was missed (flagged by the same job as Celery
beat runs), and the model's post-market monitoring plan, all through the real services."""

from __future__ import annotations

import datetime as dt

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.oversight import clock, services
from governance.oversight.models import MonitoringSchedule, PostMarketPlan, SeriousIncident, Validation
from governance.registry.models import ModelVersion, Stage

MODEL_NAME = "german-credit-scoring"
PIPELINE = "credit-pipeline"


def seed(command, by: Principal) -> None:
    version = (
        ModelVersion.objects.filter(model__name=MODEL_NAME, stage=Stage.PRODUCTION).select_related("model").first()
    )
    people = {
        u.username: u
        for u in User.objects.filter(username__in=["dana.developer", "victor.validator", "rita.risk", PIPELINE])
    }
    pipeline = people.pop(PIPELINE, None)
    if version is None or len(people) < 3:
        command.stderr.write("  oversight: no production version or demo people; skipped")
        return
    dana = people["dana.developer"]
    as_ = {name: Principal.for_user(user, auth="cli") for name, user in people.items()}
    today = clock.today()
    if not Validation.objects.filter(model_version=version).exists():
        validation = services.validation_start(
            by=as_["victor.validator"],
            version=version,
            scope="Initial independent validation: conceptual soundness, outcomes analysis on the hold-out, "
            "fairness by sex and age band, implementation check of the exported scorecard.",
            started_on=today - dt.timedelta(days=20),
        )
        closed = services.finding_create(
            by=as_["victor.validator"],
            validation=validation,
            severity="high",
            description="The exported scorecard's coefficients were not reconciled with the training run.",
            owner=dana,
            due_date=today - dt.timedelta(days=5),
        )
        services.finding_create(
            by=as_["victor.validator"],
            validation=validation,
            severity="medium",
            description="Disparate impact by age band is close to the 0.8 threshold; monitor monthly.",
            owner=dana,
            due_date=today + dt.timedelta(days=45),
        )
        services.finding_propose_remediation(
            by=as_["dana.developer"], finding=closed, remediation="Coefficients reconciled; checksum in the artifact."
        )
        services.finding_close(by=as_["victor.validator"], finding=closed, note="Reconciliation reviewed.")
        services.validation_complete(
            by=as_["victor.validator"],
            validation=validation,
            conclusion="fit with conditions",
            summary="Fit for use provided the age-band disparity is monitored monthly.",
        )
        command.stderr.write(f"  validation of {version} completed with two findings (one closed, one open)")
    if not SeriousIncident.objects.filter(model_version=version).exists():
        incident = services.serious_incident_record(
            by=as_["rita.risk"],
            version=version,
            description="Applicants from one branch were refused for three days after a data-feed fault.",
            aware_at=clock.now() - dt.timedelta(days=3),
            affected_persons="About 120 credit applicants at the Northern branch.",
            causal_link="The scorecard scored a defaulted feature value; refusals followed its scores.",
            category="general",
        )
        command.stderr.write(
            f"  serious incident {incident.pk} recorded (report due {incident.reporting_deadline:%Y-%m-%d})"
        )

    if not MonitoringSchedule.objects.filter(model_version=version).exists():
        # started nine days ago: the first weekly check fell due two days ago and nothing arrived in time
        # (the demo's evaluations were posted now, so they answer the second check)
        schedule = services.monitoring_schedule_create(
            by=as_["rita.risk"],
            version=version,
            kind="performance",
            cadence_days=7,
            grace_hours=24,
            starts_at=clock.now() - dt.timedelta(days=9),
            description="Weekly AUC, Gini and KS on the applications whose outcome became known that week, "
            "posted by the credit pipeline.",
            responsible=pipeline,
        )
        flagged = services.missed_checks_flag(by=Principal.system("seed_demo:oversight.flag_missed_checks"))
        command.stderr.write(f"  monitoring schedule {schedule.pk}: {len(flagged)} missed check(s) flagged")
    if not PostMarketPlan.objects.filter(model=version.model).exists():
        services.post_market_plan_set(
            by=as_["rita.risk"],
            model=version.model,
            monitored="Drift of the application data against the training reference (PSI per feature), the "
            "scorecard's discrimination (AUC, Gini, KS) once outcomes are known, and the disparate impact by sex "
            "and age band.",
            data_collection="The credit pipeline posts weekly evaluations of the scored applications; outcomes "
            "are joined after the 90-day observation window. Complaints and overrides are logged by the branch "
            "network and reviewed monthly.",
            responsibilities="The model owner (Dana Developer) runs the pipelines; the validator (Victor "
            "Validator) reviews the monthly results; the risk officers (Rita Risk) decide on review flags, "
            "missed checks and serious incidents.",
            thresholds="AUC below 0.70, a max PSI above 0.2, or a disparate impact ratio below 0.8 raises a "
            "review flag; two consecutive flags open a revalidation. A serious incident is reported under "
            "Art. 73.",
            review_cadence="The plan is reviewed with each annual revalidation.",
        )
        command.stderr.write(f"  post-market monitoring plan of {version.model.name} written")

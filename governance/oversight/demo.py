"""Demo step for ``seed_demo`` (idempotent): one completed validation of the production scorecard with
two findings (one closed, one open with a due date) and one serious incident awaiting its initial report,
all through the real services."""

from __future__ import annotations

import datetime as dt

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.oversight import clock, services
from governance.oversight.models import SeriousIncident, Validation
from governance.registry.models import ModelVersion, Stage

MODEL_NAME = "german-credit-scoring"


def seed(command, by: Principal) -> None:
    version = (
        ModelVersion.objects.filter(model__name=MODEL_NAME, stage=Stage.PRODUCTION).select_related("model").first()
    )
    people = {
        u.username: u for u in User.objects.filter(username__in=["dana.developer", "victor.validator", "rita.risk"])
    }
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

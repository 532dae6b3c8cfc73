"""Real objects of every kind the permission matrices address, made through the services
(tests/security/test_permission_matrix.py, tests/security/test_admin_permission_matrix.py)."""

from __future__ import annotations

from django.db import transaction


def make_objects(settings, *, developer, auditor, risk_officer, pipeline, validator=None) -> dict:
    from governance.accounts.services import api_token_issue
    from governance.integrations.mlflow import services as mlflow_services
    from governance.integrations.webhooks import services as webhook_services
    from governance.reports.services import pack_request
    from tests.factories import workflow
    from tests.factories.accounts import ADMIN, as_user
    from tests.factories.registry import model_version

    settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS = ["127.0.0.1"]
    settings.WEBHOOKS_ALLOW_HTTP = True
    version = model_version(user=developer)
    workflow.good_evidence(version)
    req = workflow.request(version, developer)
    token, _ = api_token_issue(by=ADMIN, user=pipeline)
    subscription, _ = webhook_services.subscription_create(
        by=as_user(risk_officer), url="http://127.0.0.1:9/hooks", events=["promotion_request.created"]
    )
    deliveries = webhook_services.deliveries_create("promotion_request.created", request_id=req.pk)
    pack = pack_request(by=as_user(auditor), version=version, regime="sr11-7")
    link = mlflow_services.mlflow_link_create(
        by=as_user(risk_officer),
        model=version.model,
        tracking_uri="http://127.0.0.1:9",
        mlflow_name="credit",
        check_remote=False,
    )
    with transaction.atomic():  # as the bridge's sync does, inside its own unit of work
        flag = mlflow_services._raise_flag(
            by=ADMIN, model=version.model, kind="alias_out_of_band", summary="Alias moved in MLflow.", details={}
        )
        write = mlflow_services._queue_alias_write(
            by=ADMIN, link=link, alias="champion", version=None, reason="Test of the admin action."
        )
    oversight = _oversight(version, developer=developer, risk_officer=risk_officer, validator=validator)
    return {
        **oversight,
        "version": version,
        "request": req,
        "fresh_request": lambda: workflow.request(
            _fresh_version(version, developer), developer, reason="Another candidate."
        ),
        "accounts.apitoken": token.pk,
        "webhooks.webhooksubscription": subscription.pk,
        "webhooks.webhookdelivery": deliveries[0].pk if deliveries else None,
        "reports.documentationpack": pack.pk,
        "mlflow_bridge.mlflowlink": link.pk,
        "mlflow_bridge.mlflowflag": flag.pk,
        "mlflow_bridge.mlflowaliaswrite": write.pk,
    }


def _oversight(version, *, developer, risk_officer, validator) -> dict:
    """A validation with a finding, a serious incident and a post-market plan (monitoring schedules
    need a version in production, which the matrix's version is not)."""
    import datetime as dt

    from django.utils import timezone

    from governance.oversight import services
    from tests.factories.accounts import as_user

    if validator is None:
        return {}
    validation = services.validation_start(by=as_user(validator), version=version, scope="Full revalidation.")
    finding = services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="low",
        description="Calibration drifts on thin-file applicants.",
        owner=developer,
        due_date=dt.date.today() + dt.timedelta(days=30),
    )
    incident = services.serious_incident_record(
        by=as_user(risk_officer),
        version=version,
        description="Applicants in one region were refused credit for a week.",
        aware_at=timezone.now() - dt.timedelta(hours=2),
        affected_persons="About 400 applicants in region North.",
        causal_link="The model's score drove the refusals; the region feature drifted.",
    )
    plan = services.post_market_plan_set(
        by=as_user(risk_officer),
        model=version.model,
        monitored="Score drift against the reference sample; AUC once defaults are known.",
        data_collection="Weekly extract of scored applications; outcomes joined after 90 days.",
        responsibilities="The owner runs the pipelines; the validator reviews monthly; risk officers act.",
        thresholds="AUC below 0.70 or max PSI above 0.2 raises a review flag.",
    )
    return {
        "oversight.validation": validation.pk,
        "oversight.finding": finding.pk,
        "oversight.seriousincident": incident.pk,
        "oversight.postmarketplan": plan.pk,
    }


def _fresh_version(version, developer):
    from tests.factories import workflow
    from tests.factories.registry import model_version

    other = model_version(model=version.model, user=developer)
    workflow.good_evidence(other)
    return other

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
    imported = _mlflow_import(link)
    return {
        **oversight,
        "mlflow_bridge.mlflowversionimport": imported.pk,
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
    """A validation with a finding, a serious incident and a post-market plan; a committee, a monitoring
    schedule and a missed check on a production version of another model (the matrix's version stays in
    development)."""
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
        **_governance_in_production(developer=developer, risk_officer=risk_officer, validator=validator),
        "oversight.validation": validation.pk,
        "oversight.finding": finding.pk,
        "oversight.seriousincident": incident.pk,
        "oversight.postmarketplan": plan.pk,
    }


def _mlflow_import(link):
    """An MLflow version imported through the bridge's service, with the facts a sync would have read
    from MLflow given directly (the service's ``facts=``): no MLflow server is needed for the rows
    that only read or address the import."""
    import datetime as dt

    from governance.integrations.mlflow import services as mlflow_services
    from tests.factories.accounts import ADMIN

    facts = mlflow_services.VersionFacts(
        version="1",
        status="READY",
        run_id="0123456789abcdef0123456789abcdef",
        source="mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts/model",
        download_uri="mlflow-artifacts:/1/0123456789abcdef0123456789abcdef/artifacts/model",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        parameters={"C": "1.0"},
        datasets=[],
        manifest=mlflow_services.ArtifactManifest(
            files=[{"path": "model.pkl", "size": 3, "sha256": "ab" * 32}], framework="sklearn"
        ),
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    return mlflow_services.mlflow_version_import(by=ADMIN, link=link, version="1", facts=facts)


def _governance_in_production(*, developer, risk_officer, validator) -> dict:
    """A version of its own model moved to production by the workflow, with a committee for that model,
    a monitoring schedule that started ten days ago (weekly, one day's grace) and the missed check the
    beat's flagging raised for its first week."""
    import datetime as dt

    from django.utils import timezone

    from governance.accounts.principal import Principal
    from governance.oversight import services
    from governance.oversight.models import MonitoringSchedule
    from governance.workflow import committees
    from tests.factories import workflow
    from tests.factories.accounts import as_user
    from tests.factories.registry import model_version

    version = model_version(user=developer)
    workflow.good_evidence(version)
    workflow.approve(workflow.request(version, developer, "staging"), validator)
    req = workflow.request(version, developer, "production")
    workflow.approve(req, validator)
    workflow.approve(req, risk_officer)
    committee = committees.committee_create(
        by=as_user(risk_officer),
        name=f"Production committee of {version.model.name}",
        target_stage="production",
        model=version.model,
        quorum=2,
        members=[{"user": validator, "role": "validator"}, {"user": risk_officer, "role": "risk_officer"}],
    )

    def weekly():
        return services.monitoring_schedule_create(
            by=as_user(risk_officer),
            version=version,
            kind="performance",
            cadence_days=7,
            grace_hours=24,
            starts_at=timezone.now() - dt.timedelta(days=10),
            description="Weekly AUC on the labelled applications of the week.",
        )

    def active_schedule() -> int:
        """The version's active performance schedule, a new one once the last has been ended."""
        current = MonitoringSchedule.objects.filter(model_version=version, kind="performance", is_active=True).first()
        return (current or weekly()).pk

    schedule = weekly()
    missed = services.missed_checks_flag(by=Principal.system("celery:oversight.flag_missed_checks", auth="celery"))
    assert [m.schedule_id for m in missed] == [schedule.pk]
    return {
        "workflow.committee": committee.pk,
        "oversight.monitoringschedule": schedule.pk,
        "oversight.missedcheck": missed[0].pk,
        "oversight.active_schedule": active_schedule,
    }


def _fresh_version(version, developer):
    from tests.factories import workflow
    from tests.factories.registry import model_version

    other = model_version(model=version.model, user=developer)
    workflow.good_evidence(other)
    return other

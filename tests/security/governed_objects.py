"""Real objects of every kind the permission matrices address, made through the services
(tests/security/test_permission_matrix.py, tests/security/test_admin_permission_matrix.py)."""

from __future__ import annotations

from django.db import transaction


def make_objects(settings, *, developer, auditor, risk_officer, pipeline) -> dict:
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
    return {
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


def _fresh_version(version, developer):
    from tests.factories import workflow
    from tests.factories.registry import model_version

    other = model_version(model=version.model, user=developer)
    workflow.good_evidence(other)
    return other

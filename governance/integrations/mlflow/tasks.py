"""Celery tasks of the MLflow bridge (thin: they call the services).

- ``mlflow.sync_all`` (Celery beat, every MLFLOW_SYNC_INTERVAL seconds): reconcile every link and
  retry the alias writes that are due. A link whose MLflow is down is recorded as such and retried
  at the next run; the others go on.
- ``mlflow.process_delivery``: the work of one verified webhook delivery.
- ``mlflow.alias_write``: one governed alias write; on failure it is rescheduled with backoff.
- ``mlflow.notify_flag``: e-mail the model's owner and the risk officers about a review flag.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from audit.context import request_context
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER

logger = logging.getLogger(__name__)
SYNC = Principal.system("celery:mlflow.sync_all", auth="celery")


@shared_task(name="mlflow.sync_all")
def sync_all() -> dict:
    from governance.common.errors import Unavailable
    from governance.integrations.mlflow import services
    from governance.integrations.mlflow.models import MlflowLink

    out = {}
    with request_context(origin="celery"):
        for link in MlflowLink.objects.select_related("model"):
            try:
                summary = services.mlflow_link_sync(by=SYNC, link=link)
                out[link.model.name] = {"imported": summary["imported"], "changed": summary["changed"]}
            except Unavailable as exc:
                out[link.model.name] = {"error": exc.message}
        services.mlflow_alias_writes_flush(due_only=True)
    return out


@shared_task(name="mlflow.process_delivery", bind=True, max_retries=5)
def process_delivery(self, delivery_id: int) -> dict:
    from governance.common.errors import Unavailable
    from governance.integrations.mlflow import services
    from governance.integrations.mlflow.models import DeliveryStatus, MlflowDelivery

    delivery = MlflowDelivery.objects.get(pk=delivery_id)
    with request_context(origin="celery"):
        try:
            result = services.mlflow_delivery_process(delivery=delivery)
            status = DeliveryStatus.PROCESSED
        except Unavailable as exc:
            result, status = {"error": exc.message}, DeliveryStatus.FAILED
            MlflowDelivery.objects.filter(pk=delivery.pk).update(status=status, result=result)
            if settings.CELERY_BROKER_URL:  # the periodic sync covers it as well
                raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 1800)) from exc
            return result
        except Exception as exc:
            logger.exception("MLflow delivery %s failed", delivery.delivery_id)
            result, status = {"error": str(exc)[:500]}, DeliveryStatus.FAILED
    MlflowDelivery.objects.filter(pk=delivery.pk).update(status=status, result=result)
    return result


@shared_task(name="mlflow.alias_write")
def alias_write(write_id: int) -> str:
    from governance.integrations.mlflow import services
    from governance.integrations.mlflow.models import MlflowAliasWrite

    with request_context(origin="celery"):
        write = MlflowAliasWrite.objects.get(pk=write_id)
        return services.mlflow_alias_write_attempt(write=write).status


def schedule_alias_retry(write) -> None:
    """With a broker, retry at ``next_attempt_at``; without one, ``mlflow.sync_all`` (beat) or
    ``manage.py mlflow_sync`` picks it up."""
    if not settings.CELERY_BROKER_URL:
        return
    try:
        alias_write.apply_async((write.pk,), eta=write.next_attempt_at)
    except Exception:
        logger.exception("could not schedule the retry of alias write %s", write.pk)


@shared_task(name="mlflow.notify_flag")
def notify_flag(flag_id: int) -> int:
    from governance.integrations.mlflow.models import MlflowFlag

    flag = MlflowFlag.objects.select_related("model__owner").get(pk=flag_id)
    officers = User.objects.filter(is_active=True, groups__name=RISK_OFFICER).values_list("email", flat=True)
    recipients = sorted({e for e in [flag.model.owner.email, *officers] if e})
    if not recipients:
        return 0
    body = (
        f"{flag.summary}\n\nKind: {flag.get_kind_display()}\nDetails: {flag.details}\n\n"
        f"Review it in the admin: /admin/mlflow_bridge/mlflowflag/{flag.pk}/change/\n"
    )
    return send_mail(f"[mlgov] MLflow review needed: {flag.model.name}", body, settings.DEFAULT_FROM_EMAIL, recipients)

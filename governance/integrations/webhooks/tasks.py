"""Celery tasks of outbound webhooks: one attempt of a delivery, the sweep of due retries (beat),
and the e-mail to a subscription's owner when it was disabled after persistent failure."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from audit.context import request_context


@shared_task(name="webhooks.deliver", ignore_result=True)
def deliver(delivery_id: int) -> None:
    """One attempt (a no-op when the delivery is not due or another worker holds it)."""
    from governance.integrations.webhooks import services

    with request_context(origin="celery"):
        services.delivery_attempt(delivery_id)


@shared_task(name="webhooks.deliver_due", ignore_result=True)
def deliver_due() -> int:
    """Beat: enqueue one ``webhooks.deliver`` per delivery whose retry is due (or whose worker died)."""
    from governance.integrations.webhooks import services

    due = services.deliveries_due()
    for pk in due:
        deliver.delay(pk)
    return len(due)


@shared_task(name="webhooks.purge_deliveries", ignore_result=True)
def purge_deliveries() -> int:
    """Beat (daily): finished deliveries older than WEBHOOKS_DELIVERY_RETENTION_DAYS are deleted."""
    from governance.integrations.webhooks import services

    return services.deliveries_purge()


@shared_task(name="webhooks.notify_disabled")
def notify_disabled(subscription_id: int) -> int:
    from governance.integrations.webhooks.models import WebhookSubscription

    sub = WebhookSubscription.objects.select_related("owner").get(pk=subscription_id)
    if not sub.owner.email:
        return 0
    body = (
        f"The webhook subscription #{sub.pk} to {sub.url} was disabled on {sub.disabled_at:%Y-%m-%d %H:%M} UTC.\n"
        f"Reason: {sub.disabled_reason}\n\n"
        "Fix the receiver, then enable the subscription again and redeliver the failed deliveries in the admin: "
        f"/admin/webhooks/webhooksubscription/{sub.pk}/change/\n"
    )
    return send_mail(
        f"[mlgov] Webhook subscription #{sub.pk} disabled", body, settings.DEFAULT_FROM_EMAIL, [sub.owner.email]
    )

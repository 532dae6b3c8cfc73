"""Subscribers: domain events (governance.common.events) and audit-log signals become deliveries."""

from __future__ import annotations

from collections.abc import Callable

from governance.integrations.webhooks import catalogue


def _handler(event: str) -> Callable[..., object]:
    def handler(**payload):
        from governance.integrations.webhooks.services import deliveries_create

        return deliveries_create(event, **payload)

    handler.__qualname__ = f"webhooks[{event}]"
    return handler


DOMAIN_HANDLERS = {event: _handler(event) for event in catalogue.DOMAIN_EVENTS}


def on_checkpoint_signed(sender, checkpoint, **kwargs):
    from governance.integrations.webhooks.services import deliveries_create

    deliveries_create("audit.checkpoint_signed", checkpoint=checkpoint)


def on_verification_failed(sender, verification, **kwargs):
    from governance.integrations.webhooks.services import deliveries_create

    deliveries_create("audit.verification_failed", verification=verification)


def on_deliveries_queued(*, delivery_ids: list[int]) -> None:
    """Send each new (or redelivered) delivery on a worker, after the commit that created it."""
    from governance.integrations.webhooks import tasks

    for pk in delivery_ids:
        tasks.deliver.delay(pk)


def on_subscription_disabled(*, subscription_id: int) -> None:
    from governance.integrations.webhooks import tasks

    tasks.notify_disabled.delay(subscription_id)


# Services announce; these queue the tasks (services never import tasks).
QUEUE_HANDLERS: dict[str, Callable[..., object]] = {
    "webhook_delivery.queued": on_deliveries_queued,
    "webhook_subscription.disabled": on_subscription_disabled,
}

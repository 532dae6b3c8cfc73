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

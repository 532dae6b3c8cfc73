from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "governance.integrations.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import signals as audit_signals
        from audit.registry import register_event_types
        from audit.state import register_replayer
        from governance.common.events import subscribe
        from governance.integrations.webhooks import handlers
        from governance.integrations.webhooks.state import WebhooksReplayer

        register_replayer(WebhooksReplayer)
        register_event_types(
            self.label,
            "webhook_subscription.create",
            "webhook_subscription.update",
            "webhook_subscription.rotate_secret",
            "webhook_subscription.disable",
            "webhook_subscription.enable",
            "webhook_delivery.redeliver",
        )

        for event, handler in {**handlers.DOMAIN_HANDLERS, **handlers.QUEUE_HANDLERS}.items():
            subscribe(event, handler)
        audit_signals.checkpoint_signed.connect(handlers.on_checkpoint_signed, dispatch_uid="webhooks.checkpoint")
        audit_signals.verification_failed.connect(
            handlers.on_verification_failed, dispatch_uid="webhooks.verification_failed"
        )

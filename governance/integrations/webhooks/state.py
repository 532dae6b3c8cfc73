"""Replays subscription events to rebuild the webhook subscriptions (audit.state, ``audit_verify
--state``). The log records a subscription's URL without its query string (``redacted_url``), so
the URL is compared that way; the secret is never audited and is not replayed."""

from __future__ import annotations

from audit.state import Divergence, as_recorded, compare_rows
from governance.integrations.webhooks.models import WebhookSubscription
from governance.integrations.webhooks.services import redacted_url


class WebhooksReplayer:
    name = "webhooks"
    actions = (
        "webhook_subscription.create",
        "webhook_subscription.update",
        "webhook_subscription.disable",
        "webhook_subscription.enable",
    )

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        if action == "webhook_subscription.create":
            self.subscriptions[key] = {
                "url": target.get("url"),
                "events": data.get("events"),
                "description": data.get("description"),
                "owner": data.get("owner"),
                "is_active": True,
                "disabled_reason": "",
            }
            return
        sub = self.subscriptions.setdefault(key, {})
        if action == "webhook_subscription.update":
            for name, change in (data.get("changes") or {}).items():
                sub[name] = change.get("after")
            sub["url"] = target.get("url")
        elif action == "webhook_subscription.disable":
            sub.update({"is_active": False, "disabled_reason": record.get("reason") or ""})
        elif action == "webhook_subscription.enable":
            sub.update({"is_active": True, "disabled_reason": ""})

    def compare(self) -> Divergence | None:
        subscriptions = {
            str(s["pk"]): {
                "url": redacted_url(s["url"]),
                "events": as_recorded(s["events"]),
                "description": s["description"],
                "owner": s["owner__username"],
                "is_active": s["is_active"],
                "disabled_reason": s["disabled_reason"],
            }
            for s in WebhookSubscription.objects.values(
                "pk", "url", "events", "description", "owner__username", "is_active", "disabled_reason"
            )
        }
        return compare_rows("webhooks_webhooksubscription", subscriptions, self.subscriptions)

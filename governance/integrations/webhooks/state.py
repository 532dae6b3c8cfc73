"""Replays subscription events to rebuild the webhook subscriptions (audit.state, ``audit_verify
--state``). The log records a subscription's URL without its query string (``redacted_url``) and
never its secret; it carries instead keyed digests of the whole URL and of the secret
(``signing.audit_digest``), which only the server can recompute: the URL is compared as the log
records it and through its digest, the secret (``secret_encrypted``) through its digest, and
``secret_hint`` against the secret the digest attests. Each event carries the instant its service
stored under the column's name (``created_at``, ``updated_at``, ``disabled_at``; the first two, and
the last two, are one instant in the event that sets both). Events written before the digests and the
instants were carried are not checked for them."""

from __future__ import annotations

from audit.state import Divergence, as_recorded, compare_rows
from governance.integrations.webhooks import signing
from governance.integrations.webhooks.models import WebhookSubscription
from governance.integrations.webhooks.services import redacted_url

# A digest's divergence is named by the column it stands for.
COLUMNS = {"url_digest": "url", "secret_digest": "secret_encrypted"}


class WebhooksReplayer:
    name = "webhooks"
    actions = (
        "webhook_subscription.create",
        "webhook_subscription.update",
        "webhook_subscription.disable",
        "webhook_subscription.enable",
        "webhook_subscription.rotate_secret",
    )

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        at = data.get({"create": "created_at", "disable": "disabled_at"}.get(action.rsplit(".", 1)[1], "updated_at"))
        if action == "webhook_subscription.create":
            self.subscriptions[key] = {
                "url": target.get("url"),
                "events": data.get("events"),
                "description": data.get("description"),
                "owner": data.get("owner"),
                "is_active": True,
                "disabled_reason": "",
                "disabled_at": None,
            }
            if at is not None:
                self.subscriptions[key].update(created_at=at, updated_at=at)
            self._digests(key, data)
            return
        sub = self.subscriptions.setdefault(key, {})
        # An event that changed updated_at without carrying it leaves it unchecked from then on.
        if at is None:
            sub.pop("updated_at", None)
        else:
            sub["updated_at"] = at
        if action == "webhook_subscription.update":
            for name, change in (data.get("changes") or {}).items():
                sub[name] = change.get("after")
            sub["url"] = target.get("url")
            if "url" in (data.get("changes") or {}) and "url_digest" not in data:
                sub.pop("url_digest", None)
        elif action == "webhook_subscription.disable":
            sub.update({"is_active": False, "disabled_reason": record.get("reason") or "", "disabled_at": at})
            if at is None:
                sub.pop("disabled_at")
        elif action == "webhook_subscription.enable":
            sub.update({"is_active": True, "disabled_reason": "", "disabled_at": None})
        elif action == "webhook_subscription.rotate_secret" and "secret_digest" not in data:
            sub.pop("secret_digest", None)
        self._digests(key, data)

    def _digests(self, key: str, data: dict) -> None:
        for name in COLUMNS:
            if name in data:
                self.subscriptions[key][name] = data[name]

    def compare(self) -> Divergence | None:
        table = "webhooks_webhooksubscription"
        subscriptions: dict[str, dict] = {}
        secrets: dict[str, str | None] = {}
        hints: dict[str, str] = {}
        for s in WebhookSubscription.objects.values(
            "pk",
            "url",
            "events",
            "description",
            "owner__username",
            "is_active",
            "disabled_reason",
            "disabled_at",
            "created_at",
            "updated_at",
            "secret_encrypted",
            "secret_hint",
        ):
            key = str(s["pk"])
            secret: str | None
            try:
                secret = signing.decrypt(s["secret_encrypted"])
            except (RuntimeError, ValueError):  # not a token of the current key: not the attested secret
                secret = None
            secrets[key], hints[key] = secret, s["secret_hint"]
            subscriptions[key] = {
                "url": redacted_url(s["url"]),
                "url_digest": signing.audit_digest(s["pk"], "url", s["url"]),
                "events": as_recorded(s["events"]),
                "description": s["description"],
                "owner": s["owner__username"],
                "is_active": s["is_active"],
                "disabled_reason": s["disabled_reason"],
                "disabled_at": as_recorded(s["disabled_at"]),
                "created_at": as_recorded(s["created_at"]),
                "updated_at": as_recorded(s["updated_at"]),
                "secret_digest": (
                    signing.audit_digest(s["pk"], "secret", secret)
                    if secret is not None
                    else "not decryptable with the current key"
                ),
            }
        divergence = compare_rows(table, subscriptions, self.subscriptions)
        if divergence is not None:
            field = COLUMNS.get(divergence.field, divergence.field)
            return Divergence(table, divergence.row, field, divergence.stored, divergence.expected)
        # The hint is never logged: it must be the hint of the secret whose digest the log carries.
        for key in sorted(subscriptions, key=int):
            attested = secrets[key]
            if "secret_digest" in self.subscriptions.get(key, {}) and attested is not None:
                if hints[key] != signing.secret_hint(attested):
                    return Divergence(table, key, "secret_hint", hints[key], signing.secret_hint(attested))
        return None

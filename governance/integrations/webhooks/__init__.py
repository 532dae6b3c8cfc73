"""Outbound webhooks signed per the Standard Webhooks spec (docs/webhooks.md)."""

"""Outbound webhook subscriptions and their delivery log.

A subscription is governed data (every change is audited, on PostgreSQL a deferred trigger
refuses an unaudited change). Deliveries and attempts are the operational log of sending: not
audited row by row (only the decisions about them are: redelivery, automatic disabling).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet


class WebhookSubscription(models.Model):
    """A receiver: where to POST, which events, and the (encrypted) secret that signs them."""

    url = models.URLField(max_length=2000, help_text="The receiver's URL (https outside development).")
    events = models.JSONField(default=list, help_text="Event names this receiver gets (docs/webhooks.md).")
    description = models.CharField(max_length=200, blank=True)
    # The signing secret (whsec_...), encrypted with WEBHOOKS_SECRET_KEY (Fernet). Shown once at creation
    # and at rotation; needed in clear only to sign, so it cannot be stored as a one-way hash.
    secret_encrypted = models.TextField(editable=False)
    secret_hint = models.CharField(max_length=16, editable=False, help_text="First characters of the secret.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # waiting for its first or next attempt
    SENDING = "sending", "sending"  # claimed by a worker (until claimed_until)
    SUCCEEDED = "succeeded", "succeeded"  # the receiver answered 2xx
    FAILED = "failed", "failed"  # gave up after the retry window; the subscription was disabled
    CANCELLED = "cancelled", "cancelled"  # the subscription was disabled before it could be sent


OPEN_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class WebhookDelivery(models.Model):
    """One event for one subscription: one ``webhook-id``, retried until it succeeds or gives up."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.PROTECT, related_name="deliveries")
    event = models.CharField(max_length=64, db_index=True)
    message_id = models.CharField(max_length=64, unique=True, help_text="The webhook-id header (same on retries).")
    payload = models.JSONField(help_text="The signed body, frozen at the first attempt.")
    # Where the decision's audit event is (action, object type and id, request id), to find its seq
    # when it is sequenced after the commit (AUDIT_SEQUENCING=deferred).
    audit_ref = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_response_excerpt = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} -> #{self.subscription_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the receiver answered and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)
    manual = models.BooleanField(default=False, help_text="A redelivery asked for by a person.")

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

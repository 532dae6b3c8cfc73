"""Read queries of the outbound webhooks: subscriptions with their delivery health."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, Subquery

from governance.integrations.webhooks.models import (
    OPEN_DELIVERY_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
)


def subscription_health(limit: int = 20) -> dict:
    """Each subscription's health for the dashboard: active or disabled (and why), its last delivery
    (status, HTTP status, when), deliveries retrying after a failed attempt; problems first."""
    last = WebhookDelivery.objects.filter(subscription=OuterRef("pk")).order_by("-created_at", "-id")
    subscriptions = (
        WebhookSubscription.objects.only(
            "id", "url", "description", "events", "is_active", "disabled_at", "disabled_reason"
        )
        .annotate(
            retrying=Count(
                "deliveries",
                filter=Q(deliveries__status__in=OPEN_DELIVERY_STATUSES, deliveries__attempts__gt=0),
                distinct=True,
            ),
            failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED), distinct=True),
            last_event=Subquery(last.values("event")[:1]),
            last_status=Subquery(last.values("status")[:1]),
            last_code=Subquery(last.values("last_status_code")[:1]),
            last_at=Subquery(last.values("last_attempt_at")[:1]),
            last_error=Subquery(last.values("last_error")[:1]),
            last_id=Subquery(last.values("id")[:1]),
        )
        .order_by("id")
    )
    rows = []
    for sub in subscriptions:
        problems = []
        if not sub.is_active:
            problems.append("disabled" + (f": {sub.disabled_reason}" if sub.disabled_reason else ""))
        if sub.retrying:
            problems.append(f"{sub.retrying} delivery(ies) retrying after a failed attempt")
        if sub.last_status == DeliveryStatus.FAILED:
            problems.append("last delivery failed")
        rows.append({"subscription": sub, "problems": problems})
    rows.sort(key=lambda r: (not r["problems"], r["subscription"].pk))
    return {"count": len(rows), "failing": sum(1 for r in rows if r["problems"]), "rows": rows[:limit]}

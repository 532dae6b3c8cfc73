"""Outbound webhooks: subscriptions (audited), fan-out of events, signed delivery with retries.

Subscriptions are managed by risk officers and administrators only; every change and every
refusal is audited, and the signing secret never enters the audit log. Deliveries are made by
Celery after the change commits: a delivery row per subscription per event, claimed by one
worker at a time, POSTed with the Standard Webhooks headers and a timeout, retried with
exponential backoff for ``WEBHOOKS_RETRY_WINDOW`` seconds (24 h), after which the subscription is
disabled (audited, owner notified). Time comes in as ``now`` so that tests (and operators
replaying a backlog) move the clock instead of sleeping; the signature's timestamp is always the
real time of sending.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import selectors as audit_selectors
from audit.services import audit_unit, format_ts
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER, has_role
from governance.common.errors import Conflict, PermissionRefused, ValidationFailed
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.integrations.webhooks import catalogue, signing, targets
from governance.integrations.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

MANAGE_REFUSAL = "only risk officers and administrators manage webhook subscriptions"
EXCERPT_CHARS = 1024
SEQ_POLL = dt.timedelta(seconds=2)
SYSTEM = Principal.system("webhooks", auth="celery")  # the service itself: automatic disabling


# --- helpers ------------------------------------------------------------------------------------------------


def may_manage(user: User | None) -> bool:
    """Risk officers and (active) administrators: the one role rule (accounts.roles.has_role)."""
    return has_role(user, RISK_OFFICER)


def redacted_url(url: str) -> str:
    """The URL as the audit log records it: without a query string (receivers sometimes put tokens there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "?…" if parts.query else "", ""))


def subscription_target(sub: WebhookSubscription | None, *, url: str | None = None) -> dict:
    if sub is None or sub.pk is None:
        return {"type": "webhook_subscription", "id": "new", "url": redacted_url(url or "")}
    return {"type": "webhook_subscription", "id": str(sub.pk), "url": redacted_url(sub.url)}


def _digests(sub: WebhookSubscription, *, url: bool = True, secret: str | None = None) -> dict:
    """The keyed digests an event carries of what the log must not show (signing.audit_digest):
    the whole URL (its query string may hold a token) and the secret."""
    out = {"url_digest": signing.audit_digest(sub.pk, "url", sub.url)} if url else {}
    if secret is not None:
        out["secret_digest"] = signing.audit_digest(sub.pk, "secret", secret)
    return out


def _require_manager(by: Principal) -> None:
    by.require_role(RISK_OFFICER, reason=MANAGE_REFUSAL)


def clean_events(events) -> list[str]:
    """Raises ValidationFailed naming ``events`` or ``events[i]``."""
    if not isinstance(events, (list, tuple)) or not events:
        raise ValidationFailed("events: name at least one event (see GET /api/v1/webhooks/events)", field="events")
    out = []
    for index, name in enumerate(events):
        if not isinstance(name, str) or name not in catalogue.EVENTS:
            raise ValidationFailed(
                f"events[{index}]: unknown event {name!r}; known events: {', '.join(catalogue.EVENTS)}",
                field=f"events[{index}]",
            )
        if name not in out:
            out.append(name)
    return out


def clean_url(url) -> str:
    try:
        return targets.check_url(url if isinstance(url, str) else "")
    except targets.TargetRefused as exc:
        raise ValidationFailed(f"url: {exc}", field="url") from exc


def _clean(*, url=None, events=None, description=None) -> dict:
    """The given fields, checked; a refusal names its field (audited by the caller's ``refusals``)."""
    data: dict[str, Any] = {}
    if url is not None:
        data["url"] = clean_url(url)
    if events is not None:
        data["events"] = clean_events(events)
    if description is not None:
        if not isinstance(description, str) or len(description) > 200:
            raise ValidationFailed("description: at most 200 characters of text", field="description")
        data["description"] = description.strip()
    return data


# --- subscriptions ------------------------------------------------------------------------------------------


def subscription_create(
    *, by: Principal, url: str, events: list[str], description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (returned once; stored encrypted, never audited)."""
    action = "webhook_subscription.create"
    with refusals(by, action, subscription_target(None, url=url if isinstance(url, str) else "")):
        _require_manager(by)
        if by.user is None:  # never: a system principal holds no role, so _require_manager refused it
            raise PermissionRefused(MANAGE_REFUSAL)
        data = _clean(url=url, events=events, description=description or "")
        secret = signing.new_secret()
        now = timezone.now()
        with audit_unit(by.actor) as audit:
            sub = WebhookSubscription.objects.create(
                **data,
                secret_encrypted=signing.encrypt(secret),
                secret_hint=signing.secret_hint(secret),
                owner=by.user,
                created_at=now,
                updated_at=now,
            )
            audit.add(
                action,
                subscription_target(sub),
                details={
                    "events": sub.events,
                    "description": sub.description,
                    "owner": by.user.username,
                    "created_at": format_ts(now),  # and updated_at
                    **_digests(sub, secret=secret),
                },
            )
    return sub, secret


def subscription_update(*, by: Principal, subscription: WebhookSubscription, data: dict) -> WebhookSubscription:
    """Change the URL, the events or the description (only the given keys)."""
    action = "webhook_subscription.update"
    with refusals(by, action, subscription_target(subscription)):
        _require_manager(by)
        unknown = sorted(set(data) - {"url", "events", "description"})
        if unknown:
            raise ValidationFailed(
                f"{unknown[0]}: cannot be changed (url, events and description can)", field=unknown[0]
            )
        cleaned = _clean(**data)
        with audit_unit(by.actor) as audit:
            sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
            changes = {}
            for name, value in cleaned.items():
                before = getattr(sub, name)
                if before != value:
                    shown = (redacted_url(before), redacted_url(value)) if name == "url" else (before, value)
                    changes[name] = {"before": shown[0], "after": shown[1]}
                    setattr(sub, name, value)
            if not changes:
                return sub
            sub.updated_at = timezone.now()
            sub.save()
            details = {
                "changes": changes,
                "updated_at": format_ts(sub.updated_at),
                **_digests(sub, url="url" in changes),
            }
            audit.add(action, subscription_target(sub), details=details)
    return sub


def subscription_rotate_secret(*, by: Principal, subscription: WebhookSubscription) -> tuple[WebhookSubscription, str]:
    """A new secret, returned once; deliveries from now on are signed with it."""
    action = "webhook_subscription.rotate_secret"
    with refusals(by, action, subscription_target(subscription)):
        _require_manager(by)
        secret = signing.new_secret()
        with audit_unit(by.actor) as audit:
            sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
            sub.secret_encrypted, sub.secret_hint = signing.encrypt(secret), signing.secret_hint(secret)
            sub.updated_at = timezone.now()
            sub.save()
            # The URL's digest again: after a change of key (which needs this rotation) both are
            # recorded under the new key.
            details = {"rotated": True, "updated_at": format_ts(sub.updated_at), **_digests(sub, secret=secret)}
            audit.add(action, subscription_target(sub), details=details)
    return sub, secret


def subscription_disable(
    *, by: Principal, subscription: WebhookSubscription, reason: str, now: dt.datetime | None = None
) -> WebhookSubscription:
    """Stop deliveries (open ones are cancelled). The service itself (``SYSTEM``) disables a
    subscription after persistent failure and e-mails its owner."""
    action = "webhook_subscription.disable"
    automatic = by is SYSTEM
    with refusals(by, action, subscription_target(subscription)):
        if not automatic:
            _require_manager(by)
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed("reason: say why the subscription is disabled", field="reason")
        now = now or timezone.now()
        with audit_unit(by.actor) as audit:
            sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
            if not sub.is_active:
                raise Conflict("the subscription is already disabled", field="is_active")
            sub.is_active, sub.disabled_at, sub.disabled_reason, sub.updated_at = False, now, reason, now
            sub.save()
            cancelled = list(
                WebhookDelivery.objects.filter(subscription=sub, status=DeliveryStatus.PENDING).values_list(
                    "pk", flat=True
                )
            )
            WebhookDelivery.objects.filter(pk__in=cancelled).update(status=DeliveryStatus.CANCELLED, claimed_until=None)
            audit.add(
                action,
                subscription_target(sub),
                # disabled_at, and updated_at
                details={"automatic": automatic, "cancelled_deliveries": cancelled, "disabled_at": format_ts(now)},
                reason=reason,
            )
            if automatic:
                announce("webhook_subscription.disabled", subscription_id=sub.pk)
    return sub


def subscription_enable(*, by: Principal, subscription: WebhookSubscription) -> WebhookSubscription:
    action = "webhook_subscription.enable"
    with refusals(by, action, subscription_target(subscription)):
        _require_manager(by)
        clean_url(subscription.url)  # the host may have moved into a private range meanwhile
        with audit_unit(by.actor) as audit:
            sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
            if sub.is_active:
                raise Conflict("the subscription is already active", field="is_active")
            before = sub.disabled_reason
            sub.is_active, sub.disabled_at, sub.disabled_reason, sub.updated_at = True, None, "", timezone.now()
            sub.save()
            details = {"was_disabled_because": before, "updated_at": format_ts(sub.updated_at)}
            audit.add(action, subscription_target(sub), details=details)
    return sub


# --- fan-out ------------------------------------------------------------------------------------------------


def deliveries_create(event: str, **payload) -> list[WebhookDelivery]:
    """One delivery per active subscription to ``event``, enqueued after this commits.

    Called by the domain-event and audit-signal handlers, after the change committed."""
    subscribers = [s for s in WebhookSubscription.objects.filter(is_active=True) if event in s.events]
    if not subscribers:
        return []
    data, ref = catalogue.BUILDERS[event](**payload)
    now = timezone.now()
    body: dict[str, Any] = {
        "type": event,
        "timestamp": format_ts(now),
        "data": data,
        "audit": {"seq": None, "action": None, "sequencing": settings.AUDIT_SEQUENCING},
    }
    if ref:
        seq, action = _resolve_seq(ref)
        body["audit"].update(seq=seq, action=action, **catalogue.audit_links(seq))
    else:
        body["audit"].update(catalogue.audit_links(None))
    created = []
    with transaction.atomic():
        for sub in subscribers:
            created.append(
                WebhookDelivery.objects.create(
                    subscription=sub,
                    event=event,
                    message_id=f"msg_{uuid.uuid4().hex}",
                    payload=body,
                    audit_ref=ref or {},
                    created_at=now,
                    next_attempt_at=now,
                )
            )
        announce("webhook_delivery.queued", delivery_ids=[d.pk for d in created])
    return created


def _resolve_seq(ref: dict) -> tuple[int | None, str | None]:
    """The seq of the decision's audit event: the latest event on that object, with one of the
    actions, written by the same request (``None`` while it waits for the deferred sequencer)."""
    found = audit_selectors.latest_event(
        actions=ref["actions"], object_type=ref["object_type"], object_id=ref["object_id"], request_id=ref["request_id"]
    )
    return (found.seq, found.action) if found else (None, None)


# --- delivery -----------------------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """Delay after the ``attempts``-th failed attempt: base * 2^(n-1), at most WEBHOOKS_RETRY_MAX_DELAY."""
    seconds = settings.WEBHOOKS_RETRY_BASE * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.WEBHOOKS_RETRY_MAX_DELAY))


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    """Take the delivery for one attempt (only one worker at a time; a dead worker's claim expires)."""
    until = now + dt.timedelta(seconds=2 * settings.WEBHOOKS_TIMEOUT + 60)
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=DeliveryStatus.SENDING, claimed_until__lt=now)
        )
        .update(status=DeliveryStatus.SENDING, claimed_until=until)
    )


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str, str, int]:
    """POST once: (status code or None, response excerpt, error, latency in ms). Never raises."""
    started = time.monotonic()
    status, excerpt, error = None, "", ""
    try:
        targets.check_url(url)  # again at send time: DNS may now point somewhere private
        with requests.post(
            url,
            data=body,
            headers=headers,
            timeout=(min(settings.WEBHOOKS_TIMEOUT, 5.0), settings.WEBHOOKS_TIMEOUT),
            allow_redirects=False,
            stream=True,
        ) as response:
            status = response.status_code
            raw = response.raw.read(EXCERPT_CHARS * 4, decode_content=True) or b""
            excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    except targets.TargetRefused as exc:
        error = f"refused target: {exc}"
    except requests.Timeout:
        error = f"timed out after {settings.WEBHOOKS_TIMEOUT:g} s"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS]
    except Exception as exc:  # a reset while reading the body, a decoding error: still one failed attempt
        error = f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS]
    if status is not None and not 200 <= status < 300 and not error:
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return status, excerpt, error, int((time.monotonic() - started) * 1000)


def delivery_attempt(delivery_id: int, *, now: dt.datetime | None = None) -> WebhookDelivery | None:
    """Make one attempt of a due delivery; returns it, or None when it was not due or is taken."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    sub = delivery.subscription
    if not sub.is_active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.CANCELLED, claimed_until=None)
        return None
    payload = delivery.payload
    if delivery.audit_ref and payload["audit"]["seq"] is None:
        seq, action = _resolve_seq(delivery.audit_ref)
        if (
            seq is None
            and settings.AUDIT_SEQUENCING == "deferred"
            and now - delivery.created_at < dt.timedelta(seconds=settings.WEBHOOKS_SEQ_WAIT)
        ):
            # The decision committed but the sequencer has not given its event a seq yet: wait a little
            # (not an attempt) so the receiver gets the seq it needs for the inclusion proof.
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.PENDING, claimed_until=None, next_attempt_at=now + SEQ_POLL
            )
            return None
        if seq is not None:
            payload["audit"].update(seq=seq, action=action, **catalogue.audit_links(seq))
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        headers = signing.signed_headers(signing.decrypt(sub.secret_encrypted), delivery.message_id, body)
    except RuntimeError as exc:  # the encryption key changed: a failed attempt that says what to do
        status, excerpt, error, latency = None, "", str(exc), 0
    else:
        status, excerpt, error, latency = _post(sub.url, body.encode("utf-8"), headers)
    ok = not error
    first = delivery.first_attempt_at or now
    number = delivery.attempts + 1
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=now,
            status_code=status,
            latency_ms=latency,
            response_excerpt=excerpt,
            error=error,
            succeeded=ok,
        )
        fields = {
            "payload": payload,
            "attempts": number,
            "first_attempt_at": first,
            "last_attempt_at": now,
            "last_status_code": status,
            "last_latency_ms": latency,
            "last_response_excerpt": excerpt,
            "last_error": error,
            "claimed_until": None,
        }
        give_up = False
        if ok:
            fields.update(status=DeliveryStatus.SUCCEEDED, delivered_at=now)
        else:
            window_end = first + dt.timedelta(seconds=settings.WEBHOOKS_RETRY_WINDOW)
            if now >= window_end:
                fields.update(status=DeliveryStatus.FAILED)
                give_up = True
            else:
                fields.update(status=DeliveryStatus.PENDING, next_attempt_at=min(now + backoff(number), window_end))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if give_up:
        _disable_after_failure(sub, delivery, number, error, now)
    delivery.refresh_from_db()
    return delivery


def _disable_after_failure(sub, delivery, attempts: int, error: str, now: dt.datetime) -> None:
    hours = settings.WEBHOOKS_RETRY_WINDOW / 3600
    reason = (
        f"delivery {delivery.pk} ({delivery.event}) failed for {hours:g} h over {attempts} attempts; "
        f"last error: {error}"
    )
    try:
        subscription_disable(by=SYSTEM, subscription=sub, reason=reason, now=now)
    except Conflict:
        pass  # another delivery disabled it first


def deliveries_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of deliveries whose attempt is due (or whose worker's claim expired)."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=DeliveryStatus.SENDING, claimed_until__lt=now),
            subscription__is_active=True,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def deliveries_attempt_due(*, now: dt.datetime | None = None) -> list[WebhookDelivery]:
    """Attempt every due delivery here, in this process (tests and ``manage.py`` use; Celery fans out)."""
    now = now or timezone.now()
    done = []
    for pk in deliveries_due(now=now):
        delivery = delivery_attempt(pk, now=now)
        if delivery is not None:
            done.append(delivery)
    return done


def delivery_redeliver(*, by: Principal, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (same webhook-id, so receivers can recognise it), with a fresh retry window."""
    action = "webhook_delivery.redeliver"
    target = {"type": "webhook_delivery", "id": str(delivery.pk), "subscription": str(delivery.subscription_id)}
    with refusals(by, action, target):
        _require_manager(by)
        with audit_unit(by.actor) as audit:
            fresh = WebhookDelivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
            if not fresh.subscription.is_active:
                raise Conflict("the subscription is disabled; enable it first", field="subscription")
            if fresh.status == DeliveryStatus.SENDING:
                raise Conflict("the delivery is being sent right now", field="status")
            before = fresh.status
            WebhookDelivery.objects.filter(pk=fresh.pk).update(
                status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), first_attempt_at=None, claimed_until=None
            )
            audit.add(
                action, target, details={"event": fresh.event, "message_id": fresh.message_id, "status_before": before}
            )
            announce("webhook_delivery.queued", delivery_ids=[fresh.pk])
    fresh.refresh_from_db()
    return fresh


def deliveries_purge(*, now: dt.datetime | None = None) -> int:
    """Forget finished deliveries (and their attempts) older than WEBHOOKS_DELIVERY_RETENTION_DAYS.

    The delivery log is operational (the decisions are in the audit log); a subscriber to
    ``audit.checkpoint_signed`` alone adds up to 17,000 rows a day. Open deliveries are kept."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.WEBHOOKS_DELIVERY_RETENTION_DAYS)
    finished = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)
    old = WebhookDelivery.objects.filter(status__in=finished, created_at__lt=cutoff)
    WebhookAttempt.objects.filter(delivery__in=old).delete()
    count, _ = old.delete()
    return count

"""Refused credentials: counted per source and window, throttled, and audited once per window.

A refused API token, a failed admin login or a wrong signing password is *noted* here
(``refusal_note``): the refusal increments the count of its source (``ip:<address>``, and for
signing also ``user:<id>``) in the current window (``REFUSAL_WINDOW_SECONDS``). When a window has
ended, ``refusals_record`` records it as **one** ``<action>.denied`` event with the count, the
reasons and the first subjects tried, through the windowed form of the one refusal helper
(``governance.common.refusals.record_refusal_windows``); it runs at the next refusal anywhere and
from the beat schedule (``accounts.refusals_record``). Anonymous clients can therefore no longer
grow the append-only log by one permanent row per request (issue 10, defect 4), while every
refusal is still counted in the record.

``locked_until`` throttles a source: once the refusals of the last ``REFUSAL_LOCKOUT_SECONDS``
reach the limit of its kind, further attempts from it are refused (429 for tokens, a lockout for
signing) until the oldest of them leaves the period. Admin logins are throttled and locked out by
django-axes (settings ``AXES_*``); their failures and lockouts are noted here as well.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from audit.context import Actor
from governance.accounts.models import CredentialRefusalWindow
from governance.common.refusals import RefusalWindow, record_refusal_windows

logger = logging.getLogger(__name__)

# The refused action of each kind (recorded as ``<action>.denied``).
ACTIONS = {
    "token": "api_token.authenticate",
    "login": "user.login",
    "signing": "user.signing_password",
}
MAX_SUBJECTS = 10
RECORD_BATCH = 500


def _window_start(moment: dt.datetime) -> dt.datetime:
    seconds = settings.REFUSAL_WINDOW_SECONDS
    epoch = int(moment.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % seconds, tz=dt.UTC)


def limit_for(kind: str) -> int:
    return settings.REFUSAL_LIMITS[kind]


def locked_until(kind: str, source: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """When ``source`` may try again, if its recent refusals of ``kind`` reached the limit."""
    now = now or timezone.now()
    since = _window_start(now - dt.timedelta(seconds=settings.REFUSAL_LOCKOUT_SECONDS))
    recent = CredentialRefusalWindow.objects.filter(kind=kind, source=source, window_start__gte=since)
    if (recent.aggregate(n=Sum("count"))["n"] or 0) < limit_for(kind):
        return None
    oldest = recent.order_by("window_start").values_list("window_start", flat=True)[0]
    return oldest + dt.timedelta(seconds=settings.REFUSAL_LOCKOUT_SECONDS + settings.REFUSAL_WINDOW_SECONDS)


def refusal_note(kind: str, source: str, *, reason: str, subject: str = "", now: dt.datetime | None = None) -> None:
    """Count one refusal of ``kind`` from ``source`` (its own transaction: the caller's may roll back)."""
    if kind not in ACTIONS:
        raise ValueError(f"unknown refusal kind {kind!r}")
    now = now or timezone.now()
    start = _window_start(now)
    source = source[:80]
    with transaction.atomic():
        try:
            with transaction.atomic():
                window, _ = CredentialRefusalWindow.objects.select_for_update().get_or_create(
                    kind=kind, source=source, window_start=start
                )
        except IntegrityError:  # created concurrently
            window = CredentialRefusalWindow.objects.select_for_update().get(
                kind=kind, source=source, window_start=start
            )
        window.count = F("count") + 1
        window.reasons[reason] = window.reasons.get(reason, 0) + 1
        if subject and subject not in window.subjects and len(window.subjects) < MAX_SUBJECTS:
            window.subjects.append(subject[:100])
        window.save(update_fields=["count", "reasons", "subjects"])
    try:
        refusals_record(now=now, limit=20)
    except Exception:  # recording is retried by the next refusal and by the beat task
        logger.exception("recording finished refusal windows failed")


def refusals_record(*, now: dt.datetime | None = None, limit: int = RECORD_BATCH) -> int:
    """Append one audit event per finished, unrecorded window; returns how many were recorded."""
    now = now or timezone.now()
    current = _window_start(now)
    done = 0
    with transaction.atomic():
        windows = list(
            CredentialRefusalWindow.objects.select_for_update(skip_locked=True)
            .filter(recorded=False, window_start__lt=current)
            .order_by("window_start", "id")[:limit]
        )
        if not windows:
            return 0
        seconds = settings.REFUSAL_WINDOW_SECONDS
        record_refusal_windows(
            [
                RefusalWindow(
                    action=ACTIONS[w.kind],
                    actor=Actor(type="system", id="unauthenticated", auth=_AUTH[w.kind]),
                    source=w.source,
                    count=w.count,
                    reasons=w.reasons,
                    subjects=w.subjects,
                    start=w.window_start,
                    end=w.window_start + dt.timedelta(seconds=seconds),
                )
                for w in windows
            ]
        )
        CredentialRefusalWindow.objects.filter(pk__in=[w.pk for w in windows]).update(recorded=True)
        done = len(windows)
    return done


_AUTH = {"token": "token", "login": "session", "signing": "session"}


def signing_password_refusal(user, password: str | None) -> str | None:
    """Why a signing password is refused, or None when it is the signer's own.

    Wrong passwords are counted per account (``user:<id>``) and per client address; once either
    reaches ``REFUSAL_LIMITS["signing"]`` within ``REFUSAL_LOCKOUT_SECONDS``, signing is refused
    even with the right password until the count ages out (issue 10, defect 5).
    """
    from audit.context import current_context

    ip = current_context().ip
    sources = [f"user:{user.pk}"] + ([f"ip:{ip}"] if ip else [])
    for source in sources:
        until = locked_until("signing", source)
        if until is not None:
            refusal_note("signing", source, reason="locked out", subject=user.username)
            return (
                "signing is locked after too many wrong passwords; "
                f"try again after {until:%Y-%m-%d %H:%M} UTC or ask an administrator"
            )
    if password and user.check_password(password):
        return None
    for source in sources:
        refusal_note("signing", source, reason="wrong password", subject=user.username)
    return "password re-entry failed: signing needs the signer's own password"

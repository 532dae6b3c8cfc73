"""Browser sessions end after SESSION_IDLE_TIMEOUT_SECONDS without a request and, at the latest,
SESSION_ABSOLUTE_TIMEOUT_SECONDS after sign-in, whatever the sign-in method."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import SESSION_KEY

STARTED = "_auth_started_at"
LAST_SEEN = "_auth_last_seen"
METHOD = "_auth_method"
# The last-seen mark is written at most this often (a session write per request is not needed).
TOUCH_EVERY = 30


def mark_signed_in(request, *, method: str) -> None:
    now = time.time()
    request.session[STARTED] = now
    request.session[LAST_SEEN] = now
    request.session[METHOD] = method


def session_expired(session, now: float) -> str | None:
    started, last = session.get(STARTED), session.get(LAST_SEEN)
    if started is None or last is None:
        return None
    if now - started > settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS:
        return "absolute"
    if now - last > settings.SESSION_IDLE_TIMEOUT_SECONDS:
        return "idle"
    return None


class SessionLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session:
            now = time.time()
            why = session_expired(session, now)
            if why:
                auth.logout(request)
                request.session["_auth_expired"] = why
            elif STARTED not in session:
                mark_signed_in(request, method=session.get(METHOD, "password"))
            elif now - session.get(LAST_SEEN, 0) > TOUCH_EVERY:
                session[LAST_SEEN] = now
        return self.get_response(request)


def sso_context(request) -> dict:
    """Template context for the sign-in page: is single sign-on on, is the password form shown."""
    session = getattr(request, "session", None)
    return {
        "sso": {
            "enabled": settings.OIDC_ENABLED,
            "provider": settings.OIDC_PROVIDER_NAME,
            "local": settings.LOCAL_LOGIN_ENABLED,
            "expired": session.get("_auth_expired") if session is not None and SESSION_KEY not in session else None,
        }
    }

"""Failed logins and lockouts are noted as refused credentials (``governance.accounts.throttle``)."""

from __future__ import annotations

from axes.helpers import get_client_ip_address

from governance.accounts.throttle import refusal_note


def login_failed(sender, credentials=None, request=None, **kwargs) -> None:
    if request is None:  # not a login from the network (a command, a test's client.login())
        return
    username = str((credentials or {}).get("username") or "")
    locked = getattr(request, "axes_locked_out", False)
    refusal_note(
        "login",
        f"ip:{get_client_ip_address(request) or 'unknown'}",
        reason="locked out" if locked else "wrong username or password",
        subject=username,
    )


def locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    refusal_note("login", f"ip:{ip_address or 'unknown'}", reason="lockout started", subject=str(username or ""))

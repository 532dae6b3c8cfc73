"""Electronic signatures by re-authentication: a password for local accounts, a step-up at the
identity provider for people who sign in through single sign-on.

A step-up sends the signer to the provider with ``prompt=login`` and ``max_age=0`` and checks on
return that the ID token is valid (as at sign-in: signature, issuer, audience, expiry, nonce), that
it names the same subject as the signer's linked identity, and that its ``auth_time`` is not before
the moment signing started (the provider really asked for the credentials again) and not older than
OIDC_STEP_UP_MAX_AGE_SECONDS. :func:`signature_reauthentication` is the signing rule the workflow
calls; it returns the evidence stored with the signature and carried by its audit event:
``{"method": "oidc_step_up", "provider", "subject", "auth_time", "step_up_started_at"}`` or
``{"method": "password"}``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.crypto import get_random_string
from mozilla_django_oidc.utils import absolutify, generate_code_challenge

from governance.accounts.models import OidcIdentity, User
from governance.accounts.oidc import GovernanceOIDCBackend, OidcError, provider_metadata

SESSION_KEY = "oidc_step_up"
METHOD_PASSWORD = "password"
METHOD_STEP_UP = "oidc_step_up"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StepUpProof:
    """What a step-up callback established. ``failure`` is set when the provider's answer was refused."""

    started_at: float
    issuer: str = ""
    subject: str = ""
    auth_time: int | None = None
    failure: str | None = None
    purpose: dict = field(default_factory=dict)

    def details(self) -> dict:
        out = {"method": METHOD_STEP_UP, "provider": self.issuer or None, "step_up_started_at": _iso(self.started_at)}
        if self.subject:
            out["subject"] = self.subject
        if self.auth_time is not None:
            out["auth_time"] = _iso(self.auth_time)
        return out


class ReauthRefused(Exception):
    def __init__(self, reason: str, *, field: str, details: dict | None = None):
        super().__init__(reason)
        self.reason, self.field, self.details = reason, field, details or {}


def linked_identity(user: User) -> OidcIdentity | None:
    return OidcIdentity.objects.filter(user=user).first()


def signs_with_step_up(user: User) -> bool:
    """True for people linked to the identity provider: they sign by step-up, never by password."""
    return bool(getattr(user, "pk", None)) and OidcIdentity.objects.filter(user=user).exists()


def signature_reauthentication(
    user: User, *, password: str | None = None, step_up: StepUpProof | None = None, now: float | None = None
) -> dict:
    """The signing rule: the evidence of the signer's re-authentication, or ReauthRefused."""
    identity = linked_identity(user)
    if step_up is not None:
        details = step_up.details()
        if identity is None:
            raise ReauthRefused(
                "step-up re-authentication is for single sign-on users; re-enter your password",
                field="reauthentication",
                details=details,
            )
        if step_up.failure:
            raise ReauthRefused(
                f"re-authentication at the identity provider failed: {step_up.failure}",
                field="reauthentication",
                details=details,
            )
        if step_up.issuer != identity.issuer or step_up.subject != identity.subject:
            raise ReauthRefused(
                "the re-authentication at the identity provider was for another person "
                f"(subject {step_up.subject!r}, expected {identity.subject!r}); sign in again as yourself",
                field="reauthentication",
                details=details,
            )
        if step_up.auth_time is None:
            raise ReauthRefused(
                "the identity provider did not say when you authenticated (no auth_time); signing needs a fresh "
                "re-authentication",
                field="reauthentication",
                details=details,
            )
        if step_up.auth_time < int(step_up.started_at):
            raise ReauthRefused(
                f"stale re-authentication: the provider reports a sign-in at {_iso(step_up.auth_time)}, before "
                f"signing started at {_iso(step_up.started_at)}; it did not ask for your credentials again",
                field="reauthentication",
                details=details,
            )
        now = time.time() if now is None else now
        if now - step_up.auth_time > settings.OIDC_STEP_UP_MAX_AGE_SECONDS:
            raise ReauthRefused(
                f"the re-authentication at {_iso(step_up.auth_time)} is older than "
                f"{settings.OIDC_STEP_UP_MAX_AGE_SECONDS} s; sign again",
                field="reauthentication",
                details=details,
            )
        return details
    if identity is not None:
        raise ReauthRefused(
            f"you sign in through {settings.OIDC_PROVIDER_NAME}: sign by re-authenticating there (step-up), "
            "not with a password",
            field="reauthentication",
            details={"method": METHOD_PASSWORD},
        )
    # wrong passwords are counted per account and address and lock signing (governance.accounts.throttle)
    from governance.accounts.throttle import signing_password_refusal

    refusal = signing_password_refusal(user, password)
    if refusal:
        raise ReauthRefused(refusal, field="password")
    return {"method": METHOD_PASSWORD}


# --- the round trip to the provider -----------------------------------------------------------------------------


def start(request, *, purpose: dict, return_url: str) -> HttpResponseRedirect:
    """Remember what is being signed and send the signer to the provider to authenticate again.

    Raises OidcError (e.g. ProviderUnavailable) when the provider cannot be reached.
    """
    metadata = provider_metadata()
    state = get_random_string(32)
    nonce = get_random_string(32)
    verifier = get_random_string(64)
    pending = request.session.get(SESSION_KEY, {})
    pending[state] = {
        "nonce": nonce,
        "code_verifier": verifier,
        "started_at": time.time(),
        "user_id": request.user.pk,
        "purpose": purpose,
        "return_url": return_url,
    }
    request.session[SESSION_KEY] = dict(list(pending.items())[-5:])  # a few tabs at most
    params = {
        "response_type": "code",
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "scope": "openid",
        "redirect_uri": absolutify(request, reverse("oidc_step_up_callback")),
        "state": state,
        "nonce": nonce,
        "prompt": "login",
        "max_age": "0",
        "code_challenge": generate_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
    }
    identity = linked_identity(request.user)
    if identity is not None and request.user.username:
        params["login_hint"] = request.user.username
    return HttpResponseRedirect(f"{metadata['authorization_endpoint']}?{urlencode(params)}")


def complete(request) -> StepUpProof | None:
    """The proof for a step-up callback, or None when the callback matches no step-up of this session.

    A proof whose ``failure`` is set is still returned (when the session knows what was being signed),
    so that the refusal is audited against the signing attempt like a wrong password.
    """
    state = request.GET.get("state", "")
    pending = request.session.get(SESSION_KEY, {})
    entry = pending.pop(state, None)
    request.session[SESSION_KEY] = pending  # single use: a replayed state finds nothing
    if entry is None or entry.get("user_id") != request.user.pk:
        return None
    base = {"started_at": entry["started_at"], "purpose": {**entry["purpose"], "return_url": entry["return_url"]}}
    if request.GET.get("error"):
        reason = request.GET.get("error_description") or request.GET["error"]
        return StepUpProof(**base, failure=f"the provider answered {request.GET['error']}: {reason}")
    backend = GovernanceOIDCBackend()
    try:
        token_info = backend.exchange_code(
            request,
            code=request.GET.get("code", ""),
            code_verifier=entry["code_verifier"],
            redirect_uri=absolutify(request, reverse("oidc_step_up_callback")),
        )
        claims = backend.verify_token(token_info.get("id_token"), nonce=entry["nonce"])
    except OidcError as exc:
        return StepUpProof(**base, failure=exc.reason)
    auth_time = claims.get("auth_time")
    return StepUpProof(
        **base,
        issuer=claims["iss"],
        subject=str(claims["sub"]),
        auth_time=int(auth_time) if isinstance(auth_time, int | float) else None,
    )

"""Single sign-on pages: start, callback, logout (RP-initiated at the provider) and the step-up return.

Thin: they parse, call governance.accounts.oidc / stepup (and the workflow's signing service for a
step-up), and render. Every refusal is a page that says what went wrong and what to do next.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, auth, messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.crypto import get_random_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from mozilla_django_oidc.utils import absolutify, add_state_and_verifier_and_nonce_to_session, generate_code_challenge

from governance.accounts import stepup
from governance.accounts.oidc import (
    BACKEND_PATH,
    GovernanceOIDCBackend,
    OidcError,
    provider_metadata,
    sso_login,
)
from governance.accounts.oidc_session import mark_signed_in

ID_TOKEN_KEY = "oidc_id_token"
# A sign-in (state, nonce, PKCE verifier) must come back from the provider within this time.
STATE_MAX_AGE_SECONDS = 600


def _error(request, reason: str, status: int = 403, *, title: str = "Single sign-on refused"):
    return render(
        request,
        "sso/error.html",
        {"title": title, "reason": reason, "provider": settings.OIDC_PROVIDER_NAME, "login_url": settings.LOGIN_URL},
        status=status,
    )


def _safe_next(request, value: str | None) -> str | None:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return None


@never_cache
@require_GET
def oidc_login(request):
    """Send the person to the provider (authorization code + PKCE, state and nonce in the session)."""
    try:
        metadata = provider_metadata()
    except OidcError as exc:
        return _error(request, exc.reason, exc.status)
    state, nonce, verifier = get_random_string(32), get_random_string(32), get_random_string(64)
    params = {
        "response_type": "code",
        "scope": settings.OIDC_RP_SCOPES,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "redirect_uri": absolutify(request, reverse("oidc_authentication_callback")),
        "state": state,
        "nonce": nonce,
        "code_challenge": generate_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
    }
    add_state_and_verifier_and_nonce_to_session(request, state, params, verifier)
    request.session["oidc_login_next"] = _safe_next(request, request.GET.get("next"))
    return HttpResponseRedirect(f"{metadata['authorization_endpoint']}?{urlencode(params)}")


@never_cache
@require_GET
def oidc_callback(request):
    """The provider's answer to a sign-in: check everything, find or create the person, set roles."""
    state = request.GET.get("state", "")
    states = request.session.get("oidc_states", {})
    entry = states.pop(state, None) if state else None
    request.session["oidc_states"] = states  # single use: a replayed state is refused below
    if entry is None:
        return _error(
            request,
            "This answer from the identity provider does not belong to a sign-in started in this browser "
            "(unknown or already used state). Start the sign-in again.",
            400,
        )
    if time.time() - entry.get("added_on", 0) > STATE_MAX_AGE_SECONDS:
        return _error(request, "This sign-in was started too long ago. Start the sign-in again.", 400)
    if request.GET.get("error"):
        return _error(
            request,
            f"The identity provider answered {request.GET['error']}: "
            f"{request.GET.get('error_description', '')}. Start the sign-in again.",
        )
    backend = GovernanceOIDCBackend()
    try:
        token_info = backend.exchange_code(
            request,
            code=request.GET.get("code", ""),
            code_verifier=entry.get("code_verifier"),
            redirect_uri=absolutify(request, reverse("oidc_authentication_callback")),
        )
        claims = backend.claims_for(token_info, nonce=entry.get("nonce"))
        result = sso_login(issuer=claims["iss"], claims=claims)
    except OidcError as exc:
        return _error(request, exc.reason, exc.status)
    next_url = request.session.get("oidc_login_next")
    if request.user.is_authenticated and request.user.pk != result.user.pk:
        auth.logout(request)
    auth.login(request, result.user, backend=BACKEND_PATH)
    request.session[ID_TOKEN_KEY] = token_info.get("id_token")
    mark_signed_in(request, method="oidc")
    return HttpResponseRedirect(next_url or reverse("admin:index"))


@never_cache
@require_POST
def logout(request):
    """Sign out here and, for a single sign-on session, at the provider too (RP-initiated logout)."""
    id_token = request.session.get(ID_TOKEN_KEY)
    if not id_token:
        return admin.site.logout(request)
    auth.logout(request)
    try:
        end_session = provider_metadata().get("end_session_endpoint")
    except OidcError:
        end_session = None
    if not end_session:
        return HttpResponseRedirect(reverse("oidc_logged_out"))
    params = {
        "id_token_hint": id_token,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": absolutify(request, reverse("oidc_logged_out")),
    }
    return HttpResponseRedirect(f"{end_session}?{urlencode(params)}")


@never_cache
def logged_out(request):
    return render(request, "sso/logged_out.html", {"provider": settings.OIDC_PROVIDER_NAME})


@never_cache
@require_GET
def step_up_callback(request):
    """The provider's answer to a step-up: sign what was being signed, or refuse (audited)."""
    if not request.user.is_authenticated:
        return _error(request, "Your session ended before the re-authentication came back. Sign in and sign again.")
    proof = stepup.complete(request)
    if proof is None:
        return _error(
            request,
            "This re-authentication does not belong to a signature started in this session (unknown or already "
            "used state). Nothing was signed; start the signature again.",
            400,
            title="Signature refused",
        )
    purpose = proof.purpose
    return_url = _safe_next(request, purpose.get("return_url")) or reverse("admin:index")
    if purpose.get("kind") == "promotion_request.sign":
        from governance.accounts.principal import Principal
        from governance.common.errors import DomainError
        from governance.workflow import services as workflow
        from governance.workflow.models import PromotionRequest

        req = PromotionRequest.objects.filter(pk=purpose.get("request_id")).first()
        if req is None:
            return _error(request, "The request being signed no longer exists.", 404, title="Signature refused")
        sign = workflow.promotion_reject if purpose.get("decision") == "reject" else workflow.promotion_approve
        kwargs = (
            {"override_justification": purpose.get("override_justification", "")}
            if sign is not (workflow.promotion_reject)
            else {}
        )
        try:
            req = sign(
                by=Principal.for_request(request),
                request=req,
                justification=purpose.get("justification", ""),
                password="",
                step_up=proof,
                **kwargs,
            )
        except DomainError as exc:
            messages.error(request, f"Refused (recorded in the audit log): {exc.message}")
            return HttpResponseRedirect(return_url)
        messages.success(request, f"Signed after re-authentication. Request #{req.pk} is now {req.status}.")
        return HttpResponseRedirect(return_url)
    return _error(request, "Nothing to sign for this re-authentication.", 400, title="Signature refused")


def begin_signature(request, *, request_id: int, decision: str, justification: str, override_justification: str):
    """Start a step-up for signing a promotion request (called by the workflow admin)."""
    return stepup.start(
        request,
        purpose={
            "kind": "promotion_request.sign",
            "request_id": request_id,
            "decision": decision,
            "justification": justification,
            "override_justification": override_justification,
            "requested_at": time.time(),
        },
        return_url=request.path,
    )

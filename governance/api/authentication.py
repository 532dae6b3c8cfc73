import math

from axes.helpers import get_client_ip_address
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance.accounts.services import TokenRejected, api_token_authenticate
from governance.accounts.throttle import locked_until, refusal_note


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``. Keys are stored hashed. Refusals are counted per client
    address and audited once per address and window with their count; an address whose refusals
    reach ``REFUSAL_LIMITS["token"]`` within ``REFUSAL_LOCKOUT_SECONDS`` gets 429 with Retry-After
    until they age out (``governance.accounts.throttle``)."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        ip = get_client_ip_address(request._request if hasattr(request, "_request") else request)
        source = f"ip:{ip or 'unknown'}"
        until = locked_until("token", source)
        if until is not None:
            refusal_note("token", source, reason="throttled")
            wait = max(1, math.ceil((until - timezone.now()).total_seconds()))
            raise exceptions.Throttled(
                wait=wait, detail=f"too many refused credentials from this address; try again in {wait} s"
            )
        if len(header) != 2:
            refusal_note("token", source, reason="malformed header")
            raise exceptions.AuthenticationFailed("Authorization header must be 'Token <key>'")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            refusal_note("token", source, reason="malformed header")
            raise exceptions.AuthenticationFailed("token contains invalid characters") from exc
        try:
            return api_token_authenticate(key, ip=ip)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; keys are issued with `manage.py issue_token` or in the admin.",
        }

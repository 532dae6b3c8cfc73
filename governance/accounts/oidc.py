"""Single sign-on with OpenID Connect: discovery, ID-token checks, users and roles from the provider.

Built on mozilla-django-oidc (state, nonce and PKCE kept in the session, the code exchange, the
Django backend), hardened where it is permissive: endpoints come from the issuer's discovery
document; the ID token is checked for signature (JWKS, fetched again when an unknown key id
appears, so key rotation needs no restart), algorithm, ``iss``, ``aud`` (and ``azp``), ``exp``,
``iat`` and ``nonce``; users are found by (issuer, subject), never by e-mail; roles come from the
group claim through ``OIDC_GROUP_ROLE_MAP`` at every sign-in, each change audited.

Every refusal raises :class:`OidcError` with a message safe to show; the views render it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core import checks
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from audit.context import Actor
from audit.services import audit_unit
from governance.accounts.models import OidcIdentity, User
from governance.accounts.principal import Principal
from governance.accounts.roles import ALL_ROLES, PIPELINE
from governance.common.errors import Conflict, DomainError, PermissionRefused
from governance.common.refusals import refusals

log = logging.getLogger("mlgov.sso")

AUTH_METHOD = "oidc"
BACKEND_PATH = "governance.accounts.oidc.GovernanceOIDCBackend"


class OidcError(Exception):
    """A refused sign-in or re-authentication; ``reason`` is safe to show to the person."""

    status = 403

    def __init__(self, reason: str, *, subject: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.subject = subject


class ProviderUnavailable(OidcError):
    status = 503


# --- discovery and keys ----------------------------------------------------------------------------------------

_lock = threading.Lock()
_discovery: dict[str, tuple[float, dict]] = {}
_jwks: dict[str, list[dict]] = {}


def reset_caches() -> None:
    """Forget discovery documents and keys (tests; a changed OIDC_ISSUER)."""
    with _lock:
        _discovery.clear()
        _jwks.clear()


def _get(url: str, **kwargs) -> requests.Response:
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, **kwargs)
        response.raise_for_status()
        return response
    except requests.RequestException as exc:
        log.warning("identity provider request failed", extra={"url": url, "error": str(exc)})
        raise ProviderUnavailable(
            f"The identity provider ({settings.OIDC_ISSUER}) did not answer ({type(exc).__name__}). "
            "Try again in a few minutes; if it persists, tell your administrator (break-glass sign-in exists)."
        ) from exc


def provider_metadata(*, refresh: bool = False) -> dict:
    """The issuer's discovery document, cached for OIDC_DISCOVERY_CACHE_SECONDS."""
    issuer = settings.OIDC_ISSUER
    if not settings.OIDC_ENABLED or not issuer:
        raise OidcError("Single sign-on is not configured on this server (OIDC_ISSUER).")
    cached = _discovery.get(issuer)
    if cached and not refresh and time.monotonic() - cached[0] < settings.OIDC_DISCOVERY_CACHE_SECONDS:
        return cached[1]
    doc = _get(f"{issuer}/.well-known/openid-configuration").json()
    if doc.get("issuer", "").rstrip("/") != issuer:
        raise OidcError(f"The discovery document at {issuer} names another issuer ({doc.get('issuer')!r}).")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
    if missing:
        raise OidcError(f"The provider's discovery document lacks {', '.join(missing)}.")
    with _lock:
        _discovery[issuer] = (time.monotonic(), doc)
    return doc


def _signing_key(token: str) -> jwt.PyJWK:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OidcError("The ID token is not a well-formed JWT.") from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in settings.OIDC_RP_SIGN_ALGOS:
        raise OidcError(f"The ID token is signed with {alg!r}, which is not accepted (OIDC_RP_SIGN_ALGOS).")
    uri = provider_metadata()["jwks_uri"]

    def fetch() -> list[dict]:
        keys = _get(uri).json().get("keys", [])
        with _lock:
            _jwks[uri] = keys
        return keys

    def find(keys: list[dict]) -> dict | None:
        for jwk in keys:
            if (kid is None or jwk.get("kid") == kid) and jwk.get("alg", alg) == alg and jwk.get("use", "sig") == "sig":
                return jwk
        return None

    cached = _jwks.get(uri)
    jwk = find(cached) if cached is not None else None
    if jwk is None:  # first use, or an unknown key id: the provider may have rotated its keys
        jwk = find(fetch())
    if jwk is not None:
        return jwt.PyJWK(jwk, algorithm=alg)
    raise OidcError(f"The ID token is signed with a key the provider does not publish (kid {kid!r}).")


def verify_id_token(token: str, *, nonce: str | None, client_id: str | None = None) -> dict:
    """The checked claims of an ID token, or OidcError naming what is wrong."""
    if not token:
        raise OidcError("The provider returned no ID token.")
    client_id = client_id or settings.OIDC_RP_CLIENT_ID
    key = _signing_key(token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            audience=client_id,
            issuer=settings.OIDC_ISSUER,
            leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise OidcError("The ID token has expired; sign in again.") from exc
    except jwt.InvalidAudienceError as exc:
        raise OidcError("The ID token was issued to another application (aud does not name this client).") from exc
    except jwt.InvalidIssuerError as exc:
        raise OidcError("The ID token comes from another issuer than the configured OIDC_ISSUER.") from exc
    except jwt.InvalidSignatureError as exc:
        raise OidcError("The ID token's signature does not verify: it was altered or forged.") from exc
    except jwt.PyJWTError as exc:
        raise OidcError(f"The ID token is invalid ({exc}).") from exc
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise OidcError("The ID token has several audiences and its azp does not name this client.")
    if settings.OIDC_USE_NONCE and (not nonce or claims.get("nonce") != nonce):
        raise OidcError("The ID token's nonce does not match this sign-in (a replayed or forged response).")
    return claims


# --- roles from groups -----------------------------------------------------------------------------------------


def roles_from_groups(groups) -> tuple[list[str], list[str]]:
    """(roles, unmapped groups) for the provider's group claim values, by OIDC_GROUP_ROLE_MAP.

    A service-account role (``pipeline``) is never granted through single sign-on.
    """
    if isinstance(groups, str):
        groups = [groups]
    roles: set[str] = set()
    unmapped: list[str] = []
    for group in groups or []:
        mapped = settings.OIDC_GROUP_ROLE_MAP.get(str(group))
        if mapped is None:
            unmapped.append(str(group))
            continue
        for role in [mapped] if isinstance(mapped, str) else mapped:
            if role in ALL_ROLES and role != PIPELINE:
                roles.add(role)
    return sorted(roles), sorted(unmapped)


def check_group_role_map(mapping: dict) -> list[str]:
    """Problems in an OIDC_GROUP_ROLE_MAP (used by the system check)."""
    problems = []
    for group, mapped in mapping.items():
        for role in [mapped] if isinstance(mapped, str) else list(mapped or []):
            if role not in ALL_ROLES:
                problems.append(f"group {group!r} maps to unknown role {role!r} (roles: {', '.join(ALL_ROLES)})")
            elif role == PIPELINE:
                problems.append(f"group {group!r} maps to {PIPELINE!r}: service accounts are token-only")
    return problems


# --- the sign-in service ----------------------------------------------------------------------------------------


def sso_actor(user: User) -> Actor:
    return Principal.for_user(user, auth=AUTH_METHOD).actor


# Who acts before a person is known (a first sign-in creates the account): the provider's answer.
SSO_SYSTEM = Principal(user=None, auth=AUTH_METHOD, actor=Actor(type="system", id="sso", auth=AUTH_METHOD))


def _target(issuer: str, subject: str, user: User | None = None) -> dict:
    target = {"type": "oidc_identity", "id": subject, "issuer": issuer}
    if user is not None:
        target["username"] = user.username
    return target


_USERNAME_BAD = re.compile(r"[^\w.@+-]")


def _username_for(claims: dict) -> str:
    raw = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email") or claims["sub"]
    return _USERNAME_BAD.sub("_", str(raw))[:150]


@dataclass(frozen=True)
class SsoLogin:
    user: User
    created: bool
    roles_before: list[str]
    roles_after: list[str]


def sso_login(*, issuer: str, claims: dict) -> SsoLogin:
    """Find or create the person for verified ``claims`` and set their roles from the group claim.

    Runs at every sign-in: a person removed from a group loses the role now (audited as
    ``user.roles_change`` with the groups that decided it). A person whose groups give no role is
    refused (``sso.login.denied``) and keeps no role; their personal API tokens stop working with it.
    Refusals raise OidcError.
    """
    try:
        return _sso_login(issuer=issuer, claims=claims)
    except DomainError as exc:
        raise OidcError(exc.message, subject=str(claims.get("sub"))) from exc


def _sso_login(*, issuer: str, claims: dict) -> SsoLogin:
    subject = str(claims["sub"])
    groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    roles, unmapped = roles_from_groups(groups)
    group_details = {"groups": sorted(map(str, groups if isinstance(groups, list) else [groups])), "unmapped": unmapped}
    identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    user = identity.user if identity else None
    by = Principal.for_user(user, auth=AUTH_METHOD) if user is not None else SSO_SYSTEM
    no_role = (
        "Sign-in refused: none of your groups at the identity provider gives a role in mlgov "
        f"(groups: {', '.join(group_details['groups']) or 'none'})."
    )
    with refusals(by, "sso.login", _target(issuer, subject, user), details=group_details):
        if user is not None and user.is_service_account:
            raise PermissionRefused("Sign-in refused: a service account never signs in interactively.")
        if user is not None and not user.is_active:
            raise PermissionRefused("Sign-in refused: the account is disabled.")
        if user is None:
            if not roles:
                raise PermissionRefused(f"{no_role} Ask for access through your usual process.", field="groups")
            username = _username_for(claims)
            if User.objects.filter(username=username).exists():
                raise Conflict(
                    f"Sign-in refused: a local account named {username!r} already exists and is not linked to this "
                    "identity. Accounts are never merged by name; ask an administrator.",
                    field="username",
                )
            from governance.accounts.services import user_create

            with audit_unit(by.actor) as audit:
                user = user_create(
                    by=by,
                    username=username,
                    password=None,
                    roles=roles,
                    email=str(claims.get("email") or "")[:254],
                    first_name=str(claims.get("given_name") or "")[:150],
                    last_name=str(claims.get("family_name") or claims.get("name") or "")[:150],
                    is_staff=True,
                )
                linked = OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
                audit.add(
                    "sso.identity.link",
                    _target(issuer, subject, user),
                    details={
                        "roles": roles,
                        **group_details,
                        "just_in_time": True,
                        "identity": linked.pk,
                        "created_at": linked.created_at,
                    },
                    actor=sso_actor(user),
                )
            return SsoLogin(user=user, created=True, roles_before=[], roles_after=roles)
        before = user.role_names
        with audit_unit(by.actor) as audit:
            if before != roles:
                user.groups.set(Group.objects.filter(name__in=roles))
                audit.add(
                    "user.roles_change",
                    {"type": "user", "id": str(user.pk), "username": user.username},
                    details={
                        "before": before,
                        "after": roles,
                        "added": sorted(set(roles) - set(before)),
                        "removed": sorted(set(before) - set(roles)),
                        "source": f"groups at {issuer}",
                        **group_details,
                    },
                )
            if roles and not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
                audit.add(
                    "user.update",
                    {"type": "user", "id": str(user.pk), "username": user.username},
                    details={"is_staff": True, "source": "sso"},
                )
        if not roles:
            raise PermissionRefused(f"{no_role} Your roles were removed.", field="groups")
    return SsoLogin(user=user, created=False, roles_before=before, roles_after=roles)


# --- Django authentication backends ------------------------------------------------------------------------------


class GovernanceOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with discovery, strict ID-token checks and roles from groups."""

    def __init__(self, *args, **kwargs):  # no settings read here: this runs on every request (get_user)
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):
        return provider_metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self):
        return provider_metadata().get("userinfo_endpoint")

    @property
    def OIDC_RP_CLIENT_ID(self):
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self):
        return settings.OIDC_RP_CLIENT_SECRET

    def get_token(self, payload):
        try:
            return super().get_token(payload)
        except requests.HTTPError as exc:
            body = {}
            try:
                body = exc.response.json()
            except ValueError:
                pass
            raise OidcError(
                "The identity provider refused the sign-in code "
                f"({body.get('error', exc.response.status_code)}: {body.get('error_description', '')}). "
                "Sign in again."
            ) from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                f"The identity provider ({settings.OIDC_ISSUER}) did not answer ({type(exc).__name__}); try later."
            ) from exc

    def verify_token(self, token, **kwargs):
        return verify_id_token(token, nonce=kwargs.get("nonce"))

    def exchange_code(self, request, *, code: str, code_verifier: str | None, redirect_uri: str) -> dict:
        """The provider's token response (``id_token``, ``access_token``) for an authorization code."""
        payload = {
            "client_id": self.OIDC_RP_CLIENT_ID,
            "client_secret": self.OIDC_RP_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if code_verifier:
            payload["code_verifier"] = code_verifier
        return self.get_token(payload)

    def claims_for(self, token_info: dict, *, nonce: str | None) -> dict:
        claims = self.verify_token(token_info.get("id_token"), nonce=nonce)
        if self.OIDC_OP_USER_ENDPOINT and token_info.get("access_token"):
            try:
                info = self.get_userinfo(token_info["access_token"], token_info.get("id_token"), claims)
            except requests.RequestException as exc:
                raise ProviderUnavailable("The identity provider's userinfo endpoint did not answer.") from exc
            if str(info.get("sub")) != str(claims["sub"]):
                raise OidcError("The provider's userinfo names another subject than the ID token.")
            claims = {**info, **claims}
        return claims

    def authenticate(self, request, **kwargs):
        # Only the SSO callback view signs people in through this backend (see oidc_views).
        return None

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active and not user.is_service_account else None


class LocalPasswordBackend(ModelBackend):
    """Password sign-in for the demo and the break-glass account; off with LOCAL_LOGIN_ENABLED=false.

    LOCAL_LOGIN_USERS, when set, names the only accounts that may use a password. Service accounts
    and people linked to the identity provider never sign in with a password.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            return None
        if settings.LOCAL_LOGIN_USERS and username not in settings.LOCAL_LOGIN_USERS:
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None or user.is_service_account or OidcIdentity.objects.filter(user=user).exists():
            return None
        return user


@checks.register(checks.Tags.security)
def sso_settings_check(app_configs=None, **kwargs):
    """``manage.py check``: the group map names real roles; SSO has a client when it is on."""
    problems = [
        checks.Error(p, hint="Fix OIDC_GROUP_ROLE_MAP (docs/operations.md, Single sign-on).", id="mlgov.E101")
        for p in check_group_role_map(settings.OIDC_GROUP_ROLE_MAP)
    ]
    if settings.OIDC_ENABLED and not (settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET):
        problems.append(
            checks.Error(
                "OIDC_ENABLED but OIDC_RP_CLIENT_ID or OIDC_RP_CLIENT_SECRET is empty",
                hint="Register mlgov as a client at the provider and set both (docs/operations.md).",
                id="mlgov.E102",
            )
        )
    if settings.OIDC_ENABLED and not settings.OIDC_GROUP_ROLE_MAP:
        problems.append(
            checks.Warning(
                "OIDC_GROUP_ROLE_MAP is empty: every single sign-on will be refused (no group gives a role)",
                id="mlgov.W101",
            )
        )
    return problems

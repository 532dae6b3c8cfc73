"""People, roles, service accounts and API tokens. Every change is audited in its transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone

from audit.services import audit_unit
from governance.accounts.models import ApiToken, User
from governance.accounts.principal import Principal
from governance.accounts.roles import ALL_ROLES, PIPELINE
from governance.common.errors import Conflict, NotFound, ValidationFailed
from governance.common.refusals import refusals

TOKEN_PREFIX = "mlg"
LAST_USED_GRANULARITY = dt.timedelta(seconds=60)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _user_target(user: User) -> dict:
    return {"type": "user", "id": str(user.pk), "username": user.username}


def user_create(
    *,
    by: Principal,
    username: str,
    password: str | None,
    roles: list[str] | tuple[str, ...] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
    is_superuser: bool = False,
    is_service_account: bool = False,
) -> User:
    with refusals(by, "user.create", {"type": "user", "id": username, "username": username}):
        unknown = sorted(set(roles) - set(ALL_ROLES))
        if unknown:
            raise ValidationFailed(f"unknown role(s): {', '.join(unknown)}", field="roles")
        with audit_unit(by.actor) as audit:
            if User.objects.filter(username=username).exists():
                raise Conflict(f"a user named {username!r} already exists", field="username")
            user = User(
                username=username,
                email=email,
                first_name=first_name,
                last_name=last_name,
                is_staff=is_staff,
                is_superuser=is_superuser,
                is_service_account=is_service_account,
            )
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
            user.groups.set(Group.objects.filter(name__in=roles))
            audit.add(
                "user.create",
                _user_target(user),
                details={
                    "roles": sorted(roles),
                    "is_staff": is_staff,
                    "is_superuser": is_superuser,
                    "is_service_account": is_service_account,
                    "is_active": user.is_active,
                    "email": email,
                    "first_name": first_name,
                    "last_name": last_name,
                    "date_joined": user.date_joined,
                },
            )
    return user


USERNAME_FIXED = (
    "a username cannot change once the account exists: the audit log names people by username, so a renamed "
    "account would appear in the record as someone else (create a new account instead)"
)


def user_username_keep(*, by: Principal, user: User, username: str) -> None:
    """Refuse (audited as ``user.update.denied``) a change of ``user``'s stored username to ``username``.
    Usernames are immutable (docs/architecture.md, "Usernames are immutable")."""
    stored = User.objects.filter(pk=user.pk).values_list("username", flat=True).first()
    with refusals(by, "user.update", {"type": "user", "id": str(user.pk), "username": stored}):
        if stored is not None and username != stored:
            raise Conflict(USERNAME_FIXED, field="username", details={"requested": username[:150]})


def user_roles_set(*, by: Principal, user: User, roles: list[str]) -> User:
    with refusals(by, "user.roles_change", _user_target(user)):
        unknown = sorted(set(roles) - set(ALL_ROLES))
        if unknown:
            raise ValidationFailed(f"unknown role(s): {', '.join(unknown)}", field="roles")
        with audit_unit(by.actor) as audit:
            before = user.role_names
            user.groups.set(Group.objects.filter(name__in=roles))
            audit.add("user.roles_change", _user_target(user), details={"before": before, "after": sorted(roles)})
    return user


def api_token_issue(
    *, by: Principal, user: User, name: str = "", expires_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user`` and return it with its key. The key is never stored or shown again."""
    with refusals(by, "api_token.issue", _user_target(user)):
        if not user.is_active:
            raise ValidationFailed("cannot issue a token to an inactive user", field="user")
        days = settings.API_TOKEN_DEFAULT_EXPIRY_DAYS if expires_days is None else expires_days
        if days <= 0 or days > 3650:
            raise ValidationFailed("expiry must be between 1 and 3650 days", field="expires_days")
        prefix = secrets.token_hex(4)
        key = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        now = timezone.now()
        with audit_unit(by.actor) as audit:
            token = ApiToken.objects.create(
                user=user,
                name=name,
                prefix=prefix,
                key_sha256=_hash_key(key),
                created_at=now,
                expires_at=now + dt.timedelta(days=days),
            )
            audit.add(
                "api_token.issue",
                {"type": "api_token", "id": str(token.pk), "prefix": prefix},
                details={
                    "user": user.username,
                    "name": name,
                    "created_at": token.created_at,
                    "expires_at": token.expires_at,
                    # The digest of a 256-bit random key: it cannot be turned back into the key, and it lets
                    # state verification check the stored digest (audit.state).
                    "key_sha256": token.key_sha256,
                },
            )
    return token, key


def api_token_revoke(*, by: Principal, token: ApiToken) -> ApiToken:
    target = {"type": "api_token", "id": str(token.pk), "prefix": token.prefix}
    with refusals(by, "api_token.revoke", target), audit_unit(by.actor) as audit:
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at:
            raise Conflict("token is already revoked", field="token")
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.add("api_token.revoke", target, details={"user": token.user.username, "revoked_at": token.revoked_at})
    return token


def service_account_create(
    *, by: Principal, name: str, email: str = "", expires_days: int | None = None
) -> tuple[User, str]:
    """A pipeline account (role ``pipeline``) and its first token, in one unit of work."""
    with audit_unit(by.actor):
        user = user_create(by=by, username=name, password=None, roles=[PIPELINE], email=email, is_service_account=True)
        _, key = api_token_issue(by=by, user=user, name="initial", expires_days=expires_days)
    return user, key


class TokenRejected(Exception):
    """A bad, expired or revoked token; the message is safe to show to the caller."""


def api_token_authenticate(key: str, *, ip: str | None = None) -> tuple[User, ApiToken]:
    """Resolve a presented key. Every refusal is audited (it may be an attack)."""
    parts = key.split("_", 2)
    token = None
    if len(parts) == 3 and parts[0] == TOKEN_PREFIX:
        token = ApiToken.objects.select_related("user").filter(prefix=parts[1]).first()
    reason = None
    if token is None or not hmac.compare_digest(token.key_sha256, _hash_key(key)):
        reason, token = "unknown token", None
    elif token.revoked_at:
        reason = "token revoked"
    elif token.expires_at and token.expires_at <= timezone.now():
        reason = "token expired"
    elif not token.user.is_active:
        reason = "user inactive"
    elif not (token.user.is_service_account or token.user.is_superuser or token.user.groups.exists()):
        # A person who lost every role (e.g. removed from their groups at the identity provider).
        reason = "user has no role"
    if reason:
        # Counted per address and recorded as one audit event per address and window, with the
        # count (governance.accounts.throttle): a flood of made-up tokens cannot grow the log per request.
        from governance.accounts.throttle import refusal_note

        subject = f"api_token:{token.pk}" if token else (parts[1][:12] if len(parts) == 3 else "?")
        refusal_note("token", f"ip:{ip or 'unknown'}", reason=reason, subject=subject)
        raise TokenRejected(reason)
    assert token is not None  # every path that leaves no token sets a reason
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        # Bookkeeping, not governance state: not audited, and at most once a minute per token.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


def user_by_username(username: str) -> User:
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist as exc:
        raise NotFound(f"no user named {username!r}", field="username") from exc

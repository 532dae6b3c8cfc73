"""Who is calling a service: one object, built once at the edge, passed to every service.

A ``Principal`` is the user (``None`` for a system job), how they authenticated, and the audit
``Actor`` derived from both, so the actor written to the log and the user whose rights were
checked can never disagree. The API layer builds it from the DRF request, the admin from the
Django request, a command from its name, a Celery task from what the request that queued it
carried (``as_task_context`` / ``from_task_context``).

    principal = Principal.for_request(request)          # API view or admin
    principal = Principal.for_user(user, auth="cli")     # demo data, tests
    principal = Principal.system("celery:workflow.requests_expire", auth="celery")
    principal = Principal.for_command("create_service_account")

    registered_model_create(by=principal, name="credit-scoring", ...)

The role rule (``has_role``/``require_role``) is ``governance.accounts.roles.has_role``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from functools import cached_property

from audit.context import Actor
from governance.accounts import roles as role_rule
from governance.accounts.models import User
from governance.common.errors import PermissionRefused

AUTH_METHODS = ("session", "token", "oidc", "cli", "celery", "system")
SYSTEM_AUTH = ("cli", "celery", "system")


@dataclass(frozen=True)
class Principal:
    """The caller of a service. Build it with one of the constructors, not directly."""

    user: User | None
    auth: str
    actor: Actor = field(compare=False)

    def __post_init__(self) -> None:
        if self.auth not in AUTH_METHODS:
            raise ValueError(f"auth must be one of {AUTH_METHODS}, got {self.auth!r}")
        if self.user is None and self.actor.type != "system":
            raise ValueError("a principal without a user acts as a system actor")

    # --- constructors ----------------------------------------------------------------------------------------

    @classmethod
    def for_user(cls, user: User, *, auth: str) -> Principal:
        """An authenticated person or service account (``auth``: session, token, oidc, cli, celery)."""
        if user is None or not getattr(user, "is_authenticated", False):
            raise ValueError("Principal.for_user needs an authenticated user")
        kind = "service" if user.is_service_account else "user"
        return cls(user=user, auth=auth, actor=Actor(type=kind, id=str(user.pk), username=user.username, auth=auth))

    @classmethod
    def for_request(cls, request) -> Principal:
        """The caller of a DRF or Django request (API view, admin). The authentication class that
        accepted the request names its method with a ``principal_auth`` attribute (default: token
        when DRF set ``request.auth``, else session)."""
        auth = getattr(getattr(request, "successful_authenticator", None), "principal_auth", None)
        if auth is None:
            auth = "token" if getattr(request, "auth", None) is not None else "session"
        if auth == "session" and getattr(request, "session", {}).get("_auth_method") == "oidc":
            auth = "oidc"  # a browser session opened by single sign-on (governance.accounts.oidc_views)
        return cls.for_user(request.user, auth=auth)

    @classmethod
    def system(cls, name: str, *, auth: str = "system") -> Principal:
        """A job that acts on its own (Celery beat, a migration): no user, a named system actor."""
        if auth not in SYSTEM_AUTH:
            raise ValueError(f"a system principal authenticates as one of {SYSTEM_AUTH}")
        return cls(user=None, auth=auth, actor=Actor.system(name, auth=auth))

    @classmethod
    def for_command(cls, command: str) -> Principal:
        """A management command: a named system actor with the operating-system user running it."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return cls(user=None, auth="cli", actor=Actor(type="system", id=f"cli:{command}", username=who, auth="cli"))

    # --- the role rule ---------------------------------------------------------------------------------------

    @cached_property
    def roles(self) -> frozenset[str]:
        """The roles the user holds (read once per principal); none for system principals."""
        return role_rule.role_names(self.user)

    def has_role(self, *roles: str, superusers: bool = True) -> bool:
        """Active users holding one of ``roles``; active superusers too unless ``superusers=False``."""
        return role_rule.has_role(self.user, *roles, superusers=superusers, held=self.roles)

    def require_role(self, *roles: str, reason: str, superusers: bool = True, field: str | None = None) -> None:
        """Raise ``PermissionRefused(reason)`` unless ``has_role(*roles)``; inside ``refusals(...)``
        the refusal is audited as ``<action>.denied``."""
        if not self.has_role(*roles, superusers=superusers):
            raise PermissionRefused(reason, field=field)

    # --- conveniences ----------------------------------------------------------------------------------------

    @property
    def is_system(self) -> bool:
        return self.user is None

    @property
    def is_service_account(self) -> bool:
        return self.user is not None and self.user.is_service_account

    @property
    def is_superuser(self) -> bool:
        """An active superuser (superusers are named explicitly wherever they pass a rule)."""
        return self.user is not None and self.user.is_active and self.user.is_superuser

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    def __str__(self) -> str:
        return f"{self.actor.username or self.actor.id} ({self.auth})"

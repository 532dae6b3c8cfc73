"""People and service accounts, created through the audited services."""

from __future__ import annotations

import itertools

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.services import user_create

ADMIN = Principal.system("tests")  # the test suite acting as an administrator (a system principal)
ADMIN_ACTOR = ADMIN.actor


def as_user(user: User, *, auth: str = "session") -> Principal:
    """The principal of ``user`` calling a service (what the API or the admin would build)."""
    return Principal.for_user(user, auth=auth)


PASSWORD = "correct-horse-battery-staple"
_counter = itertools.count(1)


def person(*roles: str, username: str | None = None, password: str = PASSWORD, **extra) -> User:
    number = next(_counter)
    name = username or f"{'-'.join(roles) or 'user'}-{number}".replace("_", "-")
    return user_create(
        by=ADMIN,
        username=name,
        password=password,
        roles=list(roles),
        email=f"{name}@example.com",
        first_name=name.split("-")[0].title(),
        last_name=f"Tester{number}",
        is_staff=True,
        **extra,
    )


def service_account(name: str | None = None) -> User:
    return user_create(
        by=ADMIN,
        username=name or f"pipeline-{next(_counter)}",
        password=None,
        roles=["pipeline"],
        is_service_account=True,
    )

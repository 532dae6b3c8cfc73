"""Who is acting and in which request, for the audit record.

The actor is always passed explicitly to ``audit_event_append``: there is no "current user"
magic, so a Celery task or a management command cannot silently write a null actor. The
request context (request id, origin, remote address) travels in a context variable set by the
middleware, the Celery signal handlers and management commands.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

ORIGINS = ("http", "celery", "manage", "migration", "system")
ACTOR_TYPES = ("user", "service", "system")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class Actor:
    """A named actor. System actors carry the name of the job that acts (``seed_demo``)."""

    type: str
    id: str
    username: str | None = None
    auth: str = "system"

    def __post_init__(self) -> None:
        if self.type not in ACTOR_TYPES:
            raise ValueError(f"actor type must be one of {ACTOR_TYPES}, got {self.type!r}")
        if not self.id:
            raise ValueError("an audit actor must be named (empty id)")

    @classmethod
    def system(cls, name: str, *, auth: str = "system") -> Actor:
        return cls(type="system", id=name, username=name, auth=auth)

    def as_record(self) -> dict[str, str]:
        record = {"type": self.type, "id": self.id, "auth": self.auth}
        if self.username:
            record["username"] = self.username
        return record


@dataclass(frozen=True)
class RequestContext:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    origin: str = "system"
    ip: str | None = None

    def as_record(self) -> dict[str, str]:
        record = {"request_id": self.request_id, "origin": self.origin}
        if self.ip:
            record["ip"] = self.ip
        return record


_current: ContextVar[RequestContext | None] = ContextVar("mlgov_request_context", default=None)


def _default_origin() -> str:
    return "manage" if sys.argv and sys.argv[0].endswith("manage.py") else "system"


def current_context() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        ctx = RequestContext(origin=_default_origin())
        _current.set(ctx)
    return ctx


def clean_request_id(value: str | None) -> str:
    """A caller's X-Request-ID if it is sane, else a fresh one."""
    if value and _REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


@contextmanager
def request_context(*, origin: str, request_id: str | None = None, ip: str | None = None) -> Iterator[RequestContext]:
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}")
    ctx = RequestContext(request_id=clean_request_id(request_id), origin=origin, ip=ip)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


class RequestContextLogFilter(logging.Filter):
    """Adds ``request_id`` to every log record so log lines join audit events."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _current.get()
        record.request_id = ctx.request_id if ctx else None
        return True

"""Domain errors raised by services and turned into JSON by the API's exception handler.

Every error names the field it is about (dotted path for nested input, e.g. ``data.y_true``)
and the reason, so a pipeline author can fix the request without reading our code.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a request the domain refuses. ``status`` is the HTTP status the API uses: it comes
    from the error's type (never from its message). ``details`` go into the audited refusal only."""

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        details: dict | None = None,
    ):
        super().__init__(message)
        self.details = dict(details or {})
        self.audited = False  # set by governance.common.refusals once the refusal is on record
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.fields = dict(fields or {})
        if field and field not in self.fields:
            self.fields[field] = [message]

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class ValidationFailed(DomainError):
    status = 400
    code = "validation_error"


class PermissionRefused(DomainError):
    status = 403
    code = "permission_denied"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unauthenticated(DomainError):
    """The caller did not prove who they are (e.g. a webhook whose signature does not verify)."""

    status = 401
    code = "unauthenticated"


class Unavailable(DomainError):
    """A system this one depends on did not answer, timed out or failed: nothing was written; retry later."""

    status = 503
    code = "unavailable"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class IllegalTransition(Conflict):
    code = "illegal_transition"

"""One JSON shape for every API error:

``{"error": {"code": "...", "message": "...", "fields": {"<dotted field>": ["<reason>", ...]}}}``
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from audit.services import AuditInputError
from governance.accounts.principal import Principal
from governance.common.errors import DomainError, PermissionRefused
from governance.common.refusals import refusals


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"a.b[0].c": ["reason"]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = (
                "body"
                if key == "non_field_errors" and not prefix
                else (prefix or "") + (str(key) if not prefix else f".{key}")
            )
            if key == "non_field_errors" and prefix:
                name = prefix
            for field, messages in flatten_errors(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or "body", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                for field, messages in flatten_errors(item, f"{prefix}[{index}]").items():
                    out.setdefault(field, []).extend(messages)
    else:
        out.setdefault(prefix or "body", []).append(str(detail))
    return out


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, AuditInputError):
        # A value the audit log cannot record (a key with a space, a float from a caller...): the
        # service's transaction rolled back with it; the field is the event's (``data.<field>``).
        field = exc.field.removeprefix("data.")
        message = f"{field}: {exc} (the change was not made: it could not be recorded in the audit log)"
        return Response(error_body("validation_error", message, {field: [str(exc)]}), status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", str(exc), {"body": [str(exc)]}),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        first_field, reasons = next(iter(fields.items()), ("body", ["invalid input"]))
        body = error_body("validation_error", f"{first_field}: {reasons[0]}", fields)
    elif isinstance(exc, exceptions.ParseError):
        body = error_body("parse_error", str(exc.detail), {getattr(exc, "field", "body"): [str(exc.detail)]})
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(code, str(exc.detail))
    if isinstance(exc, exceptions.PermissionDenied):
        _audit_permission_denied(context, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def _audit_permission_denied(context, reason: str) -> None:
    request = context.get("request")
    if request is None or not getattr(request, "user", None) or not request.user.is_authenticated:
        return
    try:
        with refusals(Principal.for_request(request), "api.request", {"type": "endpoint", "id": request.path}):
            raise PermissionRefused(reason, details={"method": request.method})
    except PermissionRefused:
        pass


def json_error(status_code: int, code: str, message: str, field: str = "body") -> JsonResponse:
    return JsonResponse(error_body(code, message, {field: [message]}), status=status_code)

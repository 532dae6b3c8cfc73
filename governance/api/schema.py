"""The OpenAPI schema documents the errors each operation can answer, in the one error shape.

drf-spectacular documents the success responses a view declares. The errors come from the layers
every view shares (authentication, role permissions, the services' refusals, validation,
pagination, throttling), so they are added here, once, from what the operation is:

- 400 ``validation_error`` / ``parse_error``: it takes a body or query parameters;
- 401 refused credentials, 429 too many refused credentials from one address: it needs a caller;
- 403 a role or ownership refusal: it checks permissions;
- 404: it addresses an object by id, it is a paginated list (a page past the last), or it changes
  state (an id named in the body that does not exist);
- 409 a conflict or an illegal transition, 413 a body too large: it changes state.

An operation that declares a status itself (``@extend_schema(responses=...)``) keeps its own.
``tests/security/test_schemathesis.py`` checks that every status the API answers is documented.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import permissions, serializers

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
            },
        )
    },
)

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
DESCRIPTIONS = {
    "400": "Invalid input: `error.fields` names each field and the reason.",
    "401": "No credentials, or credentials refused (unknown, expired or revoked token, inactive user).",
    "403": "The caller's roles do not allow this (the refusal is audited).",
    "404": "No such object: the one addressed, one named in the body, or a page past the last.",
    "409": "Conflict with the current state (e.g. an illegal transition or a duplicate).",
    "413": "The body or the data it names is larger than the configured limits.",
    "429": "Too many refused credentials from this address: retry after `Retry-After` seconds.",
}


class GovernanceAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses of the shared layers (module docstring)."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                body = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                body["description"] = DESCRIPTIONS[code]
                responses[code] = body
        return responses

    def _error_codes(self) -> list[str]:
        view_permissions = self.view.get_permissions()
        public = all(isinstance(p, permissions.AllowAny) for p in view_permissions)
        has_path_id = "{" in self.path
        paginated = self._is_list_view() and self.method == "GET" and self._get_paginator() is not None
        takes_input = (
            self.method in UNSAFE
            or paginated
            or bool(self._get_filter_parameters())
            or bool(self.get_override_parameters())
            or self.method == "GET"
            and bool(getattr(self.view, "query_parameters", ()))
        )
        codes = []
        if takes_input:
            codes.append("400")
        if not public:
            codes += ["401", "403"]
        if has_path_id or paginated or self.method in UNSAFE:
            codes.append("404")
        if self.method in UNSAFE:
            codes += ["409", "413"]
        if not public:
            codes.append("429")
        return codes

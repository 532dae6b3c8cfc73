from __future__ import annotations

from functools import cached_property

from rest_framework import permissions, viewsets

from governance.accounts.principal import Principal
from governance.api import idempotency


class RolePermissions(permissions.DjangoModelPermissions):
    """Model permissions from the user's roles, including ``view`` for reads."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class GovernanceViewSet(viewsets.GenericViewSet):
    """Base for API viewsets: role permissions and ``Idempotency-Key`` handling on POST."""

    permission_classes = [permissions.IsAuthenticated, RolePermissions]
    _idempotency_record = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = idempotency.begin(request)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        try:
            return super().handle_exception(exc)
        except Exception:
            if self._idempotency_record is not None:  # unhandled failure: let the client retry
                idempotency.abandon(self._idempotency_record)
                self._idempotency_record = None
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency_record is not None:
            idempotency.complete(self._idempotency_record, response)
            self._idempotency_record = None
        return response

    @cached_property
    def principal(self) -> Principal:
        """The caller, built once per request (a view instance serves one request); every service
        call of the view passes it as ``by``."""
        return Principal.for_request(self.request)

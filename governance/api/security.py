"""Response headers that hold on every page and API response (issue 10, defect 11).

- ``Permissions-Policy``: the service uses no camera, microphone, location, payment or USB.
- ``Cache-Control: no-store`` on API responses (``/api/``): they carry governed data (models,
  approvals, the audit log) that no shared or browser cache should keep. The OpenAPI schema and
  the docs pages are the exception (``NO_STORE_EXEMPT``).
The Content-Security-Policy comes from django-csp (settings ``CONTENT_SECURITY_POLICY``).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.cache import patch_cache_control

PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), midi=(), payment=(), usb=(), interest-cohort=()"
)
NO_STORE_EXEMPT = ("/api/schema/", "/api/docs/", "/api/redoc/")


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", getattr(settings, "PERMISSIONS_POLICY", PERMISSIONS_POLICY))
        path = request.path
        if path.startswith("/api/") and not path.startswith(NO_STORE_EXEMPT):
            patch_cache_control(response, no_store=True, private=True)
        return response


def api_server_error(request, *args, **kwargs):
    """``handler500``: API paths answer in the JSON error shape; pages get Django's page."""
    from django.views import defaults

    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        from audit.context import current_context
        from governance.api.errors import error_body

        request_id = current_context().request_id
        body = error_body(
            "server_error",
            f"internal server error (request id {request_id}); quote the request id to the operators",
        )
        response = JsonResponse(body, status=500)
        response["Cache-Control"] = "no-store"
        return response
    return defaults.server_error(request, *args, **kwargs)

"""The API reference pages, served offline: Swagger UI and ReDoc from drf-spectacular-sidecar."""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView

# ReDoc draws a "by Redocly" logo from its CDN; the policy stops that request before it leaves the
# browser (its styles are inline and it builds a web worker from a blob).
REDOC_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; worker-src 'self' blob:; font-src 'self' data:; connect-src 'self'"
)


class OfflineRedocView(SpectacularRedocView):
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.headers["Content-Security-Policy"] = REDOC_POLICY
        return response

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from audit.context import request_context


class RequestContextMiddleware:
    """Gives each HTTP request an id (the caller's ``X-Request-ID`` if sane) for audit and logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_context(
            origin="http", request_id=request.headers.get("X-Request-ID"), ip=request.META.get("REMOTE_ADDR")
        ) as ctx:
            request.request_id = ctx.request_id  # type: ignore[attr-defined]  # read by views and logs
            response = self.get_response(request)
            response["X-Request-ID"] = ctx.request_id
            return response

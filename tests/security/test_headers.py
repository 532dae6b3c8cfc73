"""Defect 11 of issue 10: CSP, Permissions-Policy, no-store on the API, JSON 500s on the API."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import path

pytestmark = pytest.mark.django_db


def test_pages_and_api_carry_the_security_headers(client, auditor, api_for):
    login = client.get("/admin/login/")
    csp = login["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert "camera=()" in login["Permissions-Policy"]
    response = api_for(auditor).get("/api/v1/models/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "Content-Security-Policy" in response and "Permissions-Policy" in response
    assert "no-store" not in client.get("/api/schema/").get("Cache-Control", "")
    assert "no-store" in api_for(auditor).get("/api/v1/nothing-here/")["Cache-Control"]


def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("api/v1/boom/", _boom), path("boom/", _boom)]


def test_a_500_under_the_api_answers_in_the_json_error_shape():
    from governance import urls

    urlpatterns_with_boom = [*urlpatterns, *urls.urlpatterns]
    module = type(urls)("boom_urls")
    module.urlpatterns = urlpatterns_with_boom
    module.handler500 = urls.handler500
    import sys

    sys.modules["boom_urls"] = module
    try:
        with override_settings(ROOT_URLCONF="boom_urls", DEBUG=False):
            client = Client(raise_request_exception=False)
            response = client.get("/api/v1/boom/")
            assert response.status_code == 500
            assert response["Content-Type"] == "application/json"
            body = response.json()["error"]
            assert body["code"] == "server_error" and "request id" in body["message"]
            page = client.get("/boom/")
            assert page.status_code == 500 and "application/json" not in page["Content-Type"]
    finally:
        del sys.modules["boom_urls"]

"""The shell without a browser: "/" redirects, API docs reference only the service's own files,
the pack list of a version follows a queued job."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from governance.reports.models import DocumentationPack
from tests.factories.accounts import PASSWORD

EXTERNAL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""")


@pytest.mark.django_db
def test_root_redirects_to_the_dashboard_or_the_login(client, risk_officer):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index"))["Location"].startswith("/admin/login/")
    client.login(username=risk_officer.username, password=PASSWORD)
    assert client.get("/", follow=True).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_nothing_from_another_host(client, auditor, url):
    client.login(username=auditor.username, password=PASSWORD)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert not EXTERNAL.search(html), html
    assert "fonts.googleapis" not in html and "cdn." not in html
    assert "/static/drf_spectacular_sidecar/" in html or "swagger-ui" in html


@pytest.mark.django_db
def test_redoc_page_forbids_other_hosts(client, auditor):
    client.login(username=auditor.username, password=PASSWORD)
    policy = client.get("/api/redoc/")["Content-Security-Policy"]
    assert "img-src 'self' data:" in policy and "default-src 'self'" in policy


@pytest.mark.django_db
def test_pack_list_polls_while_a_job_is_queued(client, auditor, version, monkeypatch):
    from governance.reports import services

    monkeypatch.setattr(services, "_enqueue", lambda pack_id: None)  # no worker: the job stays queued
    client.login(username=auditor.username, password=PASSWORD)
    page = reverse("admin:registry_modelversion_change", args=[version.pk])
    response = client.post(reverse("admin:reports_pack_generate", args=[version.pk]), {"regime": "sr11-7"})
    assert response.status_code == 302 and response["Location"] == page
    pack = DocumentationPack.objects.get(model_version=version)
    assert pack.status == "queued"
    html = client.get(page).content.decode()
    assert f'data-poll-url="{reverse("admin:workspace_version_packs", args=[version.pk])}"' in html
    partial = client.get(reverse("admin:workspace_version_packs", args=[version.pk])).content.decode()
    assert "data-pending" in partial and "queued" in partial
    DocumentationPack.objects.filter(pk=pack.pk).update(status="done")
    partial = client.get(reverse("admin:workspace_version_packs", args=[version.pk])).content.decode()
    assert "data-pending" not in partial and "download-pdf" in partial

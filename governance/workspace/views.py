"""Workspace pages inside the admin site (URLs in ``WorkspaceAdminSite.get_urls``).

Thin views: reads through selectors, changes through the domain services, refusals shown as
messages (the services have already audited them).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from governance.registry.models import ModelVersion
from governance.workspace import hub


def version_packs(request, version_id: int):
    """The documentation packs of one version (the part of its page that follows a job's progress)."""
    if not request.user.has_perm("registry.view_modelversion"):
        raise PermissionDenied
    version = get_object_or_404(ModelVersion, pk=version_id)
    return TemplateResponse(
        request,
        "admin/registry/modelversion/_packs.html",
        {"original": version, **hub.packs_context(version, request.user)},
    )

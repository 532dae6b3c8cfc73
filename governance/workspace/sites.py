"""The admin site: Django's, with the workspace's pages added to it."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path


class WorkspaceAdminSite(admin.AdminSite):
    site_header = "mlgov — model governance"
    site_title = "mlgov"
    index_title = "Inventory, promotions, evaluations and the audit log"

    def index(self, request, extra_context=None):
        """The dashboard (governance.workspace.views.dashboard) instead of the list of apps."""
        from governance.workspace import views

        return views.dashboard(self, request, extra_context)

    def get_urls(self):
        from governance.workspace import views

        wrap = self.admin_view
        workspace = [
            path(
                "workspace/versions/<int:version_id>/packs/", wrap(views.version_packs), name="workspace_version_packs"
            ),
            path(
                "workspace/versions/<int:version_id>/request/",
                wrap(views.version_request_create),
                name="workspace_version_request",
            ),
            path(
                "workspace/requests/<int:request_id>/withdraw/", wrap(views.request_withdraw), name="workspace_withdraw"
            ),
            path("workspace/models/<int:model_id>/rollback/", wrap(views.model_rollback), name="workspace_rollback"),
            path("workspace/models/<int:model_id>/compare/", wrap(views.model_compare), name="workspace_compare"),
            path("workspace/models/<int:model_id>/trends/", wrap(views.model_trends), name="workspace_trends"),
            path("workspace/audit/", wrap(views.audit_page), name="workspace_audit"),
            path(
                "workspace/audit/verifications/", wrap(views.audit_verifications), name="workspace_audit_verifications"
            ),
        ]
        return workspace + super().get_urls()

"""The admin site: Django's, with the workspace's pages added to it."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path


class WorkspaceAdminSite(admin.AdminSite):
    site_header = "mlgov — model governance"
    site_title = "mlgov"
    index_title = "Inventory, promotions, evaluations and the audit log"

    def get_urls(self):
        from governance.workspace import views

        wrap = self.admin_view
        workspace = [
            path(
                "workspace/versions/<int:version_id>/packs/", wrap(views.version_packs), name="workspace_version_packs"
            ),
        ]
        return workspace + super().get_urls()

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WorkspaceConfig(AppConfig):
    """Static files (workspace/*.js, *.css) and the workspace views."""

    default = True
    name = "governance.workspace"
    label = "workspace"
    verbose_name = "Workspace"

    def ready(self) -> None:
        from audit.registry import register_event_types

        # the audit page's actions: run a verification, sign a checkpoint (governance/workspace/services.py)
        register_event_types(self.label, "audit.verify", "audit.checkpoint")


class WorkspaceAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the workspace's admin site (its index page is the dashboard)."""

    default = False
    default_site = "governance.workspace.sites.WorkspaceAdminSite"

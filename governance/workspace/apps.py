from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WorkspaceConfig(AppConfig):
    """Static files (workspace/*.js, *.css) and the workspace views."""

    default = True
    name = "governance.workspace"
    label = "workspace"
    verbose_name = "Workspace"


class WorkspaceAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the workspace's admin site (its index page is the dashboard)."""

    default = False
    default_site = "governance.workspace.sites.WorkspaceAdminSite"

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from governance.accounts import oidc_views
from governance.api.views_health import healthz
from governance.workspace.docs import OfflineRedocView

admin.site.site_header = "mlgov — model governance"
admin.site.site_title = "mlgov"
admin.site.index_title = "Inventory, promotions, evaluations and the audit log"
admin.site.login_template = "sso/login.html"  # single sign-on button; the password form per LOCAL_LOGIN_ENABLED

urlpatterns = [
    path("admin/logout/", oidc_views.logout, name="sso_logout"),  # ends the provider session too (SSO)
    path("admin/", admin.site.urls),
    path("oidc/", include("governance.accounts.oidc_urls")),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("governance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and ReDoc come from drf-spectacular-sidecar (settings.SPECTACULAR_SETTINGS): offline.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", OfflineRedocView.as_view(url_name="schema"), name="api-redoc"),
    # "/" (the admin's "View site") leads to the dashboard, or to the login first.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
]

# API paths answer a server error in the JSON error shape (governance.api.security)
handler500 = "governance.api.security.api_server_error"

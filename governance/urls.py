from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from governance.accounts import oidc_views
from governance.api.views_health import healthz

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

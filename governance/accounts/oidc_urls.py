from django.urls import path

from governance.accounts import oidc_views

urlpatterns = [
    path("login/", oidc_views.oidc_login, name="oidc_authentication_init"),
    path("callback/", oidc_views.oidc_callback, name="oidc_authentication_callback"),
    path("step-up/callback/", oidc_views.step_up_callback, name="oidc_step_up_callback"),
    path("logged-out/", oidc_views.logged_out, name="oidc_logged_out"),
]

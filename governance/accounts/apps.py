from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "governance.accounts"
    label = "accounts"
    verbose_name = "People, roles and API tokens"

    def ready(self):
        from governance.accounts import oidc  # noqa: F401 - registers the single sign-on system check

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "governance.accounts"
    label = "accounts"
    verbose_name = "People, roles and API tokens"

    def ready(self) -> None:
        from audit.registry import register_event_types
        from governance.accounts import oidc  # noqa: F401 - registers the single sign-on system check

        register_event_types(
            self.label,
            "user.create",
            "user.update",
            "user.roles_change",
            "api_token.issue",
            "api_token.revoke",
            "api_token.authenticate",
            "user.login",
            "user.signing_password",
            "sso.identity.link",
            "sso.login",
        )
        from audit.state import register_replayer
        from governance.accounts.models import GovernedUserManager
        from governance.accounts.services import user_create_by_command
        from governance.accounts.state import AccountsReplayer

        GovernedUserManager.create_audited = staticmethod(user_create_by_command)

        register_replayer(AccountsReplayer)
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from governance.accounts import signals

        user_login_failed.connect(signals.login_failed, dispatch_uid="accounts.login_failed")
        user_locked_out.connect(signals.locked_out, dispatch_uid="accounts.locked_out")

import logging

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


def deprecated_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """governance.W001: a deprecated setting name is in use (settings.DEPRECATED_SETTINGS_USED)."""
    return [
        checks.Warning(
            f"{old} is deprecated; set {new} instead (it is read as {new} for now)",
            hint=f"rename {old} to {new} in the environment (docs/operations.md)",
            id="governance.W001",
        )
        for old, new in getattr(settings, "DEPRECATED_SETTINGS_USED", [])
    ]


class CommonConfig(AppConfig):
    name = "governance.common"
    label = "common"

    def ready(self) -> None:
        checks.register(deprecated_settings)
        # Also in the log of every process (gunicorn and Celery do not run the system checks).
        for message in deprecated_settings():
            logging.getLogger("governance").warning("%s (%s)", message.msg, message.id)

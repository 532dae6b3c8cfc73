from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from audit.keys import key_source_configured
        from audit.registry import register_event_types

        register_event_types(self.label, "audit.export")

        if not settings.AUDIT_GENERATE_DEV_KEY and not key_source_configured():
            raise ImproperlyConfigured(
                "No audit signing key: set AUDIT_SIGNING_KEYS or AUDIT_SIGNING_KEY_FILE. Generate one for the log "
                "origin (AUDIT_LOG_ORIGIN) with `python -m audit.notes <origin>`; see docs/operations.md."
            )

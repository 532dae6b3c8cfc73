from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "governance.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from audit.registry import register_event_types

        register_event_types(
            self.label,
            "api.request",
        )

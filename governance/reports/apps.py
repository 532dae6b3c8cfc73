from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "governance.reports"
    label = "reports"

    def ready(self) -> None:
        from audit.registry import register_event_types

        register_event_types(
            self.label,
            "report.request",
            "report.complete",
            "report.fail",
            "report.download",
            "narrative.set",
        )

from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "governance.evaluations"
    label = "evaluations"

    def ready(self) -> None:
        from audit.registry import register_event_types

        register_event_types(
            self.label,
            "evaluation.create",
            "evaluation.start",
            "evaluation.complete",
            "evaluation.fail",
            "reference_sample.create",
        )

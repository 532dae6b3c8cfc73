from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "governance.evaluations"
    label = "evaluations"

    def ready(self) -> None:
        from governance.evaluations import handlers

        handlers.connect()

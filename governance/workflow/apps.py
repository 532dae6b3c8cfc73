from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "governance.workflow"
    label = "workflow"
    verbose_name = "Promotion workflow"

    def ready(self) -> None:
        from governance.workflow import handlers

        handlers.connect()

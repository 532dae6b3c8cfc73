from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "governance.workflow"
    label = "workflow"
    verbose_name = "Promotion workflow"

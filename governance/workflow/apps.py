from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "governance.workflow"
    label = "workflow"
    verbose_name = "Promotion workflow"

    def ready(self) -> None:
        from audit.registry import register_event_types

        register_event_types(
            self.label,
            "policy.create",
            "policy.revise",
            "promotion_request.create",
            "promotion_request.approve",
            "promotion_request.reject",
            "promotion_request.withdraw",
            "promotion_request.expire",
            "promotion_request.supersede",
            "promotion_request.promote",
            "promotion_request.gates_refresh",
            "model_version.review_flag",
            "review_flag.resolve",
            "committee.create",
            "committee.revise",
            "promotion_request.recuse",
        )
        from audit.state import register_replayer
        from governance.workflow.state import WorkflowReplayer

        register_replayer(WorkflowReplayer)

        from governance.workflow import handlers

        handlers.connect()

from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "governance.evaluations"
    label = "evaluations"

    def ready(self) -> None:
        from django.core.signals import request_started

        from audit.registry import register_event_types
        from governance.evaluations.jobs import reap_orphans_once

        register_event_types(
            self.label,
            "evaluation.create",
            "evaluation.start",
            "evaluation.complete",
            "evaluation.fail",
            "evaluation.requeue",
            "reference_sample.create",
        )
        from audit.state import register_replayer
        from governance.evaluations.state import EvaluationReplayer, ReferenceSampleReplayer

        register_replayer(EvaluationReplayer)
        register_replayer(ReferenceSampleReplayer)
        # eager mode (no broker): the first request of a restarted process fails orphaned computations
        request_started.connect(reap_orphans_once, dispatch_uid="evaluations.reap_orphans_once")

        from governance.evaluations import handlers

        handlers.connect()

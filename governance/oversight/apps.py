from django.apps import AppConfig

EVENT_TYPES = (
    "validation.start",
    "validation.complete",
    "finding.create",
    "finding.propose_remediation",
    "finding.close",
    "finding.accept_risk",
    "revalidation_interval.set",
    "revalidation_flag.raise",
    "revalidation_flag.resolve",
    "serious_incident.create",
    "serious_incident.report",
    "monitoring_schedule.create",
    "monitoring_schedule.end",
    "monitoring_check.missed",
    "monitoring_check.resolve",
    "post_market_plan.set",
    "oversight_digest.send",
)


class OversightConfig(AppConfig):
    name = "governance.oversight"
    label = "oversight"
    verbose_name = "Ongoing model risk management"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.registry import register_event_types

        register_event_types(self.label, *EVENT_TYPES)

        from audit.state import register_replayer
        from governance.oversight.state import OversightReplayer

        register_replayer(OversightReplayer)

        from governance.oversight import handlers

        handlers.connect()

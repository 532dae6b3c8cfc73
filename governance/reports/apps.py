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
            "inventory_report.generate",
        )

        from audit.state import register_replayer
        from governance.reports.state import ReportsReplayer

        register_replayer(ReportsReplayer)

        from governance.common.jobs import register_reaper, register_redispatcher
        from governance.reports import handlers
        from governance.reports.jobs import reap_stale_packs, redispatch_queued_packs

        handlers.connect()

        from governance.registry.regimes import check_default_regimes, register_regimes
        from governance.reports.outlines import regime_choices

        register_regimes(regime_choices())
        check_default_regimes()
        register_reaper("documentation_packs", reap_stale_packs)
        register_redispatcher("documentation_packs", redispatch_queued_packs)

from django.apps import AppConfig


class MlflowBridgeConfig(AppConfig):
    name = "governance.integrations.mlflow"
    label = "mlflow_bridge"
    verbose_name = "MLflow bridge"

    def ready(self):
        from audit.registry import register_event_types
        from governance.common.events import subscribe
        from governance.integrations.mlflow import services

        register_event_types(
            "mlflow_bridge",
            "mlflow.link",
            "mlflow.link_update",
            "mlflow.version_import",
            "mlflow.artifact_changed",
            "mlflow.review_flag",
            "mlflow.review_flag_resolve",
            "mlflow.webhook",
            "mlflow.alias_queue",
            "mlflow.alias_set",
            "mlflow.alias_delete",
            "mlflow.alias_write_failed",
            "mlflow.alias_out_of_band",
            "mlflow.sync_failed",
            "mlflow.sync_recovered",
            # Only refused (``.denied``): who may sync a link or retry its alias writes.
            "mlflow.sync",
            "mlflow.alias_write_retry",
        )

        # Promotions, rollbacks and retirements here move the governed aliases in MLflow.
        for event in ("model_version.promoted", "model_version.rolled_back", "model_version.stage_changed"):
            subscribe(event, services.on_stage_changed)

        from audit.state import register_replayer
        from governance.integrations.mlflow.state import MlflowReplayer

        register_replayer(MlflowReplayer)

        from governance.integrations.mlflow import handlers

        handlers.connect()

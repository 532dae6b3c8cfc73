from django.apps import AppConfig


class MlflowBridgeConfig(AppConfig):
    name = "governance.integrations.mlflow"
    label = "mlflow_bridge"
    verbose_name = "MLflow bridge"

    def ready(self):
        from governance.common.events import subscribe
        from governance.integrations.mlflow import services

        # Promotions, rollbacks and retirements here move the governed aliases in MLflow.
        for event in ("model_version.promoted", "model_version.rolled_back", "model_version.stage_changed"):
            subscribe(event, services.on_stage_changed)

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "governance.registry"
    label = "registry"
    verbose_name = "Model inventory"

    def ready(self) -> None:
        from audit.registry import register_event_types

        register_event_types(
            self.label,
            "registered_model.create",
            "registered_model.update",
            "model_version.create",
            "model_version.update",
            "model_version.stage_change",
        )
        from audit.state import register_replayer
        from governance.registry.state import RegistryReplayer

        register_replayer(RegistryReplayer)

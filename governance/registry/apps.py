from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "governance.registry"
    label = "registry"
    verbose_name = "Model inventory"

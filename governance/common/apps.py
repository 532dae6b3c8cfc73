from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "governance.common"
    label = "common"

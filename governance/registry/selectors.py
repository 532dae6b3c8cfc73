from django.db.models import QuerySet

from governance.registry.models import ModelVersion, RegisteredModel


def registered_model_list() -> QuerySet[RegisteredModel]:
    """Every role may read the inventory; writes are checked object by object in the services."""
    return RegisteredModel.objects.select_related("owner", "created_by")


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("model", "registered_by")

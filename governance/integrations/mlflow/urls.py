"""Routes under /api/v1/mlflow/ (included by governance/api/urls.py)."""

from django.urls import re_path

from governance.integrations.mlflow.api import (
    MlflowFlagViewSet,
    MlflowImportViewSet,
    MlflowLinkViewSet,
    MlflowWebhookView,
)

register = [
    ("mlflow/links", MlflowLinkViewSet, "mlflow-link"),
    ("mlflow/imports", MlflowImportViewSet, "mlflow-import"),
    ("mlflow/flags", MlflowFlagViewSet, "mlflow-flag"),
]
urlpatterns = [re_path(r"^mlflow/webhook/?$", MlflowWebhookView.as_view(), name="mlflow-webhook")]

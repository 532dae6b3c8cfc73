from django.conf import settings
from django.core.management.base import BaseCommand

from audit.context import request_context
from governance.accounts.principal import Principal
from governance.common.errors import DomainError
from governance.integrations.mlflow import services
from governance.integrations.mlflow.client import guarded, mlflow_client
from governance.integrations.mlflow.models import MlflowLink
from governance.registry.models import RegisteredModel


class Command(BaseCommand):
    help = (
        "When MLFLOW_TRACKING_URI is set: link the demo model to the registered model MLFLOW_DEMO_MODEL_NAME "
        "in that MLflow (created there if missing) and sync it. Without it: do nothing (make run calls this)."
    )

    def handle(self, *args, **options):
        uri = settings.MLFLOW_TRACKING_URI
        if not uri:
            self.stdout.write("MLflow: not linked (set MLFLOW_TRACKING_URI to link the demo model; docs/mlflow.md)")
            return
        name = settings.MLFLOW_DEMO_MODEL_NAME
        by = Principal.for_command("mlflow_demo_link")
        try:
            with request_context(origin="manage"):
                model = RegisteredModel.objects.filter(name=name).first()
                if model is None:
                    self.stderr.write(f"MLflow: no model named {name!r} here; run seed_demo first")
                    return
                link = MlflowLink.objects.filter(model=model).first()
                if link is None:
                    client = mlflow_client(uri)
                    with guarded(f"creating {name!r} in MLflow"):
                        if not client.search_registered_models(filter_string=f"name='{name}'"):
                            client.create_registered_model(name, description="Linked to mlgov (demo)")
                    link = services.mlflow_link_create(by=by, model=model, tracking_uri=uri, mlflow_name=name)
                summary = services.mlflow_link_sync(by=by, link=link)
        except DomainError as exc:
            # The demo runs without MLflow; say why it is not linked and how to fix it.
            self.stderr.write(f"MLflow: demo model not linked: {exc.message}")
            return
        self.stdout.write(
            f"MLflow: {name} linked to {uri} (imported {len(summary['imported'])} version(s); "
            f"governed alias @{link.governed_alias})"
        )

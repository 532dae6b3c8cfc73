from django.core.management.base import BaseCommand, CommandError

from audit.context import request_context
from governance.accounts.principal import Principal
from governance.common.errors import DomainError, Unavailable
from governance.integrations.mlflow import services
from governance.integrations.mlflow.models import MlflowLink


class Command(BaseCommand):
    help = (
        "Reconcile linked models with MLflow: import new versions with their lineage and artifact hashes, "
        "re-verify imported artifacts, check governed aliases and retry pending alias writes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="only the link of this registered model (its name here)")
        parser.add_argument("--no-verify", action="store_true", help="do not re-hash artifacts already imported")

    def handle(self, *args, model=None, no_verify=False, **options):
        links = MlflowLink.objects.select_related("model").order_by("model__name")
        if model:
            links = links.filter(model__name=model)
            if not links.exists():
                raise CommandError(
                    f"no MLflow link for a model named {model!r}; "
                    "link it first (docs/mlflow.md, POST /api/v1/mlflow/links)"
                )
        elif not links.exists():
            self.stdout.write("No model is linked to MLflow yet (docs/mlflow.md shows how to link one).")
            return
        failures = 0
        with request_context(origin="manage"):
            for link in links:
                self.stdout.write(f"==> {link.model.name} <- {link.mlflow_name} at {link.tracking_uri}")

                def progress(event, link=link):
                    self.stdout.write(
                        f"  [{event['index']}/{event['total']}] version {event['version']}: {event['outcome']}"
                    )
                    self.stdout.flush()

                try:
                    summary = services.mlflow_link_sync(
                        by=Principal.for_command("mlflow_sync"), link=link, verify=not no_verify, progress=progress
                    )
                except Unavailable as exc:
                    failures += 1
                    self.stderr.write(
                        f"  FAILED: {exc.message}\n  Nothing half-imported; run mlflow_sync again once MLflow answers."
                    )
                    continue
                except DomainError as exc:
                    failures += 1
                    self.stderr.write(f"  FAILED: {exc.message}")
                    continue
                aliases = ", ".join(f"@{a}: {s}" for a, s in summary.get("aliases", {}).items())
                self.stdout.write(
                    f"  imported {len(summary['imported'])}, unchanged {summary['unchanged']}, "
                    f"artifact changed {len(summary['changed'])}, refused {len(summary['refused'])}, "
                    f"pending in MLflow {len(summary['pending'])}; aliases: {aliases or 'none governed'}"
                )
                for number, reason in summary["refused"].items():
                    self.stderr.write(f"  version {number} refused: {reason}")
        if failures:
            raise CommandError(f"{failures} link(s) could not be synced; see above")

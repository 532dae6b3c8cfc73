"""The bridge's governance tables under the audit guard (PostgreSQL), and read access for the roles
in the admin (changes go through the services). Idempotent, so tests can put it back after a flush."""

from django.db import migrations

from audit.triggers import govern

READ = ["view_mlflowlink", "view_mlflowversionimport", "view_mlflowflag", "view_mlflowaliaswrite"]
ROLE_PERMISSIONS = {
    "developer": READ,
    "validator": READ,
    "risk_officer": [*READ, "view_mlflowdelivery"],
    "auditor": [*READ, "view_mlflowdelivery"],
}


def grant(apps, schema_editor):
    from governance.accounts.roles import grant_app_permissions

    grant_app_permissions(apps, "mlflow_bridge", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("mlflow_bridge", "0001_initial"), ("audit", "0002_append_only"), ("accounts", "0002_roles")]

    operations = [
        govern(
            "mlflow_bridge_mlflowlink",
            update_columns=("tracking_uri", "mlflow_name", "governed_alias", "stage_aliases", "out_of_band", "model_id"),
        ),
        govern(
            "mlflow_bridge_mlflowversionimport",
            update_columns=("artifact_sha256", "latest_artifact_sha256", "artifact_changed_at", "model_version_id"),
        ),
        govern("mlflow_bridge_mlflowflag"),
        govern("mlflow_bridge_mlflowdelivery", update_columns=("delivery_id", "payload")),
        govern("mlflow_bridge_mlflowaliaswrite", update_columns=("status", "mlflow_version", "alias", "response")),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]

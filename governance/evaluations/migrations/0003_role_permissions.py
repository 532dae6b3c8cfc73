"""Model permissions of the evaluations app for the roles: every role reads evaluations and reference
samples; pipelines, developers, validators and risk officers post them (the service checks the role
again and audits refusals). Idempotent, so tests can put it back after a flush."""

from django.db import migrations

READ = ["view_evaluation", "view_referencesample"]
WRITE = ["add_evaluation", "add_referencesample"]
ROLE_PERMISSIONS = {
    "developer": READ + WRITE,
    "pipeline": READ + WRITE,
    "validator": READ + WRITE,
    "risk_officer": READ + WRITE,
    "auditor": READ,
}


def grant(apps, schema_editor):
    from governance.accounts.roles import grant_app_permissions

    grant_app_permissions(apps, "evaluations", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0002_governed"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

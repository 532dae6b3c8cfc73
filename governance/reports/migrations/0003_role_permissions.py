"""Model permissions of the reports app for the roles, so packs and narrative history appear in
their admin: everyone reads; the services decide who requests packs (auditors, risk officers) and
who writes each narrative (its owning role). Idempotent, so tests can put it back after a flush."""

from django.db import migrations

READ = ["view_documentationpack", "view_narrativeentry"]
ROLE_PERMISSIONS = {"developer": READ, "validator": READ, "risk_officer": READ, "auditor": READ}


def grant(apps, schema_editor):
    from governance.accounts.roles import grant_app_permissions

    grant_app_permissions(apps, "reports", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_governed"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

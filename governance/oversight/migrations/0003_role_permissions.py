from django.db import migrations

from governance.accounts.roles import grant_app_permissions

VIEW = [
    "view_validation",
    "view_finding",
    "view_revalidationinterval",
    "view_revalidationflag",
    "view_seriousincident",
    "view_incidentreport",
]


def forwards(apps, schema_editor):
    grant_app_permissions(
        apps,
        "oversight",
        {"validator": VIEW, "risk_officer": VIEW, "auditor": VIEW, "developer": VIEW},
    )


class Migration(migrations.Migration):
    dependencies = [("oversight", "0002_governed"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

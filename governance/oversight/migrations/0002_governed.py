from django.db import migrations

from audit.triggers import govern

TABLES = (
    "oversight_validation",
    "oversight_finding",
    "oversight_revalidationinterval",
    "oversight_revalidationflag",
    "oversight_seriousincident",
    "oversight_incidentreport",
)


class Migration(migrations.Migration):
    dependencies = [("oversight", "0001_initial"), ("audit", "0002_append_only")]

    operations = [govern(table) for table in TABLES]

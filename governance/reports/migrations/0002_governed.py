from django.db import migrations

from audit.triggers import govern


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial"), ("audit", "0002_append_only")]

    operations = [govern("reports_narrativeentry")]

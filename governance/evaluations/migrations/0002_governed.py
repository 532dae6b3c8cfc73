from django.db import migrations

from audit.triggers import govern


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0001_initial"), ("audit", "0002_append_only")]

    operations = [govern("evaluations_evaluation"), govern("evaluations_referencesample")]

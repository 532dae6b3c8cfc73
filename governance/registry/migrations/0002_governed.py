from django.db import migrations

from audit.triggers import govern


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial"), ("audit", "0002_append_only"), ("accounts", "0002_roles")]

    operations = [govern("registry_registeredmodel"), govern("registry_modelversion")]

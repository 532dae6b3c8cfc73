"""The governed-data guard rests on a table only the trigger functions write (no session setting)."""

from django.db import migrations


def upgrade(apps, schema_editor):
    from audit.triggers import upgrade_guard

    upgrade_guard(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_pending_events")]

    operations = [migrations.RunPython(upgrade, migrations.RunPython.noop)]

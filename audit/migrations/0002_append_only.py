import uuid

from django.conf import settings
from django.db import migrations


def create_head(apps, schema_editor):
    AuditHead = apps.get_model("audit", "AuditHead")
    if not AuditHead.objects.filter(pk=1).exists():
        # Each database gets its own log origin, so two logs can never be confused.
        origin = settings.AUDIT_LOG_ORIGIN or f"{settings.AUDIT_ORIGIN_HOST}/mlgov-audit/{uuid.uuid4()}"
        AuditHead.objects.create(pk=1, origin=origin, size=0, last_leaf=bytes(32), compact_range=b"")


def install_triggers(apps, schema_editor):
    from audit.triggers import install

    install(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(create_head, migrations.RunPython.noop),
        migrations.RunPython(install_triggers, migrations.RunPython.noop),
    ]

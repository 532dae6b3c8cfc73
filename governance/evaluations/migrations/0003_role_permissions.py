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
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("evaluations")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="evaluations",
                                                         codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0002_governed"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

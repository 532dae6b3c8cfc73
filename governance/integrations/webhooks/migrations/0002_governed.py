from django.db import migrations

from audit.triggers import govern


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial"), ("audit", "0002_append_only")]

    operations = [govern("webhooks_webhooksubscription")]

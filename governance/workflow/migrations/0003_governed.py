from django.db import migrations

from audit.triggers import govern


class Migration(migrations.Migration):
    dependencies = [("workflow", "0002_default_policies"), ("audit", "0002_append_only")]

    operations = [govern(f"workflow_{name}")
                  for name in ("policy", "promotionrequest", "approval", "stagetransition", "reviewflag")]

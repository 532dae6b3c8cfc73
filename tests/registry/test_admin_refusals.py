"""A refusal during an admin save is recorded, not rolled back with the refused change."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from governance.registry.models import RegisteredModel

pytestmark = pytest.mark.django_db


def test_a_refused_admin_save_is_audited_and_changes_nothing(model, developer):
    developer.is_staff = True
    developer.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(developer)
    url = f"/admin/registry/registeredmodel/{model.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update({"owner": model.owner_id, "risk_tier": "tier_3" if model.risk_tier != "tier_3" else "tier_2"})
    data.update({"versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0})
    before = AuditEvent.objects.filter(action="registered_model.update.denied").count()

    response = client.post(url, data, follow=True)

    assert "Not saved" in response.content.decode()
    assert RegisteredModel.objects.get(pk=model.pk).risk_tier == model.risk_tier
    denied = AuditEvent.objects.filter(action="registered_model.update.denied")
    assert denied.count() == before + 1
    assert denied.order_by("-seq").first().actor_username == developer.username

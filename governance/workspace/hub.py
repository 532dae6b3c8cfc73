"""What the model version page shows around the admin's form: the version as a hub."""

from __future__ import annotations

from django.urls import reverse

from governance.accounts.roles import AUDITOR, RISK_OFFICER
from governance.registry.models import ModelVersion
from governance.reports.models import PackStatus

PACK_ROLES = (AUDITOR, RISK_OFFICER)


def can_request_packs(user) -> bool:
    """The rule of ``reports.services.pack_request``, to show the buttons only to those it accepts."""
    return not user.is_service_account and user.has_role(*PACK_ROLES)


def packs_context(version: ModelVersion, user) -> dict:
    packs = list(version.documentation_packs.select_related("requested_by").order_by("-created_at", "-id"))
    return {
        "packs": packs,
        "packs_pending": any(p.status not in (PackStatus.DONE, PackStatus.FAILED) for p in packs),
        "packs_url": reverse("admin:workspace_version_packs", args=[version.pk]),
        "can_request_packs": can_request_packs(user),
    }

"""The dashboard's integration health panel (issue 16): MLflow links and outbound webhook subscriptions,
each linked to its admin page. Kept apart from the other dashboard cards (its own selector here, its
own template include ``admin/workspace/_integrations.html``)."""

from __future__ import annotations

from governance.integrations.mlflow.selectors import link_health
from governance.integrations.webhooks.selectors import subscription_health


def integration_health(limit: int = 20) -> dict:
    mlflow, webhooks = link_health(limit), subscription_health(limit)
    return {"mlflow": mlflow, "webhooks": webhooks, "failing": mlflow["failing"] + webhooks["failing"]}

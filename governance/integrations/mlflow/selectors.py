"""Read queries of the MLflow bridge: links with their health, imports, flags, and the alias history."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from governance.integrations.mlflow.models import (
    AliasWriteStatus,
    FlagKind,
    MlflowAliasWrite,
    MlflowFlag,
    MlflowLink,
    MlflowVersionImport,
)


def link_list() -> QuerySet[MlflowLink]:
    return MlflowLink.objects.select_related("model", "created_by")


def import_list() -> QuerySet[MlflowVersionImport]:
    return MlflowVersionImport.objects.select_related("link__model", "model_version")


def open_flags() -> QuerySet[MlflowFlag]:
    return MlflowFlag.objects.filter(resolved_at__isnull=True).select_related("model", "model_version")


def alias_history(link: MlflowLink, at: dt.datetime | None = None) -> dict:
    """Which MLflow version held each governed alias, from when to when, and who approved it.

    Built from the alias writes MLflow accepted and the out-of-band changes the bridge observed."""
    writes = MlflowAliasWrite.objects.filter(link=link, status=AliasWriteStatus.DONE).select_related("model_version")
    flags = MlflowFlag.objects.filter(model=link.model, kind=FlagKind.ALIAS_OUT_OF_BAND)
    if at is not None:
        writes = writes.filter(done_at__lte=at)
        flags = flags.filter(created_at__lte=at)
    events = [
        {
            "alias": w.alias,
            "mlflow_version": w.mlflow_version or None,
            "version": w.model_version.version if w.model_version and w.mlflow_version else None,
            "version_id": w.model_version_id if w.mlflow_version else None,
            "at": w.done_at,
            "source": "governed",
            "promotion_request_id": w.promotion_request_id,
            "approvals": w.approvals,
            "reason": w.reason,
        }
        for w in writes
    ] + [
        {
            "alias": f.details.get("alias"),
            "mlflow_version": f.details.get("observed"),
            "version": None,
            "version_id": None,
            "at": f.created_at,
            "source": "out_of_band",
            "promotion_request_id": None,
            "approvals": [],
            "reason": f.summary,
        }
        for f in flags
    ]
    events.sort(key=lambda e: (e["at"], e["source"] != "out_of_band"))
    periods: list[dict] = []
    open_by_alias: dict[str, dict] = {}
    for event in events:
        current = open_by_alias.pop(event["alias"], None)
        if current is not None:
            current["until"] = event["at"]
        if event["mlflow_version"]:
            period = {**event, "since": event.pop("at"), "until": None}
            periods.append(period)
            open_by_alias[period["alias"]] = period
    current = dict(open_by_alias)
    return {
        "link": {"id": link.pk, "model": link.model.name, "mlflow_name": link.mlflow_name},
        "governed_aliases": link.governed_aliases(),
        "at": at,
        "current": current,
        "periods": periods,
    }

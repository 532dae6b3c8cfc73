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


def link_health(limit: int = 20) -> dict:
    """Each MLflow link's health for the dashboard: last sync (when, status, error), consecutive
    failures, open flags and alias writes still owed to MLflow; links with a problem first."""
    from django.db.models import Count, Max, Q

    from governance.integrations.mlflow.models import SyncStatus

    owed = (AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING)
    links = (
        MlflowLink.objects.select_related("model")
        .only(
            "id",
            "mlflow_name",
            "tracking_uri",
            "governed_alias",
            "out_of_band",
            "last_sync_at",
            "last_sync_status",
            "last_sync_error",
            "consecutive_failures",
            "model__name",
        )
        .annotate(
            writes_owed=Count("alias_writes", filter=Q(alias_writes__status__in=owed), distinct=True),
            writes_error=Max("alias_writes__last_error", filter=Q(alias_writes__status=AliasWriteStatus.RETRYING)),
        )
        .order_by("model__name")
    )
    flags = dict(
        MlflowFlag.objects.filter(resolved_at__isnull=True)
        .values("model_id")
        .annotate(n=Count("id"))
        .values_list("model_id", "n")
    )
    rows = []
    for link in links:
        open_flags = flags.get(link.model_id, 0)
        problems = []
        if link.last_sync_status == SyncStatus.ERROR:
            problems.append(f"sync failing ({link.consecutive_failures} in a row)")
        elif link.last_sync_status == SyncStatus.NEVER:
            problems.append("never synced")
        if link.writes_owed:
            problems.append(f"{link.writes_owed} alias write(s) not yet accepted by MLflow")
        if open_flags:
            problems.append(f"{open_flags} open flag(s)")
        rows.append({"link": link, "open_flags": open_flags, "problems": problems})
    rows.sort(key=lambda r: (not r["problems"], r["link"].model.name))
    return {"count": len(rows), "failing": sum(1 for r in rows if r["problems"]), "rows": rows[:limit]}

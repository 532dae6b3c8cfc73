"""Replays the MLflow bridge's events to rebuild its five tables (audit.state, ``audit_verify --state``):
links, version imports, review flags, webhook deliveries and governed alias writes.

Bookkeeping columns that the guard lets the bridge write without an event (``governed_queryset``:
a link's sync status, an import's ``last_verified_at``, a delivery's ``status`` and ``result``, an
alias write's ``attempts``, ``last_error`` and ``next_attempt_at``) are not replayed. Fields added to
an event later (instants, ids, an alias write's approvals, a delivery's payload digest) are checked
only on rows whose event carries them.
"""

from __future__ import annotations

from collections.abc import Mapping

from audit.state import Divergence, as_recorded, compare_rows, json_sha256
from governance.integrations.mlflow.models import (
    AliasWriteStatus,
    MlflowAliasWrite,
    MlflowDelivery,
    MlflowFlag,
    MlflowLink,
    MlflowVersionImport,
)

LINK_FIELDS = ("tracking_uri", "mlflow_name", "governed_alias", "stage_aliases", "out_of_band")
IMPORT_FIELDS = (
    "mlflow_version",
    "run_id",
    "source_uri",
    "download_uri",
    "git_commit",
    "parameters",
    "datasets",
    "artifact_files",
    "artifact_sha256",
    "hash_status",
    "hash_missing_reason",
)
# The import row keeps the first characters of these (the event carries what MLflow said).
IMPORT_CUT = {"source_uri": 1000, "download_uri": 1000, "git_commit": 100}
# Keys of ``mlflow.review_flag`` that are the event's own, not the flag's ``details``.
FLAG_KEYS = ("flag", "kind", "summary", "created_at")
UNFINISHED = (AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING)


def _username(actor: Mapping) -> str | None:
    """The user an actor stands for (a person or a service account; a system job is no user)."""
    return actor.get("username") if actor.get("type") in ("user", "service") else None


def _carried(row: dict, data: Mapping, *names: str) -> None:
    """Set the fields an event carries; a field it lacks (an older event) is left unchecked."""
    for name in names:
        if name in data:
            row[name] = data[name]
        else:
            row.pop(name, None)


def _parameters(params: Mapping) -> list:
    """An import's parameters as ``mlflow.version_import`` records them (MLflow allows keys that the
    log does not, so the event lists them by name)."""
    return [{"name": key, "value": value} for key, value in sorted(params.items())]


def _named(divergence: Divergence | None, table: str, rows: Mapping[str, str], what: str) -> Divergence | None:
    """A divergence of a table replayed by another unique key (an import by its model version, a
    delivery by its delivery id), named by the table's own row id where it is known."""
    if divergence is None:
        return None
    row = rows.get(divergence.row) or f"{what} {divergence.row}"
    return Divergence(table, row, divergence.field, divergence.stored, divergence.expected)


class MlflowReplayer:
    name = "mlflow"
    actions = (
        "mlflow.link",
        "mlflow.link_update",
        "mlflow.version_import",
        "mlflow.artifact_changed",
        "mlflow.review_flag",
        "mlflow.review_flag_resolve",
        "mlflow.webhook",
        "mlflow.alias_queue",
        "mlflow.alias_write_failed",
        "mlflow.alias_set",
        "mlflow.alias_delete",
    )

    def __init__(self) -> None:
        self.links: dict[str, dict] = {}
        self.imports: dict[str, dict] = {}  # by model version id (one import per version)
        self.import_ids: dict[str, str] = {}
        self.flags: dict[str, dict] = {}
        self.deliveries: dict[str, dict] = {}  # by delivery id (unique)
        self.delivery_ids: dict[str, str] = {}
        self.writes: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        handler = getattr(self, "_" + action.removeprefix("mlflow."))
        handler(target, data, record)

    def _link(self, target: dict, data: dict, record: dict) -> None:
        row = {"model": target.get("model"), "created_by": _username(record["actor"])}
        row.update({name: data.get(name) for name in LINK_FIELDS})
        _carried(row, data, "created_at")
        self.links[str(target["id"])] = row

    def _link_update(self, target: dict, data: dict, record: dict) -> None:
        row = self.links.setdefault(str(target["id"]), {})
        for name, change in data.items():
            if name in LINK_FIELDS and isinstance(change, dict) and "after" in change:
                row[name] = change["after"]

    def _version_import(self, target: dict, data: dict, record: dict) -> None:
        key = str(target["id"])
        row: dict = {"link": str(data.get("link")), "artifact_changed_at": None, "latest_artifact_sha256": ""}
        for name in IMPORT_FIELDS:
            value = data.get(name)
            if name in IMPORT_CUT:
                value = (value or "")[: IMPORT_CUT[name]]
            row[name] = value
        _carried(row, data, "mlflow_created_at", "imported_at")
        if "import" in data:
            row["id"] = str(data["import"])
            self.import_ids[key] = str(data["import"])
        self.imports[key] = row

    def _artifact_changed(self, target: dict, data: dict, record: dict) -> None:
        row = self.imports.setdefault(str(target["id"]), {})
        row["latest_artifact_sha256"] = data.get("current_sha256")
        _carried(row, data, "artifact_changed_at")

    def _review_flag(self, target: dict, data: dict, record: dict) -> None:
        is_version = target.get("type") == "model_version"
        row = {
            "model": target.get("model") if is_version else target.get("name"),
            "model_version": str(target["id"]) if is_version else None,
            "kind": data.get("kind"),
            "summary": data.get("summary"),
            "details": {key: value for key, value in data.items() if key not in FLAG_KEYS},
            "resolved": False,
            "resolved_by": None,
            "resolution": "",
            "resolved_at": None,
        }
        _carried(row, data, "created_at")
        self.flags[str(data.get("flag"))] = row

    def _review_flag_resolve(self, target: dict, data: dict, record: dict) -> None:
        row = self.flags.setdefault(str(target["id"]), {})
        row.update({"resolved": True, "resolved_by": _username(record["actor"]), "resolution": record.get("reason")})
        _carried(row, data, "resolved_at")

    def _webhook(self, target: dict, data: dict, record: dict) -> None:
        key = str(target["id"])
        entity, _, action = str(data.get("event")).rpartition(".")
        payload_data = data.get("data") or {}
        row: dict = {"entity": entity, "action": action, "mlflow_name": payload_data.get("name")}
        if "payload_sha256" in data:
            row["payload"] = data["payload_sha256"]
        else:  # older events: the payload's data, which they carried whole
            row["payload.data"] = payload_data
        _carried(row, data, "signed_at", "received_at")
        if "delivery" in data:
            row["id"] = str(data["delivery"])
            self.delivery_ids[key] = str(data["delivery"])
        self.deliveries[key] = row

    def _alias_queue(self, target: dict, data: dict, record: dict) -> None:
        link, alias = str(target["id"]), data.get("alias")
        for write in self.writes.values():  # the service supersedes the alias's unfinished writes
            if write.get("link") == link and write.get("alias") == alias and write.get("status") in UNFINISHED:
                write["status"] = AliasWriteStatus.SUPERSEDED.value
        row: dict[str, object] = {
            "link": link,
            "alias": alias,
            "mlflow_version": data.get("mlflow_version") or "",
            "model_version": data.get("model_version"),
            "promotion_request_id": data.get("promotion_request"),
            "reason": data.get("reason"),
            "status": AliasWriteStatus.PENDING.value,
            "response": {},
            "done_at": None,
        }
        _carried(row, data, "approvals", "created_at")
        self.writes[str(data.get("write"))] = row

    def _alias_write_failed(self, target: dict, data: dict, record: dict) -> None:
        row = self.writes.setdefault(str(data.get("write")), {})
        if row.get("status") == AliasWriteStatus.PENDING:
            row["status"] = AliasWriteStatus.RETRYING.value

    def _alias_set(self, target: dict, data: dict, record: dict) -> None:
        row = self.writes.setdefault(str(data.get("write")), {})
        row.update({"status": AliasWriteStatus.DONE.value, "response": data.get("mlflow_response")})
        _carried(row, data, "done_at")

    _alias_delete = _alias_set

    def compare(self) -> Divergence | None:
        return (
            self._compare_links()
            or self._compare_imports()
            or self._compare_flags()
            or self._compare_deliveries()
            or self._compare_writes()
        )

    def _compare_links(self) -> Divergence | None:
        stored = {}
        for link in MlflowLink.objects.values("pk", "model__name", "created_by__username", "created_at", *LINK_FIELDS):
            row = {"model": link["model__name"], "created_by": link["created_by__username"]}
            row.update({name: link[name] for name in (*LINK_FIELDS, "created_at")})
            stored[str(link["pk"])] = {name: as_recorded(value) for name, value in row.items()}
        return compare_rows("mlflow_bridge_mlflowlink", stored, self.links)

    def _compare_imports(self) -> Divergence | None:
        stored, names = {}, dict(self.import_ids)
        columns = ("mlflow_created_at", "imported_at", "artifact_changed_at", "latest_artifact_sha256")
        for imp in MlflowVersionImport.objects.values("pk", "link_id", "model_version_id", *IMPORT_FIELDS, *columns):
            key = str(imp["model_version_id"])
            names[key] = str(imp["pk"])
            row: dict[str, object] = {"id": str(imp["pk"]), "link": str(imp["link_id"])}
            row.update({name: imp[name] for name in (*IMPORT_FIELDS, *columns)})
            row["parameters"] = _parameters(imp["parameters"] or {})
            stored[key] = {name: as_recorded(value) for name, value in row.items()}
        divergence = compare_rows("mlflow_bridge_mlflowversionimport", stored, self.imports)
        return _named(divergence, "mlflow_bridge_mlflowversionimport", names, "of model version")

    def _compare_flags(self) -> Divergence | None:
        stored = {}
        for flag in MlflowFlag.objects.values(
            "pk",
            "model__name",
            "model_version_id",
            "kind",
            "summary",
            "details",
            "created_at",
            "resolved_at",
            "resolved_by__username",
            "resolution",
        ):
            row = {
                "model": flag["model__name"],
                "model_version": str(flag["model_version_id"]) if flag["model_version_id"] is not None else None,
                "kind": flag["kind"],
                "summary": flag["summary"],
                "details": flag["details"],
                "created_at": flag["created_at"],
                "resolved": flag["resolved_at"] is not None,
                "resolved_at": flag["resolved_at"],
                "resolved_by": flag["resolved_by__username"],
                "resolution": flag["resolution"],
            }
            stored[str(flag["pk"])] = {name: as_recorded(value) for name, value in row.items()}
        return compare_rows("mlflow_bridge_mlflowflag", stored, self.flags)

    def _compare_deliveries(self) -> Divergence | None:
        stored, names = {}, dict(self.delivery_ids)
        for d in MlflowDelivery.objects.values(
            "pk", "delivery_id", "entity", "action", "mlflow_name", "payload", "signed_at", "received_at"
        ):
            key = str(as_recorded(d["delivery_id"]))
            names[key] = str(d["pk"])
            row = {
                "id": str(d["pk"]),
                "entity": d["entity"],
                "action": d["action"],
                "mlflow_name": d["mlflow_name"],
                "payload": json_sha256(d["payload"]),
                "payload.data": (d["payload"] or {}).get("data") if isinstance(d["payload"], dict) else None,
                "signed_at": d["signed_at"],
                "received_at": d["received_at"],
            }
            stored[key] = {name: as_recorded(value) for name, value in row.items()}
        divergence = compare_rows("mlflow_bridge_mlflowdelivery", stored, self.deliveries)
        return _named(divergence, "mlflow_bridge_mlflowdelivery", names, "with delivery id")

    def _compare_writes(self) -> Divergence | None:
        stored = {}
        for w in MlflowAliasWrite.objects.values(
            "pk",
            "link_id",
            "alias",
            "mlflow_version",
            "model_version__version",
            "promotion_request_id",
            "approvals",
            "reason",
            "status",
            "response",
            "created_at",
            "done_at",
        ):
            row = {
                **w,
                "link": str(w["link_id"]),
                "model_version": w["model_version__version"],
            }
            stored[str(w["pk"])] = {
                name: as_recorded(row[name])
                for name in (
                    "link",
                    "alias",
                    "mlflow_version",
                    "model_version",
                    "promotion_request_id",
                    "approvals",
                    "reason",
                    "status",
                    "response",
                    "created_at",
                    "done_at",
                )
            }
        return compare_rows("mlflow_bridge_mlflowaliaswrite", stored, self.writes)

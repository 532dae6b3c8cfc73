"""Replays ``narrative.set`` to rebuild the narrative entries (audit.state, ``audit_verify --state``).

The event carries the entry's id, key, the author's role, the text's length and, as its reason, the
text's first 2,000 characters: an entry's text is compared on those characters and its length."""

from __future__ import annotations

from audit.state import Divergence, as_recorded, compare_rows
from governance.reports.models import NarrativeEntry

REASON_CHARS = 2000


class ReportsReplayer:
    name = "reports"
    actions = ("narrative.set",)

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        target, data = record["object"], record["data"]
        is_version = target.get("type") == "model_version"
        actor = record["actor"]
        self.entries[str(data.get("entry"))] = {
            "model": target.get("model") if is_version else target.get("name"),
            "model_version": str(target["id"]) if is_version else None,
            "key": data.get("key"),
            "text": record.get("reason") or "",
            "chars": data.get("chars"),
            "author": actor.get("username") if actor.get("type") == "user" else None,
            "author_role": data.get("role"),
        }

    def compare(self) -> Divergence | None:
        entries = {
            str(e["pk"]): {
                "model": e["model__name"],
                "model_version": str(e["model_version_id"]) if e["model_version_id"] is not None else None,
                "key": e["key"],
                "text": as_recorded(e["text"][:REASON_CHARS]),
                "chars": len(e["text"]),
                "author": e["author__username"],
                "author_role": e["author_role"],
            }
            for e in NarrativeEntry.objects.values(
                "pk", "model__name", "model_version_id", "key", "text", "author__username", "author_role"
            )
        }
        return compare_rows("reports_narrativeentry", entries, self.entries)

"""Replays ``narrative.set`` to rebuild the narrative entries (audit.state, ``audit_verify --state``).

The event carries the entry's id, key, the author's role, the text's length, its ``created_at``
(``at``) and, as its reason, the text's first 2,000 characters; of a longer text it also carries the
SHA-256 of the whole (``text_sha256``). An entry's text is compared on those characters, its length
and that digest (events written before ``at`` and ``text_sha256`` were carried are not checked for
them)."""

from __future__ import annotations

from audit.services import EXCERPT_CHARS, text_sha256
from audit.state import Divergence, as_recorded, compare_rows
from governance.reports.models import NarrativeEntry


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
        if "at" in data:
            self.entries[str(data.get("entry"))]["created_at"] = data["at"]
        if "text_sha256" in data:
            self.entries[str(data.get("entry"))]["text_sha256"] = data["text_sha256"]

    def compare(self) -> Divergence | None:
        entries = {
            str(e["pk"]): {
                "model": e["model__name"],
                "model_version": str(e["model_version_id"]) if e["model_version_id"] is not None else None,
                "key": e["key"],
                "text": as_recorded(e["text"][:EXCERPT_CHARS]),
                "chars": len(e["text"]),
                "text_sha256": text_sha256(e["text"]),
                "author": e["author__username"],
                "author_role": e["author_role"],
                "created_at": as_recorded(e["created_at"]),
            }
            for e in NarrativeEntry.objects.values(
                "pk", "model__name", "model_version_id", "key", "text", "author__username", "author_role", "created_at"
            )
        }
        return compare_rows("reports_narrativeentry", entries, self.entries)

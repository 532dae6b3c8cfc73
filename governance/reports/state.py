"""Replays ``narrative.set`` to rebuild the narrative entries (audit.state, ``audit_verify --state``).

The event carries the entry's id, key, the author's role, the text's length, its ``created_at``, as
its reason the text's first 2,000 characters, and the SHA-256 of the whole text (``text_sha256``,
``audit.state.carried_text``). An entry's text is compared on those characters, its length and that
digest (events written before ``created_at`` and ``text_sha256`` were carried are not checked for
them)."""

from __future__ import annotations

from audit.state import TEXT_CHARS, Divergence, as_recorded, carried_text, compare_rows, named_by_text
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
        for name in ("created_at", "text_sha256"):
            if name in data:
                self.entries[str(data.get("entry"))][name] = data[name]

    def compare(self) -> Divergence | None:
        entries = {
            str(e["pk"]): {
                "model": e["model__name"],
                "model_version": str(e["model_version_id"]) if e["model_version_id"] is not None else None,
                "key": e["key"],
                "text": as_recorded(e["text"][:TEXT_CHARS]),
                "chars": len(e["text"]),
                "text_sha256": carried_text("text", e["text"])["text_sha256"],
                "author": e["author__username"],
                "author_role": e["author_role"],
                "created_at": as_recorded(e["created_at"]),
            }
            for e in NarrativeEntry.objects.values(
                "pk", "model__name", "model_version_id", "key", "text", "author__username", "author_role", "created_at"
            )
        }
        return named_by_text(compare_rows("reports_narrativeentry", entries, self.entries))

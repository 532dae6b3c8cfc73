"""Blocks that print the audit record: counts by action, overrides kept apart, Art. 12 operating
logs, and the trail with its checkpoint."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import Spacer

from governance.reports import numbers as num
from governance.reports.render.base import (
    audit_counts,
)
from governance.reports.render.registry import block


@block("audit_summary")
def audit_summary(ctx, actions=None):
    events = ctx.pack.get("audit_events") or []
    counts = audit_counts(ctx.pack, actions)
    kinds = ", ".join(f"\u2018{a}\u2019" for a in actions or [])
    if not events:
        return [ctx.plain("No audit events are recorded.")]
    seqs = [e.get("seq") for e in events]
    intro = ctx.plain(
        f"{len(events)} audit event(s) in this pack, sequence {min(seqs)} to {max(seqs)}; "
        "every event is listed in the audit-trail section."
    )
    if not counts:
        return [intro, ctx.plain(f"No audit events of the kinds {kinds} are in this pack.")]
    head = f"Events of the kinds {kinds}" if actions else "Events by action"
    data = [ctx.heads("Action", "Events")] + [[k, num.count(counts[k])] for k in sorted(counts)]
    return [
        intro,
        ctx.p(f"{escape(head)}: {num.count(sum(counts.values()))} in total.", "small"),
        ctx.table(data, [0.7 * ctx.width, 0.3 * ctx.width]),
        Spacer(1, 6),
    ]


@block("operational_logs")
def operational_logs(ctx):
    """What the AI system itself records while operating (Art. 12) and what this service holds."""
    rows = [
        ("Period of each use (start, end)", "not held by this service"),
        ("Reference database checked against the input", "not held by this service"),
        ("Input data that led to a match", "not held by this service"),
        ("Persons who verified the results", "not held by this service"),
    ]
    return [
        ctx.p(
            "Art. 12 concerns events the AI system records automatically while it operates. This service "
            "holds none of them unless a deployment posts them; the governance events in this pack are "
            "records of the quality management system (Art. 17(1)(k)), listed in the audit-trail appendix.",
            "body",
        ),
        ctx.kv_table(rows, key_width=0.4),
        Spacer(1, 6),
    ]


@block("audit_trail")
def audit_trail(ctx):
    events = ctx.pack.get("audit_events") or []
    cp = ctx.pack.get("checkpoint") or {}
    out = [ctx.p("Checkpoint", "h3")]
    if cp:
        out.append(
            ctx.kv_table(
                [
                    ("Origin", cp.get("origin")),
                    ("Size (log entries)", cp.get("size")),
                    ("Root hash", cp.get("root")),
                    ("Signed note", cp.get("note")),
                ],
                hash_keys=("Root hash", "Signed note"),
                key_width=0.22,
            )
        )
        size = cp.get("size")
        if isinstance(size, int) and events:
            # seq is 0-based: a checkpoint of size N covers seq 0 to N-1.
            uncovered = sum(1 for e in events if isinstance(e.get("seq"), int) and e["seq"] >= size)
            msg = (
                f"All {len(events)} events listed have sequence numbers within the checkpoint "
                f"(0 to {size - 1}); each has an inclusion proof in the evidence bundle."
                if not uncovered
                else f"{uncovered} of {len(events)} events have sequence numbers beyond the checkpoint "
                f"size {size} and are not yet covered by it."
            )
            out.append(ctx.p(escape(msg), "small"))
    else:
        out.append(ctx.plain("No checkpoint is recorded; the events below are not covered by a signed checkpoint."))
    if not events:
        out.append(ctx.plain("No audit events are recorded."))
        return out
    out.append(ctx.p(f"Events ({len(events)})", "h3"))
    out.append(ctx.p("Leaf hash: base64 of the event's leaf hash in the transparency log.", "small"))
    out += ctx._audit_tables(events)
    return out

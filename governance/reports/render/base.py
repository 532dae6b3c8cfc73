"""The renderer's shared pieces: the number-aware value formatter, the selections every statement
uses, and :class:`Renderer` with the table/cell/box primitives, the cover, the completeness table and
the narratives. Blocks live in :mod:`.blocks`, registered by name in :mod:`.registry`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

import governance.reports.render.registry as registry
import governance.reports.render.tagging as tagging
from governance.reports import narratives as narr
from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.identity import pack_content_hash
from governance.reports.render.flowables import _ListingSpec, _RowListing, _text_width, _wrap_plain

GENERATOR_NAME = "mlgov"


NOT_PROVIDED = "NOT PROVIDED"


LEGAL_NOTE = (
    "This document is not legal advice. It assembles records and statements held by the "
    "model-governance service. A compliance or legal owner must review every legal "
    "determination (classification, conformity, acceptability of risk) before reliance."
)


ProgressFn = Callable[[int, int, str], None]


def fmt(value) -> str:
    """Display text for a value; numbers by the pack's number rule (:mod:`.numbers`)."""
    if value is None or value == "":
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return num.measured(value)
    if isinstance(value, int):
        return num.count(value)
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value) if value else "\u2014"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt(v)}" for k, v in value.items()) if value else "\u2014"
    return str(value)


def gate_overrides(pack: Mapping) -> list:
    """Approvals signed past a failing gate: the one selection every override statement uses."""
    return [a for a in pack.get("approvals") or [] if a.get("override_justification")]


def action_matches(action: str, pattern: str) -> bool:
    """``model_version.*`` matches every action of that object type; anything else matches exactly."""
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return action == pattern


def audit_counts(pack: Mapping, actions=None) -> dict:
    """Events per action among the pack's cited events, restricted to ``actions`` patterns."""
    counts = Counter(e.get("action") for e in pack.get("audit_events") or [] if e.get("action"))
    return {k: v for k, v in counts.items() if not actions or any(action_matches(k, pattern) for pattern in actions)}


def _same_person(a: str, b: str) -> bool:
    """People print as 'Full Name (username)' or 'username'; compare the usernames."""

    def user(x):
        x = str(x)
        return x[x.rindex("(") + 1 : -1] if x.endswith(")") and "(" in x else x

    return user(a) == user(b)


def esc(value) -> str:
    return escape(fmt(value))


def _result_text(ok) -> str:
    return "PASS" if ok is True else "FAIL" if ok is False else "n/a"


def lookup(pack: Mapping, path: str):
    cur = pack
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


#: The ratios computed on the favourable outcome (``params.favourable_outcome``), named beside it.
FAVOURABLE_RATIOS = ("disparate_impact_ratio", "demographic_parity_ratio")


class Renderer:
    """The pack being rendered and the primitives every block uses (tables, cells, boxes, narratives)."""

    def __init__(self, pack: Mapping, outline: Mapping, doc_state: dict):
        self.pack = pack
        self.outline = outline
        self.s = ps.styles()
        self.content_hash = pack_content_hash(pack)
        self.width = ps.page_size()[0] - 2 * ps.MARGIN_X
        self.frame_height = ps.page_size()[1] - ps.MARGIN_TOP - ps.MARGIN_BOTTOM
        self.narratives = pack.get("narratives") or {}
        self.evaluations = list(pack.get("evaluations") or [])
        self.current: Mapping | None = None
        self.doc_state = doc_state

    def p(self, text, style="body"):
        if style in tagging.HEADING_TAGS:
            return tagging.Heading(text, self.s[style])  # a tagged heading (H1/H2/H3) in the structure tree
        return Paragraph(text, self.s[style])

    def cell(self, value, style="cell"):
        return Paragraph(esc(value), self.s[style])

    def hash_cell(self, value):
        return Paragraph(esc(value).replace("\n", "<br/>"), self.s["hash"])

    def table(self, rows, widths, *, header=True, zebra=True, extra=(), repeat=1):
        """A table whose plain-string cells are wrapped to their column (never across a border);
        Paragraph cells wrap themselves. A light grid marks every cell border."""
        rows = [
            [
                _wrap_plain(c, widths[ci] - 9, ps.FONT_BOLD if header and ri == 0 else ps.FONT, 7.8)
                if isinstance(c, str)
                else c
                for ci, c in enumerate(row)
            ]
            for ri, row in enumerate(rows)
        ]
        t = Table(rows, colWidths=widths, repeatRows=repeat if header else 0)
        cmds = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ("TOPPADDING", (0, 0), (-1, -1), 2.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ("GRID", (0, 0), (-1, -1), 0.25, ps.RULE),
            ("FONTNAME", (0, 0), (-1, -1), ps.FONT),
            ("FONTSIZE", (0, 0), (-1, -1), 7.8),
        ]
        if header:
            cmds += [
                ("BACKGROUND", (0, 0), (-1, 0), ps.HEADER_BG),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, ps.NAVY),
                ("FONTNAME", (0, 0), (-1, 0), ps.FONT_BOLD),
                ("TEXTCOLOR", (0, 0), (-1, 0), ps.NAVY),
            ]
        if zebra:
            start = 1 if header else 0
            for r in range(start + 1, len(rows), 2):
                cmds.append(("BACKGROUND", (0, r), (-1, r), ps.ZEBRA))
        t.setStyle(TableStyle(cmds + list(extra)))
        return t

    def heads(self, *labels):
        return [Paragraph(escape(x), self.s["cell_head"]) for x in labels]

    def kv_table(self, rows, *, hash_keys=(), key_width=0.3):
        data = []
        for label, value in rows:
            v = self.hash_cell(value) if label in hash_keys else self.cell(value)
            data.append([Paragraph(escape(label), self.s["cell_bold"]), v])
        kw = self.width * key_width
        return self.table(data, [kw, self.width - kw], header=False)

    def box(self, flowables, *, bg, border, width=None):
        t = Table([[flowables]], colWidths=[width or self.width])
        t.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), bg),
                    ("FONTNAME", (0, 0), (-1, -1), ps.FONT),
                    ("BOX", (0, 0), (-1, -1), 1, border),
                    ("LEFTPADDING", (0, 0), (-1, -1), 7),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 7),
                    ("TOPPADDING", (0, 0), (-1, -1), 5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ]
            )
        )
        return t

    def plain(self, text):
        return self.p(escape(text), "body")

    def cover(self) -> list:
        pack, outline = self.pack, self.outline
        model = pack.get("model") or {}
        version = pack.get("version") or {}
        as_of = pack.get("as_of") or {}
        gen = pack.get("generator") or {}
        org = pack.get("organisation") or {}
        story = [
            Spacer(1, 10),
            self.p(escape(outline["title"]), "cover_title"),
            self.p(f"{esc(model.get('name'))} \u2014 version {esc(version.get('version'))}", "cover_sub"),
        ]
        story.append(self.p("Document control", "h2"))
        reg_text = pack.get("regulatory_text") or outline["regulatory_text"]
        rows = [
            ("Organisation", org.get("legal_name") or org.get("name")),
            ("Model", f"{fmt(model.get('name'))} ({fmt(model.get('model_id'))})"),
            ("Model version", f"{fmt(version.get('version'))} (stage: {fmt(version.get('stage'))})"),
            ("Pack id", pack.get("pack_id")),
            (
                "Regime / outline",
                f"{fmt(pack.get('regime'))} \u2014 outline version {fmt(pack.get('outline_version'))}",
            ),
            ("Regulatory text followed", reg_text),
        ]
        if outline.get("cover_statement"):
            rows.append(("Status of the text", outline["cover_statement"]))
        if pack.get("applicable_date"):
            rows.append(("Applicable date", pack["applicable_date"]))
        rows += [
            ("Data as of", f"log sequence {fmt(as_of.get('seq'))} at {fmt(as_of.get('ts'))}"),
            ("Generator", f"{fmt(gen.get('name'))} {fmt(gen.get('version'))}"),
            ("Content hash (SHA-256)", self.content_hash),
        ]
        story.append(self.kv_table(rows, hash_keys=("Content hash (SHA-256)",), key_width=0.27))
        story.append(Spacer(1, 10))
        story.append(
            self.box(
                [self.p("<b>Not legal advice.</b> " + escape(LEGAL_NOTE), "note")], bg=ps.WARN_BG, border=ps.WARN_BORDER
            )
        )
        story.append(Spacer(1, 8))
        story.append(
            self.p(
                "The content hash is the SHA-256 of pack.json, the pack document in RFC 8785 (JCS) "
                "canonical JSON. Recomputing it from pack.json with any JCS library verifies that this "
                "PDF was rendered from that document.",
                "small",
            )
        )
        return story

    def completeness_block(self) -> list:
        rows = narr.completeness(self.pack, self.outline)
        data = [self.heads("Section", "Title", "Provided", "Missing", "Missing narratives")]
        extra: list[tuple[Any, ...]] = []  # TableStyle commands
        tot_p = tot_m = 0
        for i, r in enumerate(rows, start=1):
            n_p, n_m = len(r["provided"]), len(r["missing"])
            tot_p += n_p
            tot_m += n_m
            missing = "; ".join(narr.label(k) for k in r["missing"])
            data.append([r["id"], self.cell(r["title"]), str(n_p), str(n_m), self.cell(missing or "\u2014")])
            if n_m:
                extra.append(("TEXTCOLOR", (3, i), (3, i), ps.FAIL_FG))
                extra.append(("FONTNAME", (3, i), (3, i), ps.FONT_BOLD))
        data.append(["", self.cell("Total", "cell_bold"), str(tot_p), str(tot_m), ""])
        n = len(data) - 1
        extra += [
            ("FONTNAME", (0, n), (-1, n), ps.FONT_BOLD),
            ("LINEABOVE", (0, n), (-1, n), 0.8, ps.NAVY),
            ("ALIGN", (2, 0), (3, -1), "CENTER"),
        ]
        w = self.width
        table = self.table(data, [0.1 * w, 0.34 * w, 0.1 * w, 0.1 * w, 0.36 * w], extra=extra)
        intro = self.p(
            f"Narratives are statements only people may write. {tot_p} of {tot_p + tot_m} are provided; "
            f"missing ones are printed in their sections as a boxed \u201c{NOT_PROVIDED}\u201d marker.",
            "body",
        )
        return [self.p("Completeness of human-written narratives", "h2"), intro, table]

    def narrative(self, key: str) -> list:
        entry = self.narratives.get(key)
        label = narr.label(key)
        if entry is not None and narr.is_provided(self.narratives, key):
            out = [self.p(escape(label), "h3")]
            for para in entry["text"].split("\n\n"):
                if para.strip():
                    out.append(self.p(escape(para.strip()).replace("\n", "<br/>")))
            out.append(
                self.p(
                    f"Written by {esc(entry.get('author'))}; last updated {esc(entry.get('updated_at'))}.",
                    "attribution",
                )
            )
            return out
        info = narr.BY_KEY.get(key)
        content = [self.p(f"{NOT_PROVIDED}: {escape(label)}", "missing")]
        if info:
            people = self.people_in_role(info.role)
            who = f"the {info.role.replace('_', ' ')}" + (f" ({', '.join(people)})" if people else "")
            content.append(
                self.p(
                    f"<b>Who must write it:</b> {escape(who)}, {info.scope} scope. {escape(info.help)}", "missing_help"
                )
            )
            where = self.admin_path()
            if where:
                content.append(
                    self.p(
                        f"<b>Where:</b> the narratives page of this version in the admin, "
                        f"<a href='{escape(where)}'>{escape(where)}</a> (field \u201c{escape(key)}\u201d).",
                        "missing_help",
                    )
                )
        return [Spacer(1, 3), self.box(content, bg=ps.MISSING_BG, border=ps.MISSING_BORDER), Spacer(1, 6)]

    def people_in_role(self, role: str) -> list[str]:
        """People known from the record to hold ``role`` for this model (owner/registrant for the
        developer, signers for the validator and the risk officer)."""
        m, v = self.pack.get("model") or {}, self.pack.get("version") or {}
        if role == "developer":
            found = [m.get("developer") or v.get("registered_by")]
        else:
            found = [a.get("approver") for a in self.pack.get("approvals") or [] if a.get("role") == role]
        out: list[str] = []
        for person in found:
            if person and person not in out:
                out.append(str(person))
        return out

    def admin_path(self) -> str | None:
        """The admin page where this version's narratives are written (absolute when PACK_ADMIN_BASE_URL
        is set)."""
        version_pk = (self.pack.get("version") or {}).get("id")
        if version_pk is None:
            return None
        return f"{self.pack.get('admin_base_url') or ''}/admin/reports/narrativeentry/edit/{version_pk}/"

    def block(self, block) -> list:
        """The flowables of one outline block, by the registry (an unknown name raises)."""
        return registry.render(self, block)

    def _override_summary(self):
        overrides = gate_overrides(self.pack)
        if not overrides:
            return "none: no approver signed past a failing gate"
        return f"{len(overrides)} gate override(s): " + ", ".join(
            f"{fmt(a.get('request_id'))} by {fmt(a.get('approver'))}" for a in overrides
        )

    def _validators(self):
        out = []
        for a in self.pack.get("approvals") or []:
            if a.get("role") == "validator" and a.get("approver") not in out:
                out.append(a.get("approver"))
        return out

    def _evals(self, kinds=None):
        if kinds:
            return [e for e in self.evaluations if e.get("kind") in kinds]
        return self.evaluations

    def _no_evals(self, kinds=None):
        if not self.evaluations:
            return [self.plain("No evaluations are recorded for this model version.")]
        return [self.plain(f"No evaluations of kind {', '.join(kinds)} are recorded for this model version.")]

    @staticmethod
    def _result_style(row, ok, col=4):
        if ok is None:
            return []
        bg, fg = (ps.PASS_BG, ps.PASS_FG) if ok else (ps.FAIL_BG, ps.FAIL_FG)
        cell = ((col, row), (col, row))
        return [("BACKGROUND", *cell, bg), ("TEXTCOLOR", *cell, fg), ("FONTNAME", *cell, ps.FONT_BOLD)]

    def _check_value(self, chk):
        return num.metric(chk.get("metric"), chk.get("value"))

    def _metric_label(self, ev, metric):
        """The metric name, with the favourable outcome beside every ratio computed on it (the
        equalized odds ratio compares error rates, not outcomes); a ratio whose source did not record
        the outcome says so."""
        if metric not in FAVOURABLE_RATIOS:
            return metric
        fav = (ev or {}).get("favourable_outcome")
        if fav:
            return f"{metric} (on favourable outcome: {fav.get('meaning')})"
        return f"{metric} (favourable outcome not recorded by its source)"

    def _warning_lines(self, ev):
        return [(f"{w['group']}: " if w.get("group") else "") + w.get("message", "") for w in ev.get("warnings") or []]

    def _warnings_para(self, ev, style="cell"):
        """Short form for summary tables: warnings by kind, with up to three groups named."""
        warnings = ev.get("warnings") or []
        if not warnings:
            return self.cell("none")
        by_code: dict[str, list] = {}
        for w in warnings:
            by_code.setdefault(w.get("code") or "note", []).append(w)
        parts = []
        for code, items in by_code.items():
            groups = [str(w["group"]) for w in items if w.get("group")]
            shown = "; ".join(groups[:3]) + (f"; and {len(groups) - 3} more" if len(groups) > 3 else "")
            text = f"{len(items)} × {code.replace('_', ' ')}" + (f" ({shown})" if shown else "")
            if not groups:
                text += f": {items[0].get('message')}"
            parts.append(f"<font color='#A4231B'><b>Warning:</b></font> {escape(text)}")
        parts.append(f"All listed under {escape(str(ev.get('id')))}.")
        return self.p("<br/>".join(parts), style)

    def _warnings_table(self, ev, lines):
        data = [self.heads(f"Warnings recorded by {ev.get('id')} ({len(lines)}): they qualify the numbers above")]
        data += [[self.p(escape(t), "note")] for t in lines]
        return self.table(
            data,
            [self.width],
            zebra=False,
            extra=[("BACKGROUND", (0, 0), (-1, -1), ps.WARN_BG), ("BOX", (0, 0), (-1, -1), 1, ps.WARN_BORDER)],
        )

    def _pairs_table(self, pairs, per_row=3):
        """Name/value pairs laid out ``per_row`` to a row, each in its own cell."""
        w = self.width
        cw = [0.22 * w, 0.113 * w] * per_row
        cw[-1] = w - sum(cw[:-1])
        data = []
        for i in range(0, len(pairs), per_row):
            row = []
            for name, value in pairs[i : i + per_row]:
                row += [name, value]
            row += ["", ""] * (per_row - len(pairs[i : i + per_row]))
            data.append(row)
        return self.table(data, cw, header=False)

    @staticmethod
    def _chunks(items, size):
        return [items[i : i + size] for i in range(0, len(items), size)] or [[]]

    def _stage_table(self, hist, empty):
        if not hist:
            return [self.plain(empty)]
        data = [self.heads("Version", "From", "To", "At", "Request", "Approvers", "Rollback")]
        extra = []
        for i, h in enumerate(hist, start=1):
            data.append(
                [
                    self.cell(h.get("version")),
                    self.cell(h.get("from")),
                    self.cell(h.get("to")),
                    self.cell(h.get("at")),
                    self.cell(h.get("request_id")),
                    self.cell(h.get("approvers")),
                    self.cell("ROLLBACK" if h.get("rollback") else "no"),
                ]
            )
            if h.get("rollback"):
                extra.append(("BACKGROUND", (0, i), (-1, i), ps.WARN_BG))
        w = self.width
        return [
            self.table(data, [0.1 * w, 0.11 * w, 0.11 * w, 0.19 * w, 0.11 * w, 0.28 * w, 0.1 * w], extra=extra),
            Spacer(1, 6),
        ]

    def _audit_tables(self, events):
        """One :class:`_RowListing` over plain-string rows whose heights are computed here."""
        w = self.width
        widths = [0.06 * w, 0.14 * w, 0.21 * w, 0.16 * w, 0.22 * w, 0.21 * w]
        size, hsize, lead, pad = 6.6, 6.2, 8.0, 2.0
        head = ["Seq", "Time (UTC)", "Actor", "Action", "Object", "Leaf hash (base64)"]
        rows, heights = [], []
        fonts = [ps.FONT] * 5 + [ps.HASH_FONT]
        sizes = [size] * 5 + [hsize]
        for e in events:
            raw = [
                fmt(e.get("seq")),
                fmt(e.get("ts")),
                fmt(e.get("actor")),
                fmt(e.get("action")),
                fmt(e.get("object")),
                fmt(e.get("leaf_hash")),
            ]
            if "T" in raw[1] and _text_width(raw[1], ps.FONT, size) > widths[1] - 2 * pad - 3:
                raw[1] = raw[1].replace("T", "T\n", 1)  # date / time on two lines, characters unchanged
            cells = [
                _wrap_plain(t, widths[i] - 2 * pad - 3, fonts[i], sizes[i], soft=i != 5) for i, t in enumerate(raw)
            ]
            rows.append(cells)
            heights.append(max(c.count("\n") + 1 for c in cells) * lead + 2 * pad)
        spec = _ListingSpec(
            head=head, widths=widths, fonts=fonts, sizes=sizes, lead=lead, pad=pad, head_h=lead + 2 * pad
        )
        return [_RowListing(spec, rows, heights, self.doc_state)]

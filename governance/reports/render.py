"""Render a pack document (plain dict, see docs/pack-schema.md) to a PDF following an outline.

Public API:

- :func:`render_pack_pdf` writes the PDF to a file path;
- :func:`pack_content_hash` / :func:`canonical_pack_bytes`: SHA-256 of the canonical JSON;
- :func:`derive_pack_id`: the deterministic pack id of a snapshot.

Reproducibility: the same pack dict gives byte-identical output. reportlab runs with
``invariant=1``, the PDF dates come from ``pack["as_of"]["ts"]``, bookmarks and keys are derived
from section ids, every list is rendered in pack order (or sorted where the renderer aggregates),
and no random ids are used.

Layout is two-pass (reportlab ``multiBuild``): the table of contents is pre-filled with its final
entries, so the first pass already has the final layout and the second pass writes the page
numbers (TOC and "Page x of y"). Long listings (the audit trail) are split into page-sized tables
whose row heights are computed here, which keeps layout linear in the number of rows.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

from governance.reports import charts, modelcard
from governance.reports import narratives as narr
from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.outlines import block_options, block_type

GENERATOR_NAME = "mlgov"
NOT_PROVIDED = "NOT PROVIDED"
LEGAL_NOTE = (
    "This document is not legal advice. It assembles records and statements held by the "
    "model-governance service. A compliance or legal owner must review every legal "
    "determination (classification, conformity, acceptability of risk) before reliance."
)

ProgressFn = Callable[[int, int, str], None]


# --------------------------------------------------------------------------------------------
# Hashing and ids
# --------------------------------------------------------------------------------------------


def canonical_pack_bytes(pack: Mapping) -> bytes:
    """The canonical JSON bytes of the pack (what pack.json should contain)."""
    return json.dumps(pack, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pack_content_hash(pack: Mapping) -> str:
    """SHA-256 hex of :func:`canonical_pack_bytes`."""
    return hashlib.sha256(canonical_pack_bytes(pack)).hexdigest()


def derive_pack_id(regime: str, outline_version: str, model_id, version, as_of_seq: int) -> str:
    """Deterministic pack id: same snapshot and outline give the same id."""
    basis = f"{regime}|{outline_version}|{model_id}|{version}|{int(as_of_seq)}"
    return "pk-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


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


def _pdf_date(ts: str) -> str:
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return dt.strftime("D:%Y%m%d%H%M%S+00'00'")


_BREAK_AFTER = set(" /.@:-_#,;=")
_CHAR_WIDTHS: dict[str, dict[str, float]] = {}


def _text_width(text: str, font: str, size: float) -> float:
    """stringWidth with a per-character cache (reportlab's pure-Python fallback is slow)."""
    table = _CHAR_WIDTHS.setdefault(font, {})
    total = 0.0
    for ch in text:
        w = table.get(ch)
        if w is None:
            w = table[ch] = stringWidth(ch, font, 1000)
        total += w
    return total * size / 1000


def _breakable(line: str, i: int) -> bool:
    """A line may break after ``line[i]``: a separator, but never inside a number (0.1564, 1,234)."""
    if line[i] not in _BREAK_AFTER:
        return False
    if line[i] in ".,-" and 0 < i < len(line) - 1 and line[i - 1].isdigit() and line[i + 1].isdigit():
        return False
    return True


def _wrap_plain(text: str, width: float, font: str, size: float, *, soft: bool = True) -> str:
    """Wrap plain text to ``width`` points with newlines (fast path for big tables).

    Never drops or changes a character: lines break after a separator when one is in the second
    half of the line (``soft``), else at any character.
    """
    out = []
    for line in text.split("\n"):
        while line and _text_width(line, font, size) > width:
            used, cut = 0.0, 0
            while cut < len(line):
                used += _text_width(line[cut], font, size)
                if used > width:
                    break
                cut += 1
            cut = max(cut, 1)
            if soft:
                cut = max((i + 1 for i in range(cut // 4, cut) if _breakable(line, i)), default=cut)
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Flowables used for TOC, progress and page count
# --------------------------------------------------------------------------------------------


class _SectionHeading(Paragraph):
    """An h1 heading that registers a TOC entry and a PDF bookmark."""

    def __init__(self, text, style, *, toc_text: str, key: str):
        super().__init__(text, style)
        self.toc_text = toc_text
        self.key = key


class _ProgressMark(Flowable):
    """Zero-size flowable reporting section k of n when laid out (each k once, in order)."""

    def __init__(self, state: dict, k: int, n: int, title: str):
        super().__init__()
        self.state, self.k, self.n, self.title = state, k, n, title

    def wrap(self, aw, ah):
        return 0, 0

    def draw(self):
        fn = self.state.get("fn")
        if fn and self.k > self.state["last"]:
            self.state["last"] = self.k
            fn(self.k, self.n, self.title)


class _PageCounter(Flowable):
    """Indexing flowable: multiBuild runs again until the total page count is stable."""

    def __init__(self, doc_state: dict):
        super().__init__()
        self.doc_state = doc_state

    def wrap(self, aw, ah):
        return 0, 0

    def draw(self):
        pass

    def isIndexing(self):
        return 1

    def beforeBuild(self):
        self.doc_state["previous_total"] = self.doc_state.get("total")
        self.doc_state["pass"] = self.doc_state.get("pass", 0) + 1

    def afterBuild(self):
        pass

    def notify(self, kind, stuff):
        pass

    def isSatisfied(self):
        return self.doc_state.get("total") == self.doc_state.get("previous_total")


class _PackDoc(BaseDocTemplate):
    def __init__(self, filename, *, doc_state: dict, **kw):
        super().__init__(filename, **kw)
        self.doc_state = doc_state

    def afterFlowable(self, flowable):
        if isinstance(flowable, _SectionHeading):
            self.canv.bookmarkPage(flowable.key)
            self.canv.addOutlineEntry(flowable.toc_text, flowable.key, level=0, closed=True)
            self.notify("TOCEntry", (0, flowable.toc_text, self.page, flowable.key))

    def _endBuild(self):
        super()._endBuild()
        self.doc_state["total"] = self.page


# --------------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------------


class _Renderer:
    def __init__(self, pack: Mapping, outline: Mapping, doc_state: dict):
        self.pack = pack
        self.outline = outline
        self.s = ps.styles()
        self.content_hash = pack_content_hash(pack)
        self.width = ps.PAGE_SIZE[0] - 2 * ps.MARGIN_X
        self.frame_height = ps.PAGE_SIZE[1] - ps.MARGIN_TOP - ps.MARGIN_BOTTOM
        self.narratives = pack.get("narratives") or {}
        self.evaluations = list(pack.get("evaluations") or [])
        self.current: Mapping | None = None
        self.doc_state = doc_state

    # ---- primitives -------------------------------------------------------------------------
    def p(self, text, style="body"):
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

    # ---- front matter ---------------------------------------------------------------------
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
                "The content hash is the SHA-256 of the canonical JSON of the pack document "
                "(pack.json: keys sorted, no whitespace, UTF-8). Recomputing it from pack.json "
                "verifies that this PDF was rendered from that document.",
                "small",
            )
        )
        return story

    def completeness_block(self) -> list:
        rows = narr.completeness(self.pack, self.outline)
        data = [self.heads("Section", "Title", "Provided", "Missing", "Missing narratives")]
        extra = []
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

    # ---- narratives ---------------------------------------------------------------------------
    def narrative(self, key: str) -> list:
        entry = self.narratives.get(key)
        label = narr.label(key)
        if narr.is_provided(self.narratives, key):
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
        help_text = (
            (f"To be written by the {info.role.replace('_', ' ')} ({info.scope} scope). {escape(info.help)}")
            if info
            else ""
        )
        content = [self.p(f"{NOT_PROVIDED}: {escape(label)}", "missing")]
        if help_text:
            content.append(self.p(help_text, "missing_help"))
        return [Spacer(1, 3), self.box(content, bg=ps.MISSING_BG, border=ps.MISSING_BORDER), Spacer(1, 6)]

    # ---- blocks ---------------------------------------------------------------------------------
    def block(self, block) -> list:
        name = block_type(block)
        fn = getattr(self, f"b_{name}", None)
        if fn is None:
            return [self.p(f"<i>Unknown block {escape(name)}.</i>", "small")]
        return fn(**block_options(block))

    def b_note(self, text=""):
        return [self.box([self.p(escape(text), "note")], bg=ps.NOTE_BG, border=ps.RULE), Spacer(1, 6)]

    def b_completeness(self):
        return self.completeness_block()

    def b_field_table(self, rows=(), title=None):
        out = [self.p(escape(title), "h3")] if title else []
        out += [self.kv_table([(label, lookup(self.pack, path)) for label, path in rows]), Spacer(1, 6)]
        return out

    def b_records_table(self, source="", columns=(), empty_text="No records."):
        records = lookup(self.pack, source) or []
        if not records:
            return [self.plain(empty_text)]
        data = [self.heads(*[c[1] for c in columns])]
        for rec in records:
            data.append([self.cell(rec.get(c[0])) for c in columns])
        weights = [float(c[2]) if len(c) > 2 else 1.0 for c in columns]
        return [self.table(data, [self.width * x / sum(weights) for x in weights]), Spacer(1, 6)]

    def b_static_table(self, columns=(), rows=()):
        data = [self.heads(*columns)] + [[self.cell(c) for c in r] for r in rows]
        w = self.width / len(columns)
        return [self.table(data, [w] * len(columns)), Spacer(1, 6)]

    def b_model_summary(self):
        m, v = self.pack.get("model") or {}, self.pack.get("version") or {}
        eu = m.get("eu_ai_act") or {}
        rows = [
            ("Model", m.get("name")),
            ("Purpose", m.get("purpose")),
            ("Owner", m.get("owner")),
            ("Business unit", m.get("business_unit")),
            ("SR 11-7 risk tier", m.get("sr11_7_tier")),
            ("EU AI Act category", eu.get("category")),
            ("Annex III area", eu.get("annex_iii_area")),
            ("Model status", m.get("status")),
            ("Version", v.get("version")),
            ("Stage", v.get("stage")),
            ("Registered", f"{fmt(v.get('registered_at'))} by {fmt(v.get('registered_by'))}"),
        ]
        return [self.kv_table(rows), Spacer(1, 6)]

    def b_model_inventory(self):
        m, v = self.pack.get("model") or {}, self.pack.get("version") or {}
        rows = [
            ("Purpose", m.get("purpose")),
            ("Products / business line", m.get("products")),
            ("Actual or expected usage", m.get("usage")),
            ("Restrictions on use", m.get("restrictions")),
            ("Inputs and sources", m.get("inputs")),
            ("Upstream models", m.get("upstream_models")),
            ("Outputs and intended use", m.get("outputs")),
            ("Status", m.get("status")),
            ("Last updated", v.get("registered_at")),
            ("Policy exceptions (gate overrides by approvers)", self._override_summary()),
            ("Owner", m.get("owner")),
            ("Developer", m.get("developer") or v.get("registered_by")),
            ("Validators", ", ".join(self._validators()) or None),
            ("Last validated", m.get("last_validated")),
            ("Next review", m.get("next_review")),
            ("Validity horizon", m.get("validity_horizon")),
        ]
        return [self.kv_table(rows), Spacer(1, 6)]

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

    def b_classification(self):
        m = self.pack.get("model") or {}
        eu = m.get("eu_ai_act") or {}
        rows = [
            ("Declared use case", m.get("purpose")),
            ("EU AI Act category (registered)", eu.get("category")),
            ("Annex III area (suggested)", eu.get("annex_iii_area")),
            ("Annex III point (suggested)", eu.get("annex_iii_point")),
            ("SR 11-7 risk tier", m.get("sr11_7_tier")),
        ]
        return [self.kv_table(rows), Spacer(1, 6)]

    def b_lineage_table(self):
        v = self.pack.get("version") or {}
        lin = v.get("lineage") or {}
        hashes = ("Artefact SHA-256", "Training data SHA-256", "Code commit")
        rows = [
            ("Version", v.get("version")),
            ("Artefact URI", lin.get("artifact_uri")),
            ("Artefact SHA-256", lin.get("artifact_sha256")),
            ("Training data", lin.get("training_data_ref")),
            ("Training data SHA-256", lin.get("training_data_sha256")),
            ("Code commit", lin.get("code_commit")),
            ("Framework", lin.get("framework")),
            ("Registered by", v.get("registered_by")),
            ("Registered at", v.get("registered_at")),
        ]
        return [self.p("Lineage", "h3"), self.kv_table(rows, hash_keys=hashes, key_width=0.25), Spacer(1, 6)]

    def b_parameters_table(self):
        params = ((self.pack.get("version") or {}).get("lineage") or {}).get("parameters") or {}
        if not params:
            return [self.plain("No parameters are recorded for this version.")]
        rows = [(k, params[k]) for k in sorted(params)]
        return [self.p("Parameters", "h3"), self.kv_table(rows, key_width=0.35), Spacer(1, 6)]

    def b_version_history(self):
        hist = self.pack.get("version_history") or []
        if not hist:
            return [self.plain("No version history is recorded.")]
        data = [self.heads("Version", "Stage", "Registered", "By", "Artefact SHA-256", "Change")]
        for h in hist:
            data.append(
                [
                    self.cell(h.get("version")),
                    self.cell(h.get("stage")),
                    self.cell(h.get("registered_at")),
                    self.cell(h.get("registered_by")),
                    self.hash_cell(h.get("artifact_sha256")),
                    self.cell(h.get("change_summary")),
                ]
            )
        w = self.width
        return [
            self.p("Version history", "h3"),
            self.table(data, [0.09 * w, 0.11 * w, 0.16 * w, 0.15 * w, 0.24 * w, 0.25 * w]),
            Spacer(1, 6),
        ]

    def b_datasets_table(self):
        ds = self.pack.get("datasets") or []
        if not ds:
            return [self.plain("No datasets are recorded for this version.")]
        data = [self.heads("Dataset", "Role", "Source", "Rows", "Time window", "SHA-256")]
        for d in ds:
            tw = d.get("time_window") or {}
            data.append(
                [
                    self.cell(d.get("name")),
                    self.cell(d.get("role")),
                    self.cell(d.get("source")),
                    num.count(d.get("rows")) if d.get("rows") is not None else "\u2014",
                    self.cell(f"{fmt(tw.get('start'))} to {fmt(tw.get('end'))}"),
                    self.hash_cell(d.get("sha256")),
                ]
            )
        w = self.width
        return [self.table(data, [0.22 * w, 0.08 * w, 0.13 * w, 0.14 * w, 0.15 * w, 0.28 * w]), Spacer(1, 6)]

    # evaluations
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
        """The metric name, with the favourable outcome beside every ratio."""
        fav = ev.get("favourable_outcome")
        if fav and metric and metric.endswith("_ratio"):
            return f"{metric} (on favourable outcome: {fav.get('meaning')})"
        return metric

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

    def b_evaluations_table(self, kinds=None):
        evs = self._evals(kinds)
        if not evs:
            return self._no_evals(kinds)
        out = [self.p("Evaluations and checks", "h3")]
        w = self.width
        for ev in evs:
            libs = ev.get("libraries") or {}
            lib_text = ", ".join(f"{k} {libs[k]}" for k in sorted(libs)) or "\u2014"
            source = ev.get("source")
            head = (
                f"<b>{esc(ev.get('id'))}</b> \u00b7 {esc(ev.get('kind'))} on {esc(ev.get('dataset'))} "
                f"\u00b7 <b>{esc(source)}</b> \u00b7 {esc(ev.get('created_at'))}"
                f" \u00b7 model version {esc(ev.get('model_version'))}"
            )
            meta = (
                f"Input digest (SHA-256): <font name='{ps.HASH_FONT}' size='{ps.HASH_SIZE}'>"
                f"{esc(ev.get('input_sha256'))}</font><br/>Libraries: {escape(lib_text)}"
            )
            if source == "reported":
                meta += "<br/><b>Reported by the pipeline: these numbers were not computed by this service.</b>"
            data = [self.heads("Metric", "Value", "Comparator", "Threshold", "Result", "Source")]
            extra = []
            for i, chk in enumerate(ev.get("checks") or [], start=1):
                ok = chk.get("passed")
                data.append(
                    [
                        self.cell(self._metric_label(ev, chk.get("metric"))),
                        self._check_value(chk),
                        fmt(chk.get("comparator")),
                        num.threshold(chk.get("threshold")),
                        _result_text(ok),
                        fmt(source),
                    ]
                )
                extra += self._result_style(i, ok)
            checked = {c.get("metric") for c in ev.get("checks") or []}
            metrics = ev.get("metrics") or {}
            others = [(k, num.metric(k, metrics[k])) for k in sorted(metrics) if k not in checked]
            parts = [self.p(head, "cell"), self.p(meta, "small")]
            if len(data) > 1:
                parts.append(
                    self.table(
                        data,
                        [0.28 * w, 0.13 * w, 0.14 * w, 0.15 * w, 0.11 * w, 0.19 * w],
                        extra=extra + [("ALIGN", (1, 0), (-1, -1), "LEFT")],
                    )
                )
            else:
                parts.append(self.p("No checks defined for this evaluation.", "small"))
            warn = self._warning_lines(ev)
            if warn:
                parts.append(self._warnings_table(ev, warn))
            if others:
                parts.append(self.p("Other metrics of this evaluation", "small"))
                parts.append(self._pairs_table(others))
            out.append(KeepTogether(parts))
            out.append(Spacer(1, 8))
        return out

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

    def b_headline_metrics(self):
        if not self.evaluations:
            return [self.plain("No evaluations are recorded; there are no metrics to report against thresholds.")]
        data = [self.heads("Evaluation", "Metric", "Value", "Threshold", "Result", "Warnings beside the number")]
        extra = []
        n_pass = n_fail = 0
        w = self.width
        for ev in self.evaluations:
            for chk in ev.get("checks") or []:
                ok = chk.get("passed")
                n_pass += ok is True
                n_fail += ok is False
                row = len(data)
                data.append(
                    [
                        f"{fmt(ev.get('id'))} ({fmt(ev.get('kind'))}, {fmt(ev.get('source'))})",
                        self.cell(self._metric_label(ev, chk.get("metric"))),
                        self._check_value(chk),
                        f"{fmt(chk.get('comparator'))} {num.threshold(chk.get('threshold'))}",
                        _result_text(ok),
                        self._warnings_para(ev),
                    ]
                )
                extra += self._result_style(row, ok, col=4)
        reported = [ev for ev in self.evaluations if ev.get("source") == "reported"]
        summary = self.p(
            f"{len(self.evaluations)} evaluation(s), {n_pass + n_fail} check(s): "
            f"<b>{n_pass} passed</b>, <b>{n_fail} failed</b>."
            + (
                f" {len(reported)} evaluation(s) hold numbers reported by a pipeline, not computed by this service."
                if reported
                else ""
            )
        )
        if len(data) == 1:
            return [summary]
        return [
            summary,
            self.table(data, [0.19 * w, 0.22 * w, 0.1 * w, 0.12 * w, 0.09 * w, 0.28 * w], extra=extra),
            Spacer(1, 6),
        ]

    def b_evidence_reconciliation(self):
        ev = self.pack.get("evidence") or {}
        rows = ev.get("rows") or []
        tol = num.threshold(ev.get("tolerance"))
        head = self.p("Reported and computed evidence", "h3")
        if not rows:
            return [
                head,
                self.plain(
                    "No metric is both reported by a pipeline and computed by this service for this version; "
                    "there is nothing to reconcile."
                ),
            ]
        n_disc, n_fail = ev.get("discrepancies", 0), ev.get("computed_failures", 0)
        intro = self.p(
            f"{len(rows)} metric(s) are both reported and computed. <b>{n_disc}</b> differ by more than the "
            f"tolerance {tol} (absolute, setting EVIDENCE_DISCREPANCY_TOLERANCE); the computed value fails its "
            f"threshold for <b>{n_fail}</b>. The difference is computed minus reported."
        )
        data = [
            self.heads(
                "Metric",
                "Reported",
                "Computed",
                "Difference",
                "Beyond tolerance",
                "Computed vs threshold",
                "Gates used",
            )
        ]
        extra = []
        for i, r in enumerate(rows, start=1):
            verdict = (
                "\u2014"
                if r.get("computed_passes") is None
                else f"{_result_text(r['computed_passes'])} ({fmt(r.get('comparator'))} "
                f"{num.threshold(r.get('threshold'))})"
            )
            data.append(
                [
                    r["metric"],
                    f"{num.metric(r['metric'], r['reported'])} ({r['reported_evaluation']})",
                    f"{num.metric(r['metric'], r['computed'])} ({r['computed_evaluation']})",
                    num.measured(r["difference"]),
                    "YES" if r["discrepancy"] else "no",
                    verdict,
                    r.get("gates_used") or "no decided gate used it",
                ]
            )
            if r["discrepancy"]:
                extra += [("BACKGROUND", (4, i), (4, i), ps.FAIL_BG), ("TEXTCOLOR", (4, i), (4, i), ps.FAIL_FG)]
            extra += self._result_style(i, r.get("computed_passes"), col=5)
        w = self.width
        out = [
            head,
            intro,
            self.table(data, [0.17 * w, 0.13 * w, 0.13 * w, 0.11 * w, 0.11 * w, 0.15 * w, 0.2 * w], extra=extra),
        ]
        from governance.reports.evidence import gates_on_reported_that_fail_computed

        bad = gates_on_reported_that_fail_computed(self.pack)
        if bad:
            out.append(
                self.box(
                    [
                        self.p(
                            "<b>The promotion gates passed on reported numbers whose computed values fail:</b> "
                            + escape(", ".join(r["metric"] for r in bad))
                            + ". The thresholds are not met by the service's own computation.",
                            "note",
                        )
                    ],
                    bg=ps.FAIL_BG,
                    border=ps.MISSING_BORDER,
                )
            )
        out.append(Spacer(1, 6))
        return out

    def b_review_flags(self):
        flags = self.pack.get("review_flags") or []
        head = self.p("Review flags", "h3")
        if not flags:
            return [head, self.plain("No review flag has been raised for this version.")]
        open_flags = [f for f in flags if f.get("open")]
        intro = self.p(
            f"{len(flags)} review flag(s) raised for this version, <b>{len(open_flags)} open</b>: a monitoring "
            "evaluation breached the production policy."
        )
        data = [self.heads("Flag", "Raised", "Evaluation", "Breaches", "Status")]
        extra = []
        for i, f in enumerate(flags, start=1):
            breaches = "; ".join(
                f"{b.get('metric')} = {num.metric(b.get('metric'), b.get('value'))} "
                f"(needs {fmt(b.get('comparator'))} {num.threshold(b.get('threshold'))})"
                for b in f.get("breaches") or []
            )
            data.append(
                [
                    f["id"],
                    fmt(f.get("raised_at")),
                    f.get("evaluation"),
                    self.cell(breaches or "\u2014"),
                    "OPEN" if f.get("open") else f"resolved: {fmt(f.get('resolution'))}",
                ]
            )
            if f.get("open"):
                extra += [("TEXTCOLOR", (4, i), (4, i), ps.FAIL_FG), ("FONTNAME", (4, i), (4, i), ps.FONT_BOLD)]
        w = self.width
        return [
            head,
            intro,
            self.table(data, [0.1 * w, 0.2 * w, 0.12 * w, 0.4 * w, 0.18 * w], extra=extra),
            Spacer(1, 6),
        ]

    @staticmethod
    def _chunks(items, size):
        return [items[i : i + size] for i in range(0, len(items), size)] or [[]]

    def b_fairness_chart(self):
        evs = [e for e in self.evaluations if e.get("by_group")]
        if not evs:
            return [self.plain("No fairness evaluation with per-group results is recorded for this version.")]
        out = []
        w = self.width
        for ev in evs:
            gm = ev.get("group_metric") or {}
            rows = ev["by_group"]
            name = gm.get("name") or sorted(rows[0].get("metrics") or {})[0]
            fav = ev.get("favourable_outcome") or {}
            out.append(
                self.p(
                    f"Per-group results \u2014 {esc(ev.get('id'))} on {esc(ev.get('dataset'))} "
                    f"({esc(ev.get('source'))})",
                    "h3",
                )
            )
            out.append(
                self.p(
                    f"Selection rate = share of the group predicted the positive class (label 1). Ratios are "
                    f"computed on the favourable outcome: <b>{esc(fav.get('meaning') or 'the positive class')}</b>"
                    f"{'' if fav.get('declared') else ' (default: none was declared)'}. Minimum group size: "
                    f"{esc(num.count(ev.get('min_group_size')) if ev.get('min_group_size') is not None else None)}.",
                    "small",
                )
            )
            labels = [f"{r.get('group')}" for r in rows]
            values = [(r.get("metrics") or {}).get(name) for r in rows]
            for part in self._chunks(list(range(len(rows))), 30):
                out.append(
                    charts.bar_chart(
                        [labels[i] for i in part],
                        [values[i] for i in part],
                        threshold=gm.get("threshold"),
                        comparator=gm.get("comparator"),
                        width=w,
                        value_label=f"{name} (share of the group, 0 to 1)",
                        flagged=[bool(rows[i].get("warnings")) for i in part],
                    )
                )
            metric_names = sorted({k for r in rows for k in (r.get("metrics") or {})})
            for names in self._chunks(metric_names, 4):
                data = [self.heads("Group", "n", *names)]
                extra = []
                for i, r in enumerate(rows, start=1):
                    mets = r.get("metrics") or {}
                    group = escape(fmt(r.get("group")))
                    for warning in r.get("warnings") or []:
                        group += f"<br/><font color='#A4231B'><b>Warning:</b> {escape(warning)}</font>"
                    data.append(
                        [self.p(group, "cell"), num.count(r.get("n"))] + [num.measured(mets.get(k)) for k in names]
                    )
                    if r.get("warnings"):
                        extra.append(("BACKGROUND", (0, i), (-1, i), ps.WARN_BG))
                cw = [0.36 * w, 0.14 * w]
                rest = (w - sum(cw)) / 4
                out += [Spacer(1, 4), self.table(data, cw + [rest] * len(names), extra=extra, zebra=False)]
            out.append(Spacer(1, 8))
        return out

    def b_drift_chart(self):
        evs = [e for e in self.evaluations if e.get("features")]
        if not evs:
            return [self.plain("No drift evaluation with per-feature results is recorded for this version.")]
        out = []
        w = self.width
        for ev in evs:
            rows = ev["features"]
            out.append(
                self.p(
                    f"Per-feature drift \u2014 {esc(ev.get('id'))} on {esc(ev.get('dataset'))} "
                    f"({esc(ev.get('source'))})",
                    "h3",
                )
            )
            out.append(
                self.p(
                    "Each feature is tested by the method the evaluation recorded: <b>ks</b> (two-sample "
                    "Kolmogorov-Smirnov) and <b>chi2</b> (chi-squared) decide on the p-value (drift when p is "
                    "below the threshold); <b>wasserstein_normalized</b> and <b>jensen_shannon</b> decide on the "
                    "statistic (drift when it is above the threshold).",
                    "small",
                )
            )
            # one chart per deciding quantity, so a p-value is never drawn as a statistic
            groups: dict[tuple, list] = {}
            for r in rows:
                groups.setdefault((r.get("method"), r.get("decided_by"), r.get("threshold")), []).append(r)
            for (method, decided_by, thr), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
                quantity = "p_value" if decided_by == "p_value" else "statistic"
                axis = (
                    f"{method} p-value (drift if < {num.threshold(thr)})"
                    if quantity == "p_value"
                    else f"{method} statistic ({members[0].get('statistic_name')}; drift if > {num.threshold(thr)})"
                )
                for part in self._chunks(members, 30):
                    out.append(
                        charts.bar_chart(
                            [fmt(r.get("feature")) for r in part],
                            [r.get(quantity) for r in part],
                            threshold=thr,
                            comparator=">=" if quantity == "p_value" else "<=",
                            width=w,
                            value_label=axis,
                            threshold_text=(
                                f"drift below {num.threshold(thr)}"
                                if quantity == "p_value"
                                else f"drift above {num.threshold(thr)}"
                            ),
                        )
                    )
            data = [self.heads("Feature", "Method", "Statistic", "p-value", "Decided by", "Threshold", "Drifted")]
            extra = []
            for i, r in enumerate(rows, start=1):
                data.append(
                    [
                        fmt(r.get("feature")),
                        fmt(r.get("method")),
                        f"{fmt(r.get('statistic_name'))} = {num.measured(r.get('statistic'))}",
                        num.p_value(r.get("p_value")) if r.get("p_value") is not None else "\u2014",
                        "p-value" if r.get("decided_by") == "p_value" else "statistic",
                        f"{fmt(r.get('comparator'))} {num.threshold(r.get('threshold'))}",
                        "yes" if r.get("drifted") else "no",
                    ]
                )
                if r.get("drifted"):
                    extra += [("TEXTCOLOR", (6, i), (6, i), ps.FAIL_FG), ("FONTNAME", (6, i), (6, i), ps.FONT_BOLD)]
            out += [
                Spacer(1, 4),
                self.table(data, [0.22 * w, 0.15 * w, 0.2 * w, 0.1 * w, 0.11 * w, 0.12 * w, 0.1 * w], extra=extra),
                Spacer(1, 8),
            ]
        return out

    # approvals and governance
    def b_approval_chain(self):
        approvals = self.pack.get("approvals") or []
        if not approvals:
            return [self.plain("No approvals are recorded for this model version.")]
        w = self.width
        data = [
            self.heads(
                "Request / target", "Approver and role", "Signed at", "Decision", "Signature meaning", "Justification"
            )
        ]
        extra = []
        for i, a in enumerate(approvals, start=1):
            decision = f"<b>{esc(a.get('decision'))}</b>"
            if a.get("invalidated"):
                decision += "<br/>(invalidated)"
            if a.get("override_justification"):
                decision += "<br/><b>OVERRIDE</b>"
            data.append(
                [
                    self.p(f"{esc(a.get('request_id'))}<br/>to {esc(a.get('target_stage'))}", "cell"),
                    self.p(f"{esc(a.get('approver'))}<br/><i>{esc(a.get('role'))}</i>", "cell"),
                    self.cell(a.get("signed_at")),
                    self.p(decision, "cell"),
                    self.cell(a.get("signature_meaning")),
                    self.cell(a.get("justification")),
                ]
            )
            if a.get("override_justification"):
                extra.append(("BACKGROUND", (0, i), (-1, i), ps.WARN_BG))
            if a.get("invalidated"):
                extra.append(("TEXTCOLOR", (0, i), (-1, i), ps.GREY))
        out = [
            self.p("Approval chain", "h3"),
            self.table(data, [0.12 * w, 0.21 * w, 0.15 * w, 0.12 * w, 0.17 * w, 0.23 * w], extra=extra, zebra=False),
            Spacer(1, 6),
        ]
        for a in approvals:
            if a.get("override_justification"):
                out += [
                    self.box(
                        [
                            self.p(
                                f"<b>OVERRIDE</b> \u2014 {esc(a.get('approver'))} ({esc(a.get('role'))}) "
                                f"on request {esc(a.get('request_id'))}, {esc(a.get('signed_at'))}",
                                "note",
                            ),
                            self.p("Override justification: " + esc(a.get("override_justification")), "note"),
                        ],
                        bg=ps.WARN_BG,
                        border=ps.WARN_BORDER,
                    ),
                    Spacer(1, 6),
                ]
        return out

    def b_independence_check(self):
        m, v = self.pack.get("model") or {}, self.pack.get("version") or {}
        owner = m.get("owner")
        developer = m.get("developer") or v.get("registered_by")
        developers = {x for x in (m.get("developer"), v.get("registered_by"), owner) if x}
        validators = self._validators()
        rows = [
            ("Model owner", owner),
            ("Developer (registered the version)", developer),
        ]
        out = []
        if owner and developer and _same_person(owner, developer):
            rows.append(("Owner and developer", "FLAG: the same person is owner and developer"))
        if not validators:
            rows.append(("Validators (from approvals)", None))
            rows.append(("Separation-of-accounts check", "not run: no validator approval is recorded"))
            return [self.kv_table(rows), Spacer(1, 6)]
        clash = [x for x in validators if any(_same_person(x, d) for d in developers)]
        rows += [
            ("Validators (from approvals)", ", ".join(validators)),
            (
                "Separation-of-accounts check",
                "FAILED: a validator is also the developer, registrant or owner: " + ", ".join(clash)
                if clash
                else "passed: no validator is the same user account as the developer, registrant or owner",
            ),
        ]
        out += [
            self.kv_table(rows),
            self.p(
                "This check compares user accounts only. It does not establish the independence SR 11-7 \u00a7V "
                "asks for (separation of incentives, competence and influence); that is the validator's "
                "statement below.",
                "small",
            ),
            Spacer(1, 6),
        ]
        return out

    def b_stage_history(self):
        hist = self.pack.get("stage_history") or []
        this = (self.pack.get("version") or {}).get("version")
        mine = [h for h in hist if h.get("version") in (None, this)]
        others = [h for h in hist if h.get("version") not in (None, this)]
        out = [self.p(f"Stage history of version {esc(this)}", "h3")]
        if mine:
            out.append(self.plain(f"{len(mine)} stage transition(s) of version {this}."))
        out += self._stage_table(mine, f"No stage transitions of version {this} are recorded.")
        if others:
            out.append(self.p("Stage history of the model's other versions (context)", "h3"))
            out.append(self.plain(f"{len(others)} stage transition(s) of other versions."))
            out += self._stage_table(others, "")
        return out

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

    def b_policy_summary(self):
        pol = self.pack.get("policy")
        if not pol:
            return [self.plain("No policy is recorded as applied to this version.")]
        out = [
            self.p("Policy applied", "h3"),
            self.kv_table(
                [
                    ("Policy", pol.get("name")),
                    ("Policy version", pol.get("version")),
                    ("Applied at", pol.get("applied_at")),
                    ("Required approvals", pol.get("required_approvals")),
                ]
            ),
            Spacer(1, 4),
        ]
        checks = pol.get("checks") or []
        if checks:
            w = self.width
            data = [self.heads("Check", "Evaluation kind", "Metric", "Comp.", "Threshold", "Blocking")]
            for c in checks:
                data.append(
                    [
                        self.cell(c.get("id")),
                        self.cell(c.get("kind")),
                        self.cell(c.get("metric")),
                        self.cell(c.get("comparator")),
                        self.cell(c.get("threshold")),
                        self.cell(c.get("blocking")),
                    ]
                )
            out += [self.table(data, [0.18 * w, 0.18 * w, 0.24 * w, 0.12 * w, 0.14 * w, 0.14 * w]), Spacer(1, 6)]
        return out

    def b_audit_summary(self, actions=None):
        events = self.pack.get("audit_events") or []
        counts = audit_counts(self.pack, actions)
        kinds = ", ".join(f"\u2018{a}\u2019" for a in actions or [])
        if not events:
            return [self.plain("No audit events are recorded.")]
        seqs = [e.get("seq") for e in events]
        intro = self.plain(
            f"{len(events)} audit event(s) in this pack, sequence {min(seqs)} to {max(seqs)}; "
            "every event is listed in the audit-trail section."
        )
        if not counts:
            return [intro, self.plain(f"No audit events of the kinds {kinds} are in this pack.")]
        head = f"Events of the kinds {kinds}" if actions else "Events by action"
        data = [self.heads("Action", "Events")] + [[k, num.count(counts[k])] for k in sorted(counts)]
        return [
            intro,
            self.p(f"{escape(head)}: {num.count(sum(counts.values()))} in total.", "small"),
            self.table(data, [0.7 * self.width, 0.3 * self.width]),
            Spacer(1, 6),
        ]

    def b_overrides_summary(self):
        """Overrides, kept apart: governance overrides (an approver signing past a failing gate, from
        the approval records) and business overrides (a person overriding a model output in use,
        which only a deployment can post)."""
        gov = gate_overrides(self.pack)
        rows = [
            (
                "Gate overrides by approvers (governance)",
                f"{len(gov)}: " + "; ".join(f"{a.get('request_id')} by {a.get('approver')}" for a in gov)
                if gov
                else "0: no approver signed past a failing gate",
            ),
            (
                "Overrides of model outputs in use (business)",
                "not held: the deployment posts no operating records to this service, so overrides of "
                "individual scores are not recorded here",
            ),
        ]
        return [self.kv_table(rows, key_width=0.36), Spacer(1, 6)]

    def b_operational_logs(self):
        """What the AI system itself records while operating (Art. 12) and what this service holds."""
        rows = [
            ("Period of each use (start, end)", "not held by this service"),
            ("Reference database checked against the input", "not held by this service"),
            ("Input data that led to a match", "not held by this service"),
            ("Persons who verified the results", "not held by this service"),
        ]
        return [
            self.p(
                "Art. 12 concerns events the AI system records automatically while it operates. This service "
                "holds none of them unless a deployment posts them; the governance events in this pack are "
                "records of the quality management system (Art. 17(1)(k)), listed in the audit-trail appendix.",
                "body",
            ),
            self.kv_table(rows, key_width=0.4),
            Spacer(1, 6),
        ]

    def b_audit_trail(self):
        events = self.pack.get("audit_events") or []
        cp = self.pack.get("checkpoint") or {}
        out = [self.p("Checkpoint", "h3")]
        if cp:
            out.append(
                self.kv_table(
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
                out.append(self.p(escape(msg), "small"))
        else:
            out.append(
                self.plain("No checkpoint is recorded; the events below are not covered by a signed checkpoint.")
            )
        if not events:
            out.append(self.plain("No audit events are recorded."))
            return out
        out.append(self.p(f"Events ({len(events)})", "h3"))
        out.append(self.p("Leaf hash: base64 of the event's leaf hash in the transparency log.", "small"))
        out += self._audit_tables(events)
        return out

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

    # appendices
    def b_model_card(self):
        card = modelcard.model_card(self.pack)
        det, par = card["model_details"], card["model_parameters"]
        out = [
            self.p("Model details", "h3"),
            self.kv_table(
                [
                    ("Name", det["name"]),
                    ("Overview", det["overview"]),
                    ("Documentation", det["documentation"]),
                    ("Owners", ", ".join(o["name"] for o in det["owners"]) or None),
                    ("Version", f"{det['version']['name']} ({det['version']['date']})"),
                    ("Changes", det["version"]["diff"]),
                    ("Licences", ", ".join(x.get("custom_text", "") for x in det["licenses"]) or None),
                    ("Path", det["path"]),
                ],
                key_width=0.22,
            ),
            self.p("Model parameters", "h3"),
            self.kv_table(
                [
                    ("Architecture", par["model_architecture"]),
                    ("Data", ", ".join(d["name"] for d in par["data"]) or None),
                    ("Input format", par["input_format"]),
                    ("Output format", par["output_format"]),
                ],
                key_width=0.22,
            ),
            self.p("Quantitative analysis (factors and metrics)", "h3"),
        ]
        metrics = card["quantitative_analysis"]["performance_metrics"]
        if metrics:
            w = self.width
            data = [["Metric", "Value", "Slice (evaluation kind : dataset : factor)"]]
            for m in metrics:
                data.append(
                    [
                        _wrap_plain(m["type"], 0.3 * w - 10, ps.FONT, 7.8),
                        num.measured(m["value"]),
                        _wrap_plain(m["slice"], 0.5 * w - 10, ps.FONT, 7.8),
                    ]
                )
            out.append(self.table(data, [0.3 * w, 0.2 * w, 0.5 * w]))
        else:
            out.append(self.plain("No evaluations are recorded; the model card has no quantitative analysis."))
        out.append(self.p("Considerations (caveats and recommendations)", "h3"))
        here = set((self.current or {}).get("narratives", ()))
        rows = []
        for field, key in modelcard.CONSIDERATION_NARRATIVES.items():
            title = field.replace("_", " ").capitalize()
            if key in here:
                rows.append(
                    [
                        self.cell(title, "cell_bold"),
                        self.p(f"See the statement \u201c{escape(narr.label(key))}\u201d below.", "cell"),
                    ]
                )
            elif narr.is_provided(self.narratives, key):
                rows.append([self.cell(title, "cell_bold"), self.cell(self.narratives[key]["text"])])
            else:
                rows.append(
                    [
                        self.cell(title, "cell_bold"),
                        self.p(
                            f"<font color='#B3261E'><b>{NOT_PROVIDED}</b></font>: {escape(narr.label(key))}", "cell"
                        ),
                    ]
                )
        out += [self.table(rows, [0.22 * self.width, 0.78 * self.width], header=False), Spacer(1, 6)]
        return out

    def b_datasheets(self):
        sheets = modelcard.datasheets(self.pack)
        if not sheets:
            return [self.plain("No datasets are recorded for this version; there are no datasheets.")]
        out = [
            self.p(
                "Composition, collection and preprocessing are filled from the data catalogue. "
                "Motivation, consent, uses, distribution terms and maintenance are written by people "
                "and follow the datasheets as statements.",
                "small",
            )
        ]
        for sh in sheets:
            comp, coll, pre = sh["composition"], sh["collection_process"], sh["preprocessing"]
            tw = coll["time_window"]
            out += [
                self.p(f"Datasheet: {esc(sh['name'])}", "h3"),
                self.kv_table(
                    [
                        ("Composition: rows", comp["rows"]),
                        ("Composition: features", comp["features"]),
                        ("Composition: label", comp["label"]),
                        ("Sensitive attributes", comp["sensitive_attributes"]),
                        ("Collection: source", coll["source"]),
                        ("Collection: location", coll["uri"]),
                        ("Collection: SHA-256", coll["sha256"]),
                        ("Collection: time window", f"{fmt(tw['start'])} to {fmt(tw['end'])}"),
                        ("Collection: selection", coll["selection"]),
                        ("Preprocessing steps", pre["steps"]),
                        ("Labelling", pre["labelling"]),
                        ("Distribution: licence", sh["distribution"]["licence"]),
                    ],
                    hash_keys=("Collection: SHA-256",),
                    key_width=0.25,
                ),
                Spacer(1, 6),
            ]
        return out


@dataclass(frozen=True)
class _ListingSpec:
    head: list
    widths: list
    fonts: list
    sizes: list
    lead: float
    pad: float
    head_h: float


class _RowListing(Flowable):
    """A long listing laid out and drawn in linear time.

    Rows are plain strings (already wrapped, with ``\\n``) with precomputed heights. ``wrap`` is
    O(1) (suffix sums); ``split`` cuts the rows that fit into a :class:`_RowChunk` plus the rest of
    the listing, sharing the row lists. Chunks are drawn with one text object each, and only from
    the second layout pass on (the first pass of ``multiBuild`` is never saved: the page counter
    is unsatisfied after it), so the listing is drawn once.
    """

    def __init__(self, spec: _ListingSpec, rows, heights, doc_state, start=0, suffix=None):
        super().__init__()
        self.spec, self.rows, self.heights, self.doc_state, self.start = spec, rows, heights, doc_state, start
        if suffix is None:
            suffix = [0.0] * (len(heights) + 1)
            for i in range(len(heights) - 1, -1, -1):
                suffix[i] = suffix[i + 1] + heights[i]
        self.suffix = suffix

    def wrap(self, aw, ah):
        self.width = sum(self.spec.widths)
        self.height = self.spec.head_h + self.suffix[self.start]
        return self.width, self.height

    def split(self, aw, ah):
        room = ah - self.spec.head_h - 0.5
        end, used = self.start, 0.0
        while end < len(self.rows) and used + self.heights[end] <= room:
            used += self.heights[end]
            end += 1
        if end == self.start:
            return []
        rest = _RowListing(self.spec, self.rows, self.heights, self.doc_state, start=end, suffix=self.suffix)
        return [_RowChunk(self, self.start, end), rest]

    def draw(self):
        _RowChunk(self, self.start, len(self.rows)).drawOn(self.canv, 0, 0)


class _RowChunk(Flowable):
    def __init__(self, listing: _RowListing, start: int, end: int):
        super().__init__()
        self.listing, self.start, self.end = listing, start, end
        spec = listing.spec
        self.width = sum(spec.widths)
        self.height = spec.head_h + listing.suffix[start] - listing.suffix[end]

    def wrap(self, aw, ah):
        return self.width, self.height

    def draw(self):
        if self.listing.doc_state.get("pass", 2) < 2:
            return  # first layout pass: geometry only, this canvas is discarded
        spec, canv = self.listing.spec, self.canv
        w, top = self.width, self.height
        canv.saveState()
        canv.setFillColor(ps.HEADER_BG)
        canv.rect(0, top - spec.head_h, w, spec.head_h, stroke=0, fill=1)
        canv.setLineWidth(0.25)
        canv.setStrokeColor(ps.RULE)
        y = top - spec.head_h
        for h in self.listing.heights[self.start : self.end]:
            y -= h
            canv.line(0, y, w, y)
        canv.setLineWidth(0.8)
        canv.setStrokeColor(ps.NAVY)
        canv.line(0, top - spec.head_h, w, top - spec.head_h)
        text = canv.beginText()
        text.setFillColor(ps.NAVY)
        text.setFont(ps.FONT_BOLD, spec.sizes[0], spec.lead)
        xs = [sum(spec.widths[:i]) + spec.pad + 1 for i in range(len(spec.widths))]
        base = top - spec.pad - spec.sizes[0]
        for x, label in zip(xs, spec.head, strict=True):
            text.setTextOrigin(x, base)
            text.textOut(label)
        text.setFillColor(ps.INK)
        y = top - spec.head_h
        current = None
        for row, h in zip(
            self.listing.rows[self.start : self.end], self.listing.heights[self.start : self.end], strict=True
        ):
            for ci, cell in enumerate(row):
                font = (spec.fonts[ci], spec.sizes[ci])
                if font != current:
                    text.setFont(font[0], font[1], spec.lead)
                    current = font
                ty = y - spec.pad - spec.sizes[0]
                for line in cell.split("\n"):
                    text.setTextOrigin(xs[ci], ty)
                    text.textOut(line)
                    ty -= spec.lead
            y -= h
        canv.drawText(text)
        canv.restoreState()


# --------------------------------------------------------------------------------------------
# Page decoration and canvas
# --------------------------------------------------------------------------------------------


def _make_canvas(date_str: str):
    class _PackCanvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: date_str)

    return _PackCanvas


def _page_decorator(pack: Mapping, outline: Mapping, content_hash: str, doc_state: dict):
    model = pack.get("model") or {}
    version = pack.get("version") or {}
    left_head = f"{fmt(model.get('name'))} \u2014 version {fmt(version.get('version'))}"
    right_head = f"Pack {fmt(pack.get('pack_id'))}"
    foot_left = f"Content SHA-256 {content_hash[:16]}\u2026"
    width, height = ps.PAGE_SIZE

    def on_page(canv, doc):
        canv.saveState()
        canv.setFont(ps.FONT, 7.5)
        canv.setFillColor(ps.GREY)
        y_head = height - ps.MARGIN_TOP + 9 * 1.0 + 4
        canv.drawString(ps.MARGIN_X, y_head, left_head)
        canv.drawRightString(width - ps.MARGIN_X, y_head, right_head)
        canv.setStrokeColor(ps.RULE)
        canv.setLineWidth(0.5)
        canv.line(ps.MARGIN_X, y_head - 4, width - ps.MARGIN_X, y_head - 4)
        y_foot = ps.MARGIN_BOTTOM - 14
        canv.line(ps.MARGIN_X, y_foot + 10, width - ps.MARGIN_X, y_foot + 10)
        total = doc_state.get("total")
        canv.drawString(ps.MARGIN_X, y_foot, foot_left)
        canv.drawCentredString(width / 2, y_foot, outline.get("short_title") or fmt(pack.get("regime")))
        canv.drawRightString(width - ps.MARGIN_X, y_foot, f"Page {doc.page} of {total if total else '?'}")
        canv.restoreState()

    return on_page


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _heading_text(section: Mapping) -> str:
    """'2.7 Validation and testing', or just the title for appendices whose title names them."""
    if section["title"].lower().startswith("appendix"):
        return section["title"]
    return f"{section['id']} {section['title']}"


def _section_label(section: Mapping) -> str:
    return f"{_heading_text(section)} \u2014 {section['citation']}"


def render_pack_pdf(pack: dict, outline: dict, out_path, *, progress: ProgressFn | None = None) -> None:
    """Render ``pack`` following ``outline`` to the PDF file ``out_path``.

    The file is written to ``out_path + ".tmp"`` and renamed into place, so a failed render never
    leaves a partial PDF. ``progress(k, n, section_title)`` is called once per section, in order, as
    the section is laid out.
    """
    ps.register_fonts()
    doc_state: dict = {}
    r = _Renderer(pack, outline, doc_state)
    s = r.s
    sections = list(outline["sections"])
    n = len(sections)
    progress_state = {"fn": progress, "last": 0}

    toc = TableOfContents(
        levelStyles=ps.toc_levels(),
        dotsMinLevel=0,
        tableStyle=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (0, 0), (-1, -1), ps.FONT),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        ),
    )
    # Pre-fill with the final entries (placeholder page numbers of the final width class) so the
    # first pass already has the final layout; the second pass writes the real numbers.
    toc._entries = [(0, _section_label(sec), 888, f"sec-{i}") for i, sec in enumerate(sections)]

    story: list = [_PageCounter(doc_state)]
    story += r.cover()
    story += [PageBreak()]
    story += r.completeness_block()
    story += [PageBreak(), Paragraph("Contents", s["toc_title"]), toc, PageBreak()]
    for i, sec in enumerate(sections):
        k = i + 1
        label = _section_label(sec)
        if i and sec.get("page_break", True):
            story.append(CondPageBreak(r.frame_height * 0.3))
        story.append(_ProgressMark(progress_state, k, n, sec["title"]))
        heading = (
            escape(sec["title"])
            if sec["title"].lower().startswith("appendix")
            else f"{escape(sec['id'])}&nbsp;&nbsp;{escape(sec['title'])}"
        )
        r.current = sec
        story.append(_SectionHeading(heading, s["h1"], toc_text=label, key=f"sec-{i}"))
        story.append(Paragraph(escape(sec["citation"]), s["citation"]))
        for block in sec.get("blocks", []):
            story += r.block(block)
        keys = sec.get("narratives", [])
        if keys:
            if sec.get("blocks"):
                story.append(Paragraph("Statements by responsible people", s["h2"]))
            for key in keys:
                story += r.narrative(key)

    model = pack.get("model") or {}
    version = pack.get("version") or {}
    as_of = pack.get("as_of") or {}
    gen = pack.get("generator") or {}
    org = pack.get("organisation") or {}
    out_path = os.fspath(out_path)
    tmp_path = out_path + ".tmp"
    doc = _PackDoc(
        tmp_path,
        doc_state=doc_state,
        pagesize=ps.PAGE_SIZE,
        leftMargin=ps.MARGIN_X,
        rightMargin=ps.MARGIN_X,
        topMargin=ps.MARGIN_TOP,
        bottomMargin=ps.MARGIN_BOTTOM,
        title=f"{outline['title']} \u2014 {fmt(model.get('name'))} {fmt(version.get('version'))}",
        author=fmt(org.get("legal_name") or org.get("name")),
        subject=f"{fmt(pack.get('regime'))} documentation pack {fmt(pack.get('pack_id'))}",
        creator=f"{fmt(gen.get('name'))} {fmt(gen.get('version'))}",
        keywords=f"pack_id={fmt(pack.get('pack_id'))} sha256={r.content_hash}",
        invariant=1,
        initialFontName=ps.FONT,
    )
    frame = Frame(
        ps.MARGIN_X,
        ps.MARGIN_BOTTOM,
        r.width,
        r.frame_height,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates(
        [PageTemplate(id="page", frames=[frame], onPage=_page_decorator(pack, outline, r.content_hash, doc_state))]
    )
    try:
        doc.multiBuild(story, canvasmaker=_make_canvas(_pdf_date(as_of.get("ts") or "2000-01-01T00:00:00Z")))
        os.replace(tmp_path, out_path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


__all__ = ["render_pack_pdf", "pack_content_hash", "canonical_pack_bytes", "derive_pack_id"]

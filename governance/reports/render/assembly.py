"""Document assembly: the page template, header and footer, the two-pass build with the table of
contents, PDF metadata (title, language, bookmarks for every section) and the atomic write."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.platypus import BaseDocTemplate, CondPageBreak, Frame, PageBreak, PageTemplate, Paragraph, TableStyle
from reportlab.platypus.tableofcontents import TableOfContents

import governance.reports.render.blocks as _blocks  # noqa: F401  (registers every block)
import governance.reports.render.registry as registry
import governance.reports.render.tagging as tagging
from governance.reports import pdfstyle as ps
from governance.reports.render.base import ProgressFn, Renderer, fmt
from governance.reports.render.flowables import _PageCounter, _ProgressMark, _SectionHeading

#: The document language written to the PDF catalogue (/Lang), for screen readers.
PACK_LANGUAGE = "en-GB"


def _pdf_date(ts: str) -> str:
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return dt.strftime("D:%Y%m%d%H%M%S+00'00'")


class _PackDoc(BaseDocTemplate):
    def __init__(self, filename, *, doc_state: dict, **kw):
        super().__init__(filename, **kw)
        self.doc_state = doc_state

    def afterFlowable(self, flowable):
        if isinstance(flowable, _SectionHeading):
            self.canv.bookmarkPage(flowable.key)
            self.canv.addOutlineEntry(flowable.toc_text, flowable.key, level=0, closed=True)
            if flowable.in_toc:
                self.notify("TOCEntry", (0, flowable.toc_text, self.page, flowable.key))

    def _endBuild(self):
        super()._endBuild()
        self.doc_state["total"] = self.page


def _make_canvas(date_str: str):
    class _PackCanvas(tagging.TaggingCanvas):
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
    width, height = ps.page_size()

    def on_page(canv, doc):
        canv.saveState()
        if isinstance(canv, tagging.TaggingCanvas):
            canv.begin_artifact()  # running header and footer: pagination, not content
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
        if isinstance(canv, tagging.TaggingCanvas):
            canv.end_tag()
        canv.restoreState()

    return on_page


def _bookmark(s, title: str, key: str):
    """A zero-text heading: a PDF bookmark for front matter (not in the table of contents)."""
    return _SectionHeading("", s["small"], toc_text=title, key=key, in_toc=False)


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
    registry.check_outline(outline)
    ps.register_fonts()
    doc_state: dict = {}
    r = Renderer(pack, outline, doc_state)
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
    story.append(_bookmark(s, "Cover and document control", "front-cover"))
    story += r.cover()
    story += [PageBreak()]
    story.append(_bookmark(s, "Completeness of narratives", "front-completeness"))
    story += r.completeness_block()
    story += [
        PageBreak(),
        _SectionHeading("Contents", s["toc_title"], toc_text="Contents", key="front-contents", in_toc=False),
        toc,
        PageBreak(),
    ]
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
                story.append(tagging.Heading("Statements by responsible people", s["h2"]))
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
        pagesize=ps.page_size(),
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
        lang=PACK_LANGUAGE,
        displayDocTitle=1,
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

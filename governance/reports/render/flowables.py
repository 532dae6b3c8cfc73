"""reportlab flowables and text helpers of the packs: fast plain-text wrapping that never breaks a
number, the section heading that registers a bookmark, the progress mark, the page counter and the
linear-time row listing used for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, Paragraph

import governance.reports.render.tagging as tagging
from governance.reports import pdfstyle as ps

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


class _SectionHeading(Paragraph):
    """A heading that registers a PDF bookmark (outline entry) and, for sections, a TOC entry."""

    def __init__(self, text, style, *, toc_text: str, key: str, in_toc: bool = True):
        super().__init__(text, style)
        self.toc_text = toc_text
        self.key = key
        self.in_toc = in_toc

    def draw(self):
        tagging.draw_tagged(self, "H1", super().draw)  # zero-text bookmarks draw nothing and are not tagged


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

"""Tagged headings: a PDF structure tree (ISO 32000-1 §14.7-14.8) for the pack's headings.

reportlab writes no structure tree of its own, so the pack's canvas does the part it can do
exactly: every heading is drawn inside a marked-content sequence (``/H1 <</MCID n>> BDC ... EMC``)
and becomes a structure element (``/StructElem`` with ``/S /H1``, ``/H2`` or ``/H3``, its page, its
MCID and its text as ``/T``) under one ``/Document`` element of the catalogue's
``/StructTreeRoot``, with the ``/ParentTree`` that maps each page's marked content back to its
elements; pages carry ``/StructParents``. The running header and footer are marked as pagination
artifacts. Body text, tables and charts are not tagged (reportlab cannot say what they are), so the
catalogue's ``/MarkInfo`` states ``/Marked true`` for the headings only; screen readers get the
heading hierarchy, the bookmarks and the language.

Everything is derived from the layout (no ids, no clock), so the same pack still renders to the
same bytes.
"""

from __future__ import annotations

from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFObject, PDFPage, PDFString
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Paragraph

HEADING_TAGS = {"h1": "H1", "toc_title": "H1", "cover_title": "H1", "h2": "H2", "h3": "H3"}


class _PDFTrue(PDFObject):
    def format(self, document):
        return b"true"


class TaggingCanvas(rl_canvas.Canvas):
    """A canvas that records the headings' marked content per page and writes the structure tree
    when the document is saved."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._page_tags: list[tuple[int, str, str]] = []  # (mcid, tag, text) on the current page
        self._tagged_pages: list[tuple[PDFPage, list[tuple[int, str, str]]]] = []

    def begin_tag(self, tag: str, text: str) -> None:
        mcid = len(self._page_tags)
        self._code.append(f"/{tag} <</MCID {mcid}>> BDC")
        self._page_tags.append((mcid, tag, text))

    def end_tag(self) -> None:
        self._code.append("EMC")

    def begin_artifact(self) -> None:
        self._code.append("/Artifact <</Type /Pagination>> BDC")

    def showPage(self):
        tags, self._page_tags = self._page_tags, []
        super().showPage()
        if tags:
            page = self._doc.Pages.pages[-1]
            page.StructParents = len(self._tagged_pages)
            # PDFPage writes only the keys it lists; add /StructParents to this page's list
            page.__NoDefault__ = [*PDFPage.__NoDefault__, "StructParents"]
            self._tagged_pages.append((page, tags))

    def save(self):
        self._write_structure_tree()
        super().save()

    def _write_structure_tree(self) -> None:
        if not self._tagged_pages:
            return
        doc = self._doc
        root = PDFDictionary({"Type": PDFName("StructTreeRoot")})
        root_ref = doc.Reference(root)
        document = PDFDictionary({"Type": PDFName("StructElem"), "S": PDFName("Document"), "P": root_ref})
        document_ref = doc.Reference(document)
        kids, nums = [], []
        for key, (page, tags) in enumerate(self._tagged_pages):
            page_ref = doc.Reference(page)
            on_page = []
            for mcid, tag, text in tags:
                element = PDFDictionary(
                    {
                        "Type": PDFName("StructElem"),
                        "S": PDFName(tag),
                        "P": document_ref,
                        "Pg": page_ref,
                        "K": mcid,
                        "T": PDFString(text),
                    }
                )
                ref = doc.Reference(element)
                kids.append(ref)
                on_page.append(ref)
            nums += [key, PDFArray(on_page)]
        document.dict["K"] = PDFArray(kids)
        root.dict["K"] = PDFArray([document_ref])
        root.dict["ParentTree"] = doc.Reference(PDFDictionary({"Nums": PDFArray(nums)}))
        root.dict["ParentTreeNextKey"] = len(self._tagged_pages)
        doc.Catalog.StructTreeRoot = root_ref
        doc.Catalog.MarkInfo = PDFDictionary({"Marked": _PDFTrue()})


def draw_tagged(flowable: Paragraph, tag: str, draw) -> None:
    """Run ``draw()`` inside a marked-content sequence tagged ``tag`` (when the canvas records tags)."""
    canv = flowable.canv
    text = " ".join(flowable.getPlainText().split())
    if not isinstance(canv, TaggingCanvas) or not text:
        draw()
        return
    canv.begin_tag(tag, text)
    try:
        draw()
    finally:
        canv.end_tag()


class Heading(Paragraph):
    """A paragraph drawn as a tagged heading; the tag follows its style (h2 -> H2, h3 -> H3)."""

    def draw(self):
        tag = HEADING_TAGS.get(self.style.name, "H3")
        draw_tagged(self, tag, super().draw)

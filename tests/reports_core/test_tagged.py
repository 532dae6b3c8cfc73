"""Tagged headings (issue 13, "accessible PDF"), read back from the PDF with pdfplumber and pypdf,
not taken from the renderer: the catalogue has a structure tree whose Document element holds one
H1 per section (in the outline's order) with H2/H3 under way, each element's marked content on its
page spells exactly its text, the running header and footer are artifacts, and the document still
declares its language, title and bookmarks."""

from __future__ import annotations

import re
from collections import defaultdict

import pdfplumber
from pypdf import PdfReader


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


def _heading(section) -> str:
    if section["title"].lower().startswith("appendix"):
        return section["title"]
    return f"{section['id']} {section['title']}"


def _structure(path):
    """(tag, page, mcid, /T text, marked text) of every element under the Document element."""
    out = []
    with pdfplumber.open(path) as pdf:
        tree = pdf.structure_tree
        assert [e["type"] for e in tree] == ["Document"]
        marked: dict[tuple[int, int], list[str]] = defaultdict(list)
        tags: dict[tuple[int, int], set] = defaultdict(set)
        for page in pdf.pages:
            for ch in page.chars:
                if ch.get("mcid") is not None:
                    marked[(page.page_number, ch["mcid"])].append(ch["text"])
                    tags[(page.page_number, ch["mcid"])].add(ch.get("tag"))
        for element in tree[0]["children"]:
            [mcid] = element["mcids"]
            key = (element["page_number"], mcid)
            assert tags[key] == {element["type"]}, (element, tags[key])
            out.append((element["type"], element["page_number"], mcid, element.get("title"), "".join(marked[key])))
    return out


def test_headings_form_a_structure_tree_in_reading_order(full):
    elements = _structure(full.path)
    h1 = [_norm(title) for tag, _page, _mcid, title, _text in elements if tag == "H1"]
    sections = [_heading(s) for s in full.outline["sections"]]
    assert h1[0] == _norm(full.outline["title"]) and h1[1] == "Contents"
    assert h1[2:] == [_norm(x) for x in sections]
    assert {"H2", "H3"} <= {tag for tag, *_ in elements}
    pages = [page for _tag, page, *_ in elements]
    assert pages == sorted(pages)  # reading order


def test_each_tagged_heading_spells_its_text_on_its_page(full):
    """The characters inside each marked-content sequence are the heading's text (spaces aside)."""
    for tag, page, mcid, title, text in _structure(full.path):
        assert text.replace(" ", "") == _norm(title).replace(" ", ""), (tag, page, mcid, title, text)


def test_page_furniture_is_an_artifact_and_the_catalogue_is_marked(full):
    with pdfplumber.open(full.path) as pdf:
        first = pdf.pages[3]
        footer = [c for c in first.chars if c["top"] > float(first.height) - 60]
        assert footer and all(c.get("tag") == "Artifact" for c in footer)
    reader = PdfReader(full.path)
    root = reader.trailer["/Root"]
    assert root["/MarkInfo"]["/Marked"].value is True
    assert root["/Lang"] == "en-GB"
    assert root["/StructTreeRoot"]["/ParentTreeNextKey"] > 0
    tagged_pages = [p for p in reader.pages if "/StructParents" in p]
    assert len(tagged_pages) == root["/StructTreeRoot"]["/ParentTreeNextKey"]
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert len(titles) >= len(full.outline["sections"])

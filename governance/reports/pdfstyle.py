"""Fonts, colours and paragraph styles of the documentation packs.

Fonts: every piece of text uses the Bitstream Vera TrueType fonts shipped inside reportlab
(``reportlab/fonts/Vera*.ttf``), registered as ``Vera``, ``Vera-Bold``, ``Vera-Italic`` and
``Vera-BoldItalic``, so the PDF embeds (subsets of) them and renders the same everywhere.

Hash font: reportlab ships no monospaced TrueType font (its Courier is a non-embedded base-14
font) and no installed Python package carries one. Rather than depend on a system font that a
deployment image may lack (which would also change the PDF bytes between machines), hashes are
set in Vera at a smaller size (:data:`HASH_FONT`, :data:`HASH_SIZE`), in their own style, and wrapped
at any character. Swap :data:`HASH_FONT` here if a monospaced TTF is ever vendored.
"""

from __future__ import annotations

import os

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT = "Vera"
FONT_BOLD = "Vera-Bold"
FONT_ITALIC = "Vera-Italic"
FONT_BOLD_ITALIC = "Vera-BoldItalic"
HASH_FONT = "Vera"
HASH_SIZE = 7

PAGE_SIZE = A4  # the default; the setting PACK_PAGE_SIZE (A4 or Letter) chooses per installation
PAGE_SIZES = {"A4": A4, "Letter": LETTER}


def page_size() -> tuple[float, float]:
    """The paper size of the packs, from the setting ``PACK_PAGE_SIZE`` (default A4)."""
    try:
        from django.conf import settings

        return PAGE_SIZES[getattr(settings, "PACK_PAGE_SIZE", "A4")]
    except ImportError:  # pragma: no cover - the renderer outside Django
        return PAGE_SIZE


MARGIN_X = 18 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 20 * mm

# Palette: sober navy/grey, with semantic colours for results.
NAVY = colors.HexColor("#1F3A5F")
INK = colors.HexColor("#1A1A1A")
GREY = colors.HexColor("#5F6B7A")
RULE = colors.HexColor("#B8C2CC")
HEADER_BG = colors.HexColor("#E6ECF2")
ZEBRA = colors.HexColor("#F6F8FA")
PASS_BG = colors.HexColor("#DCEFDC")
PASS_FG = colors.HexColor("#1E6B2A")
FAIL_BG = colors.HexColor("#F8D7D5")
FAIL_FG = colors.HexColor("#A4231B")
WARN_BG = colors.HexColor("#FFF1D6")
WARN_BORDER = colors.HexColor("#C98A00")
MISSING_BG = colors.HexColor("#FDECEC")
MISSING_BORDER = colors.HexColor("#B3261E")
NOTE_BG = colors.HexColor("#EEF3F8")
CHART_BAR = colors.HexColor("#4A78A8")
CHART_BAD = colors.HexColor("#C0504D")
CHART_LINE = colors.HexColor("#B3261E")

_registered = False


def register_fonts() -> None:
    """Register the Vera TTF family once per process."""
    global _registered
    if _registered:
        return
    font_dir = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    for name, filename in (
        (FONT, "Vera.ttf"),
        (FONT_BOLD, "VeraBd.ttf"),
        (FONT_ITALIC, "VeraIt.ttf"),
        (FONT_BOLD_ITALIC, "VeraBI.ttf"),
    ):
        pdfmetrics.registerFont(TTFont(name, os.path.join(font_dir, filename)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD_ITALIC)
    _registered = True


def styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles, by name."""
    register_fonts()
    base = ParagraphStyle(
        "body", fontName=FONT, fontSize=9.2, leading=12.6, textColor=INK, spaceAfter=5, alignment=TA_LEFT
    )
    s = {"body": base}

    def add(name, **kw):
        s[name] = ParagraphStyle(name, parent=kw.pop("parent", base), **kw)

    add("h1", fontName=FONT_BOLD, fontSize=14, leading=18, textColor=NAVY, spaceBefore=18, spaceAfter=2, keepWithNext=1)
    add("citation", fontName=FONT_ITALIC, fontSize=8.5, leading=11, textColor=GREY, spaceAfter=8, keepWithNext=1)
    add(
        "h2", fontName=FONT_BOLD, fontSize=10.5, leading=14, textColor=NAVY, spaceBefore=8, spaceAfter=4, keepWithNext=1
    )
    add("h3", fontName=FONT_BOLD, fontSize=9.2, leading=12, textColor=INK, spaceBefore=6, spaceAfter=2, keepWithNext=1)
    add("small", fontSize=8, leading=10.5, textColor=GREY)
    add("attribution", fontName=FONT_ITALIC, fontSize=7.8, leading=10, textColor=GREY, spaceAfter=8)
    add("cell", fontSize=7.8, leading=9.8, spaceAfter=0)
    add("cell_bold", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0)
    add("cell_head", fontName=FONT_BOLD, fontSize=7.8, leading=9.8, spaceAfter=0, textColor=NAVY)
    add(
        "hash",
        fontName=HASH_FONT,
        fontSize=HASH_SIZE,
        leading=HASH_SIZE + 2.2,
        spaceAfter=0,
        splitLongWords=1,
        wordWrap="CJK",
    )
    add("cover_title", fontName=FONT_BOLD, fontSize=22, leading=27, textColor=NAVY, spaceAfter=6)
    add("cover_sub", fontName=FONT, fontSize=12.5, leading=16, textColor=GREY, spaceAfter=14)
    add("missing", fontName=FONT_BOLD, fontSize=8.6, leading=11, textColor=MISSING_BORDER, spaceAfter=0)
    add("missing_help", fontSize=7.8, leading=10, textColor=GREY, spaceAfter=0)
    add("note", fontSize=8.2, leading=11, textColor=INK, spaceAfter=0)
    add("toc_title", fontName=FONT_BOLD, fontSize=14, leading=18, textColor=NAVY, spaceAfter=10)
    add("center_small", fontSize=8, leading=10, textColor=GREY, alignment=TA_CENTER)
    return s


def toc_levels() -> list[ParagraphStyle]:
    """Contents entries; the right indent keeps a wrapped entry's last line clear of the page number
    (reportlab draws it after the text, so a line that reaches the margin pushed it past)."""
    register_fonts()
    return [
        ParagraphStyle(
            "toc0",
            fontName=FONT,
            fontSize=9.5,
            leading=13.5,
            leftIndent=14,
            firstLineIndent=-14,
            rightIndent=28,
            textColor=INK,
        ),
        ParagraphStyle(
            "toc1",
            fontName=FONT,
            fontSize=9,
            leading=12.5,
            leftIndent=32,
            firstLineIndent=-14,
            rightIndent=28,
            textColor=INK,
        ),
    ]

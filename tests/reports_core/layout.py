"""Read a rendered pack back with pdfplumber and list every layout defect an examiner would see.

- a word outside the page margins;
- two words that overlap (overprinted text);
- a word inside a table (the grid the renderer draws) that crosses its cell's border;
- a number with more significant digits than the configured rule allows (where asked).
"""

from __future__ import annotations

import re

import pdfplumber

from governance.reports import pdfstyle as ps

TOL = 0.6
GRID_COLOURS = {
    tuple(round(c, 3) for c in (ps.RULE.red, ps.RULE.green, ps.RULE.blue)),
    tuple(round(c, 3) for c in (ps.NAVY.red, ps.NAVY.green, ps.NAVY.blue)),
}


def _rgb(colour):
    if not isinstance(colour, list | tuple) or len(colour) != 3:
        return None
    return tuple(round(float(c), 3) for c in colour)


DECIMAL = re.compile(r"^[-\u2212]?\d+\.\d+$")


def _overlap(a, b) -> float:
    w = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
    h = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return w * h if w > TOL and h > TOL else 0.0


def significant_digits(token: str) -> int:
    digits = token.lstrip("-\u2212").replace(".", "").lstrip("0")
    return len(digits)


def _grid_settings(page) -> dict | None:
    # the renderer draws table grids in the rule colour (and the header rule in navy); charts use
    # other colours, so their bars and axes are not mistaken for table cells
    grid = [e for e in page.edges if e["object_type"] == "line" and _rgb(e.get("stroking_color")) in GRID_COLOURS]
    settings = {
        "vertical_strategy": "explicit",
        "horizontal_strategy": "explicit",
        "explicit_vertical_lines": [e for e in grid if e["orientation"] == "v"],
        "explicit_horizontal_lines": [e for e in grid if e["orientation"] == "h"],
    }
    enough = len(settings["explicit_vertical_lines"]) >= 2 and len(settings["explicit_horizontal_lines"]) >= 2
    return settings if enough else None


def grid_tables(page) -> list:
    settings = _grid_settings(page)
    return page.find_tables(settings) if settings else []


def _join(cell) -> str:
    """A wrapped cell on one line: lines broken after '_' or '-' (inside a name) join directly."""
    out = ""
    for line in (cell or "").split("\n"):
        line = " ".join(line.split())
        out += line if not out or out.endswith(("_", "-")) else " " + line
    return out


def table_rows(path) -> list[list[str]]:
    """Every row of every gridded table, each cell's text on one line."""
    rows = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            for table in grid_tables(page):
                for row in table.extract():
                    rows.append([_join(c) for c in row])
    return rows


def page_problems(page, *, max_digits: int | None = None) -> list[str]:
    problems = []
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False, extra_attrs=["size"])
    width = float(page.width)
    n = page.page_number
    for w in words:
        if w["x0"] < ps.MARGIN_X - TOL or w["x1"] > width - ps.MARGIN_X + TOL:
            problems.append(f"page {n}: {w['text']!r} crosses the margin (x {w['x0']:.1f}-{w['x1']:.1f})")
    ordered = sorted(words, key=lambda w: (w["top"], w["x0"]))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b["top"] > a["bottom"]:
                break
            if _overlap(a, b):
                problems.append(f"page {n}: {a['text']!r} overlaps {b['text']!r}")
    for table in grid_tables(page):
        cells = [c for c in table.cells if c]
        for w in words:
            cx, cy = (w["x0"] + w["x1"]) / 2, (w["top"] + w["bottom"]) / 2
            home = [c for c in cells if c[0] <= cx <= c[2] and c[1] <= cy <= c[3]]
            if not home:
                continue
            x0, top, x1, bottom = min(home, key=lambda c: (c[2] - c[0]) * (c[3] - c[1]))
            if w["x0"] < x0 - TOL or w["x1"] > x1 + TOL or w["top"] < top - TOL or w["bottom"] > bottom + TOL:
                problems.append(f"page {n}: {w['text']!r} crosses its table cell border")
    if max_digits is not None:
        for w in words:
            token = w["text"].strip("(),;:")
            if DECIMAL.match(token) and significant_digits(token) > max_digits:
                problems.append(f"page {n}: {token} has more than {max_digits} significant digits")
    return problems


def problems(path, *, max_digits: int | None = None, pages=None) -> list[str]:
    out = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            if pages is None or page.page_number in pages:
                out += page_problems(page, max_digits=max_digits)
    return out

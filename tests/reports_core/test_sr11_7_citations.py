"""Every SR 11-7 reference the packs print, checked against the 2011 letter (issue 14).

The letter's section numbers, section titles and sub-headings, and the passages the packs point at,
are transcribed in ``governance/reports/sources/sr11_7_2011.json``. This test lists every SR 11-7
reference in the outlines, the narrative catalogue, the block catalogue and the renderer's own text, and
checks each one: the section exists, and each label in brackets is either one of that section's printed
headings, a heading followed by ``: <topic>`` transcribed under it, or a topic transcribed for the section.
A quotation attributed to SR 11-7 must be a transcribed passage, word for word, and the passage must be marked
confirmed: checked against the copy of the letter named in the transcription's ``source``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from governance.reports import narratives
from governance.reports.outlines import BLOCKS, available_regimes, load_outline

ROOT = Path(__file__).resolve().parents[2]
LETTER = json.loads((ROOT / "governance/reports/sources/sr11_7_2011.json").read_text())
SECTIONS = LETTER["sections"]
CONFIRMED = "confirmed"
UNVERIFIED = "unverified: cited by section only"
# Only topics checked word for word against the source copy of the letter may be cited by label or quoted;
# an unverified one is cited by its section alone.
TOPICS = {(t["section"], t["heading"], t["label"]) for t in LETTER["topics"] if t["checked"] == CONFIRMED}
PASSAGES = [t["passage"] for t in LETTER["topics"] if "passage" in t and t["checked"] == CONFIRMED]
MARK = "SR 11-7 \u00a7"
QUOTE = re.compile(r"[\"\u201c]([^\"\u201d]{12,})[\"\u201d]")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _texts() -> list[tuple[str, str]]:
    """(where, text) of every piece of pack text that mentions SR 11-7 with a section sign."""
    found = []
    for regime in available_regimes():
        outline = load_outline(regime)
        for section in outline["sections"]:
            for text in _strings(section):
                found.append((f"{regime} section {section['id']}", text))
        for key in ("title", "regulatory_text", "cover_statement"):
            found.append((f"{regime} {key}", outline.get(key, "")))
    for entry in narratives.CATALOGUE:
        found += [(f"narrative {entry.key}", entry.label), (f"narrative {entry.key}", entry.help)]
    found += [(f"block {name}", text) for name, text in BLOCKS.items()]
    for path in sorted((ROOT / "governance/reports").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return [(where, text) for where, text in found if MARK in text]


TEXTS = _texts()


def _quoting_texts() -> list[tuple[str, str]]:
    """(where, text) of every piece of pack text that could quote the letter: all of the SR 11-7 outline and
    anything else the packs print that names SR 11-7, with or without a section sign."""
    found = [(f"sr11-7 outline {i}", text) for i, text in enumerate(_strings(load_outline("sr11-7")))]
    for regime in available_regimes():
        found += [(f"{regime} outline", text) for text in _strings(load_outline(regime)) if "SR 11-7" in text]
    for entry in narratives.CATALOGUE:
        found += [(f"narrative {entry.key}", text) for text in (entry.label, entry.help) if "SR 11-7" in text]
    found += [(f"block {name}", text) for name, text in BLOCKS.items() if "SR 11-7" in text]
    for path in sorted((ROOT / "governance/reports").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "SR 11-7" in node.value:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return found


QUOTING_TEXTS = _quoting_texts()


def _balanced(text: str, i: int) -> tuple[str, int]:
    """The content of the bracket opening at ``text[i]``, and the index after its closing bracket."""
    depth = 0
    for j in range(i, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j], j + 1
    raise AssertionError(f"unbalanced bracket in {text!r}")


def _split_top(content: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for j, ch in enumerate(content):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and content.startswith("; ", j):
            parts.append(content[start:j])
            start = j + 2
    return [*parts, content[start:]]


def references(text: str) -> list[tuple[str, str | None]]:
    """Every (section, label) an SR 11-7 reference in ``text`` cites; label None for a bare section."""
    refs = []
    for match in re.finditer(re.escape(MARK), text):
        i = match.end() - 1
        while True:
            number = re.match(r"\u00a7([IVX]+)\b", text[i:])
            assert number, f"no section number after the section sign in {text!r}"
            i += number.end()
            if text.startswith(" (", i):
                content, i = _balanced(text, i + 1)
                refs += [(number.group(1), label) for label in _split_top(content)]
            else:
                refs.append((number.group(1), None))
            nxt = re.match(r"(;|,) \u00a7", text[i:])
            if not nxt:
                break
            i += nxt.end() - 1
    return refs


def label_problem(section: str, label: str | None) -> str | None:
    if section not in SECTIONS:
        return f"SR 11-7 has no section {section} (sections {', '.join(SECTIONS)})"
    if label is None:
        return None
    headings = SECTIONS[section]["headings"]
    if label in headings or (section, None, label) in TOPICS:
        return None
    head, _sep, topic = label.partition(": ")
    if head in headings and (section, head, topic) in TOPICS:
        return None
    return f"\u00a7{section} has no heading or transcribed topic {label!r} (headings: {headings})"


def test_every_sr11_7_reference_is_listed():
    """The list the other tests check: every outline citation of the SR 11-7 pack is in it."""
    where = {w for w, _t in TEXTS}
    sr = load_outline("sr11-7")
    for section in sr["sections"]:
        if MARK in section["citation"]:
            assert f"sr11-7 section {section['id']}" in where
    assert len(TEXTS) >= 30


@pytest.mark.parametrize(("where", "text"), TEXTS, ids=[w for w, _t in TEXTS])
def test_reference_matches_the_2011_letter(where, text):
    refs = references(text)
    assert refs, text
    problems = [p for p in (label_problem(s, label) for s, label in refs) if p]
    assert problems == [], f"{where}: {text!r}"


def quotation_problems(text: str) -> list[str]:
    """Quotations in ``text`` that are not part of a passage confirmed against the letter's text."""
    return [quote for quote in QUOTE.findall(text) if not any(quote in passage for passage in PASSAGES)]


@pytest.mark.parametrize(("where", "text"), TEXTS, ids=[w for w, _t in TEXTS])
def test_quotations_attributed_to_sr11_7_are_word_for_word(where, text):
    assert quotation_problems(text) == [], f"{where}: not a confirmed passage of the letter"


def test_every_quotation_the_packs_print_is_a_confirmed_passage():
    """Wider than the test above: any text of the SR 11-7 outline, and any pack text naming SR 11-7 even
    without a section sign, may quote only passages marked confirmed."""
    assert len(QUOTING_TEXTS) >= len(TEXTS)
    problems = [(where, q) for where, text in QUOTING_TEXTS for q in quotation_problems(text)]
    assert problems == []


def test_every_passage_is_checked_against_a_named_copy_of_the_letter():
    source = LETTER["source"]
    assert source["repository"] and source["path"]
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    for topic in LETTER["topics"]:
        assert topic["checked"] in (CONFIRMED, UNVERIFIED), topic["label"]
        assert ("passage" in topic) != ("basis" in topic), topic["label"]
        assert topic["located"].startswith(f"\u00a7{topic['section']}"), topic["label"]
        heading = topic["heading"]
        assert heading is None or heading in SECTIONS[topic["section"]]["headings"], topic["label"]
        if topic["checked"] == UNVERIFIED:
            assert "passage" not in topic or topic["passage"] not in PASSAGES


def test_section_iv_has_the_letters_two_headings():
    assert SECTIONS["IV"]["headings"] == ["Model Development and Implementation", "Model Use"]
    assert [s for s, v in SECTIONS.items() if v["headings"]] == ["IV", "V", "VI"]


def test_section_titles_in_the_citation_table_are_the_letters():
    rows = [
        line.split(" | ")[3]
        for line in (ROOT / "docs" / "pack-schema.md").read_text().splitlines()
        if line.startswith("| sr11-7 |")
    ]
    titles = [t for row in rows for t in re.findall(r"SR 11-7 \u00a7([IVX]+) ([A-Z][A-Za-z ,]+?)(?=;|$)", row)]
    assert titles
    for number, title in titles:
        assert SECTIONS[number]["title"] == title.strip(), (number, title)


def test_the_checker_refuses_what_the_letter_does_not_have():
    # The wording transcribed from memory before the letter was read: not the letter's.
    recalled = (
        'SR 11-7 \u00a7IV: "evaluated to show the model is performing as intended; to demonstrate that it is '
        'accurate, robust, and stable"'
    )
    assert quotation_problems(recalled)
    assert not quotation_problems(
        'SR 11-7 \u00a7IV: "evaluated to determine whether the model is performing as intended"'
    )
    assert label_problem("VIII", None)
    assert label_problem("V", "element 2: process verification")
    assert label_problem("VI", "Internal Audit: event log")
    assert label_problem("V", "Documentation")  # a heading of VI, not of V
    assert label_problem("VI", "Documentation: validation reports, adjustments and compensating controls") is None
    assert references("SR 11-7 \u00a7V (2. Ongoing Monitoring: benchmarking); \u00a7III (effective challenge)") == [
        ("V", "2. Ongoing Monitoring: benchmarking"),
        ("III", "effective challenge"),
    ]

"""PRA SS1/23 references carry the principle's or sub-principle's number and its title as the
supervisory statement prints it (issue 14), transcribed in governance/reports/sources/pra_ss1_23.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from governance.reports.outlines import load_outline

ROOT = Path(__file__).resolve().parents[2]
SS = json.loads((ROOT / "governance/reports/sources/pra_ss1_23.json").read_text())["principles"]
TITLES = {number: p["title"] for number, p in SS.items()}
for _p in SS.values():
    TITLES.update(_p["sub"])
OUTLINE = load_outline("pra-ss1-23")
REF = re.compile(r"Principle (\d(?:\.\d)?)(?: \(([^()]*)\))?")


def test_the_statement_has_five_principles_and_their_sub_principles():
    assert [p["title"] for p in SS.values()] == [
        "Model identification and model risk classification",
        "Governance",
        "Model development, implementation and use",
        "Independent model validation",
        "Model risk mitigants",
    ]
    assert sum(len(p["sub"]) for p in SS.values()) == 23


CITING = [s for s in OUTLINE["sections"] if "SS1/23" in s["citation"]]


@pytest.mark.parametrize("section", CITING, ids=[s["id"] for s in CITING])
def test_each_reference_names_the_principle_by_its_title(section):
    citation = section["citation"]
    refs = REF.findall(citation)
    assert refs, citation
    for number, title in refs:
        assert number in TITLES, f"SS1/23 has no principle {number}"
        assert title == TITLES[number], f"{section['id']}: Principle {number} is titled {TITLES[number]!r}"


def test_the_cover_no_longer_says_the_titles_are_paraphrased():
    assert "paraphrased" not in OUTLINE["cover_statement"]


def test_every_principle_is_covered_by_a_section():
    cited = {number for s in OUTLINE["sections"] for number, _t in REF.findall(s["citation"])}
    for number, principle in SS.items():
        assert number in cited or set(principle["sub"]) & cited, number

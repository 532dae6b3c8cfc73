"""Outlines and the narrative catalogue are consistent data."""

from __future__ import annotations

import pytest

from governance.reports import narratives
from governance.reports.outlines import BLOCKS, available_regimes, block_type, load_outline, validate_outline


@pytest.mark.parametrize("regime", available_regimes())
def test_outline_is_valid(regime):
    outline = load_outline(regime)
    assert validate_outline(outline) == []
    assert outline["regime"] == regime
    assert outline["outline_version"] == {"eu-ai-act": "2", "sr11-7": "2", "pra-ss1-23": "2"}[regime]
    if outline["outline_version"] != "1":  # the earlier version is kept, so packs made with it re-render
        earlier = load_outline(regime, "1")
        assert earlier["outline_version"] == "1" and validate_outline(earlier) == []
    assert all(s["citation"] for s in outline["sections"])


def test_outlines_cover_reference_part3():
    sr = [s["id"] for s in load_outline("sr11-7")["sections"]]
    assert sr == [
        "1",
        "2",
        "3",
        "3.1",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "9.1",
        "9.2",
        "9.2.1",
        "9.2.2",
        "9.3",
        "9.4",
        "9.5",
        "10",
        "11",
        "11.1",
        "11.2",
        "12",
        "13",
        "14",
        "15",
        "F",
        "A",
        "B",
        "C",
    ]
    eu = [s["id"] for s in load_outline("eu-ai-act")["sections"]]
    for sid in [
        "A",
        "1",
        "2.1",
        "2.2",
        "2.3",
        "2.4",
        "2.5",
        "2.6",
        "2.7",
        "2.8",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "L",
        "H",
        "R",
        "Q",
        "I",
        "C",
        "G",
        "T",
        "X",
    ]:
        assert sid in eu
    # both packs carry the model card, datasheets and audit trail appendices
    for regime in available_regimes():
        blocks = {block_type(b) for s in load_outline(regime)["sections"] for b in s["blocks"]}
        assert {
            "model_card",
            "datasheets",
            "audit_trail",
            "approval_chain",
            "fairness_chart",
            "drift_chart",
            "lineage_table",
            "evaluations_table",
        } <= blocks
        assert blocks <= set(BLOCKS)


def test_unknown_outline_version_is_refused():
    with pytest.raises(KeyError):
        load_outline("sr11-7", "99")
    with pytest.raises(KeyError):
        load_outline("nist-ai-rmf")


def test_validate_outline_reports_problems():
    outline = load_outline("sr11-7")
    outline["sections"][0]["blocks"].append("no_such_block")
    outline["sections"][1]["narratives"].append("no_such_narrative")
    problems = validate_outline(outline)
    assert any("no_such_block" in p for p in problems)
    assert any("no_such_narrative" in p for p in problems)


def test_catalogue_entries_are_well_formed_and_used():
    keys = [n.key for n in narratives.CATALOGUE]
    assert len(keys) == len(set(keys))
    used = set()
    for regime in available_regimes():
        outline = load_outline(regime)
        for section in outline["sections"]:
            used.update(section["narratives"])
    for n in narratives.CATALOGUE:
        assert n.scope in narratives.SCOPES
        assert n.role in narratives.ROLES
        assert n.label and n.help
        assert n.regimes
    # every catalogue entry is printed by at least one outline section
    assert set(keys) - used == set()
    assert narratives.sections_using(load_outline("eu-ai-act"), "test_report_signoff") == ["2.7"]


def test_completeness_counts():
    outline = load_outline("sr11-7")
    pack = {
        "narratives": {
            "executive_synopsis": {"text": "x", "author": "a", "updated_at": "t"},
            "major_limitations": {"text": "   ", "author": "a", "updated_at": "t"},
        }
    }
    rows = {r["id"]: r for r in narratives.completeness(pack, outline)}
    assert rows["1"]["provided"] == ["executive_synopsis"]
    assert rows["1"]["missing"] == ["major_limitations", "key_assumptions"]

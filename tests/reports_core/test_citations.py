"""Every citation in every outline is listed in docs/pack-schema.md, so a reviewer can check them
in one place; and every outline is valid (known blocks and narrative keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.reports.outlines import available_regimes, load_outline, validate_outline

DOC = (Path(__file__).resolve().parents[2] / "docs" / "pack-schema.md").read_text()


@pytest.mark.parametrize("regime", available_regimes())
def test_every_citation_is_listed_in_the_schema_doc(regime):
    outline = load_outline(regime)
    assert validate_outline(outline) == []
    rows = {}
    for line in DOC.splitlines():
        cells = line.split(" | ")
        if line.startswith(f"| {regime} | ") and len(cells) == 4:
            rows.setdefault((cells[1], cells[2]), []).append(cells[3].rstrip(" |").strip())
    for section in outline["sections"]:
        assert f"| {regime} | {section['id']} | {section['citation']} |" in DOC, (regime, section["id"])
        # ... with the provision's title
        assert all(rows[(section["id"], section["citation"])]), (regime, section["id"])
    for rule in outline.get("annex_iii_points", []):
        assert f"| {regime} | classification rule | {rule['citation']} |" in DOC
        assert all(rows[("classification rule", rule["citation"])])
    for route in (outline.get("conformity") or {}).get("routes", []):
        assert f"| {regime} | conformity rule | {route['citation']} |" in DOC
        assert all(rows[("conformity rule", route["citation"])])


def test_an_outline_with_an_unknown_block_is_refused_when_loaded(tmp_path, monkeypatch):
    import json

    from governance.reports import outlines

    bad = json.loads((Path(outlines.__file__).parent / "sr11_7.json").read_text())
    bad["sections"][0]["blocks"].append("b_typo")
    path = tmp_path / "sr11_7.json"
    path.write_text(json.dumps(bad))
    monkeypatch.setattr(outlines, "_DIR", tmp_path)
    with pytest.raises(ValueError, match="unknown block 'b_typo'"):
        outlines.load_outline("sr11-7")

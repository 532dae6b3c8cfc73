"""Render both outlines and read the PDF back with pypdf."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import pytest
import reports_pack_factory as factory
from conftest import norm, render
from pypdf import PdfReader

from governance.reports import narratives
from governance.reports.identity import canonical_pack_bytes, derive_pack_id, pack_content_hash
from governance.reports.outlines import load_outline
from governance.reports.render import NOT_PROVIDED, render_pack_pdf


def _heading(section) -> str:
    if section["title"].lower().startswith("appendix"):
        return section["title"]
    return f"{section['id']} {section['title']}"


def test_every_section_heading_and_citation_appears(full):
    for section in full.outline["sections"]:
        assert _heading(section) in full.text, section["id"]
        assert norm(section["citation"]) in full.text, section["citation"]
        # the TOC / bookmark label joins them: "2.7 Validation and testing — Annex IV 2(g); ..."
        assert f"{_heading(section)} \u2014 {norm(section['citation'])}" in full.text


def test_eu_example_heading(full):
    if full.pack["regime"] == "eu-ai-act":
        assert "2.7 Validation and testing \u2014 Annex IV 2(g)" in full.text


def test_not_provided_markers_only_for_missing(full):
    for section in full.outline["sections"]:
        for key in section["narratives"]:
            marker = f"{NOT_PROVIDED}: {narratives.label(key)}"
            if key in factory.MISSING_IN_FULL:
                assert marker in full.text, key
            else:
                assert marker not in full.text, key
                assert full.pack["narratives"][key]["text"].split("\n")[0] in full.text


def test_completeness_table_counts(full):
    rows = narratives.completeness(full.pack, full.outline)
    provided = sum(len(r["provided"]) for r in rows)
    missing = sum(len(r["missing"]) for r in rows)
    assert missing == sum(1 for s in full.outline["sections"] for k in s["narratives"] if k in factory.MISSING_IN_FULL)
    page2 = norm(full.pages[1])
    assert f"{provided} of {provided + missing} are provided" in page2
    assert f"Total {provided} {missing}" in page2
    for r in rows:
        title = norm(r["title"])
        assert f"{r['id']} {title} {len(r['provided'])} {len(r['missing'])}" in page2, r["id"]


def test_known_evaluation_numbers(full):
    text = full.text
    for value in (
        "EV-0001",
        "0.7912",
        "0.463",
        "0.1684",
        "EV-0003",
        "0.2731",
        "max_psi",
        "FAIL",
        "PASS",
        "computed",
        "reported",
        "0.8421",
        "0.7839",
        "threshold >= 0.8",
        "drift below 0.05",
        "ks_statistic",
    ):
        assert value in text, value
    # the input digest (hash font, wrapped) is shown in full
    assert factory.h("holdout") in full.compact


def test_approval_chain_and_override(full):
    text = full.text
    for name in ("maria.rossi@bank.example", "claire.dubois@bank.example", "thomas.klein@bank.example"):
        assert name in text
    assert "approve" in text and "(invalidated)" in text
    assert "OVERRIDE" in text
    assert norm(full.pack["approvals"][2]["override_justification"]) in text
    assert "I accept the residual model risk" in text


def test_page_x_of_y_footer_on_every_page(full):
    total = len(full.pages)
    for i, page in enumerate(full.pages, start=1):
        assert f"Page {i} of {total}" in page
        assert "German Credit Scorecard" in page
        assert full.pack["pack_id"] in page
        assert pack_content_hash(full.pack)[:16] in page


def test_toc_lists_sections_with_correct_page_numbers(full):
    reader = full.reader
    front, bookmarks = reader.outline[:3], reader.outline[3:]
    # the front matter has bookmarks too (accessible PDF: every part reachable from the outline)
    assert [m["/Title"] for m in front] == ["Cover and document control", "Completeness of narratives", "Contents"]
    assert len(bookmarks) == len(full.outline["sections"])
    actual = []
    for section, mark in zip(full.outline["sections"], bookmarks, strict=True):
        page = reader.get_destination_page_number(mark) + 1
        assert _heading(section) in norm(full.pages[page - 1])
        actual.append(page)
    toc_text = ""
    for page in full.pages:
        if "Contents" in page:
            toc_text = page
            break
    start = full.pages.index(toc_text)
    toc_pages = "".join(full.pages[start : start + 3])
    numbers = [int(n) for n in re.findall(r"^\s*(?:\.\s*)+(\d+)\s*$", toc_pages, re.M)][: len(actual)]
    assert numbers == actual


def test_cover_and_document_control(full):
    cover = norm(full.pages[0])
    assert pack_content_hash(full.pack) in full.compact
    assert full.pack["pack_id"] in cover
    assert "log sequence 39 at 2026-04-02T09:30:00.000000Z" in cover
    assert "mlgov 0.1.0" in cover
    assert "not legal advice" in cover.lower()
    assert "compliance or legal owner must review" in cover
    if full.pack["regime"] == "sr11-7":
        assert (
            "Structured on SR 11-7 / OCC 2011-12 (2011 guidance), since replaced by OCC Bulletin 2026-13 / SR 26-2"
        ) in cover
    else:
        assert "Regulation (EU) 2024/1689" in cover
        assert norm(full.pack["applicable_date"]) in cover
    # the completeness table comes straight after the cover
    assert "Completeness of human-written narratives" in full.pages[1]


def test_accessible_pdf_title_language_and_text(full):
    root = full.reader.trailer["/Root"]
    assert root["/Lang"] == "en-GB"
    assert root["/ViewerPreferences"]["/DisplayDocTitle"] is True or root["/ViewerPreferences"]["/DisplayDocTitle"]
    assert full.reader.metadata.title.startswith(full.outline["title"])
    # selectable text: every section heading is extractable text, not paths
    for section in full.outline["sections"]:
        assert norm(section["title"]) in full.text


def test_an_unknown_block_is_refused_before_anything_is_drawn(tmp_path):
    from governance.reports.render import UnknownBlock

    outline = load_outline("sr11-7")
    outline["sections"][2]["blocks"].append("no_such_block")
    with pytest.raises(UnknownBlock, match="no_such_block"):
        render_pack_pdf(factory.make_pack("sr11-7"), outline, tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_every_described_block_has_a_renderer_and_back():
    from governance.reports.outlines import BLOCKS
    from governance.reports.render import block_names

    assert set(block_names()) == set(BLOCKS)


def test_letter_paper_is_a_setting(settings, tmp_path):
    settings.PACK_PAGE_SIZE = "Letter"
    out = tmp_path / "letter.pdf"
    render_pack_pdf(factory.make_pack("sr11-7"), load_outline("sr11-7"), out)
    from pypdf import PdfReader

    box = PdfReader(str(out)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    # legible on Letter too: the layout checker (margins, overprint, cell borders, digits) finds nothing
    import layout

    from governance.reports import numbers

    assert layout.problems(out, max_digits=numbers.digits()) == []


def test_metadata_from_pack(full):
    meta = full.reader.metadata
    assert meta["/CreationDate"] == "D:20260402093000+00'00'"
    assert meta["/ModDate"] == "D:20260402093000+00'00'"
    assert "German Credit Scorecard" in meta["/Title"]
    assert meta["/Author"] == "Example Bank AG"
    assert full.pack["pack_id"] in meta["/Subject"]


def test_audit_trail_lists_every_event_and_checkpoint(full):
    for event in full.pack["audit_events"]:
        assert event["leaf_hash"] in full.compact
        assert event["action"] in full.text
    assert full.pack["checkpoint"]["root"] in full.compact
    assert "mlgov.bank.example/log" in full.text
    assert "All 40 events listed have sequence numbers within the checkpoint" in full.text


def test_lineage_hashes_and_model_card_appendix(full):
    lineage = full.pack["version"]["lineage"]
    assert lineage["artifact_sha256"] in full.compact
    assert lineage["training_data_sha256"] in full.compact
    assert lineage["code_commit"] in full.compact
    assert "Quantitative analysis" in full.text
    assert "Datasheet: german-credit-train-2019-2024" in full.text


def test_progress_reports_each_section_once_in_order(full):
    n = len(full.outline["sections"])
    assert [c[0] for c in full.progress] == list(range(1, n + 1))
    assert all(c[1] == n for c in full.progress)
    assert [c[2] for c in full.progress] == [s["title"] for s in full.outline["sections"]]


def _font_dicts(reader):
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font")
        if fonts:
            for ref in fonts.get_object().values():
                yield ref.get_object()


def test_fonts_are_embedded(full):
    fonts = list(_font_dicts(full.reader))
    assert fonts
    names = set()
    for font in fonts:
        names.add(str(font["/BaseFont"]))
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, font["/BaseFont"]
    assert not any("Helvetica" in n or "Courier" in n or "Times" in n for n in names)
    assert any("Vera" in n for n in names)


def test_same_pack_gives_identical_bytes(full, tmp_path):
    again = tmp_path / "again.pdf"
    render_pack_pdf(copy.deepcopy(full.pack), full.outline, again)
    assert again.read_bytes() == full.bytes()


def test_different_as_of_changes_bytes(full, tmp_path):
    pack = copy.deepcopy(full.pack)
    pack["as_of"] = {"seq": 41, "ts": "2026-04-03T10:00:00.000000Z"}
    other = tmp_path / "other.pdf"
    render_pack_pdf(pack, full.outline, other)
    assert other.read_bytes() != full.bytes()
    assert PdfReader(str(other)).metadata["/CreationDate"] == "D:20260403100000+00'00'"


def test_no_evaluations_pack_says_so(no_evaluations):
    text = no_evaluations.text
    assert "No evaluations are recorded for this model version." in text
    assert "No fairness evaluation with per-group results is recorded" in text
    assert "No drift evaluation with per-feature results is recorded" in text
    assert "EV-0001" not in text
    assert "no metrics to report against thresholds" in text or no_evaluations.pack["regime"] == "eu-ai-act"


def test_no_approvals_pack_says_so(no_approvals):
    text = no_approvals.text
    assert "No approvals are recorded for this model version." in text
    assert "No stage transitions of version 2.0 are recorded." in text
    assert "OVERRIDE" not in text


def test_no_narratives_pack_marks_everything(no_narratives):
    keys = [k for s in no_narratives.outline["sections"] for k in s["narratives"]]
    assert no_narratives.text.count(f"{NOT_PROVIDED}: ") >= len(keys)
    for key in set(keys):
        assert f"{NOT_PROVIDED}: {narratives.label(key)}" in no_narratives.text
    assert f"0 of {len(keys)} are provided" in no_narratives.text
    assert "Written by" not in no_narratives.text


def test_minimal_pack_renders(tmp_path_factory):
    pack = {
        "pack_id": "pk-min",
        "regime": "sr11-7",
        "outline_version": "1",
        "as_of": {"seq": 1, "ts": "2026-01-01T00:00:00.000000Z"},
        "generator": {"name": "mlgov", "version": "0.1.0"},
        "model": {"name": "M"},
        "version": {"version": "1"},
    }
    rendered = render(tmp_path_factory, pack, "minimal")
    assert "No audit events are recorded." in rendered.text
    assert "No datasets are recorded for this version" in rendered.text


def test_content_hash_and_pack_id():
    """pack.json is RFC 8785 canonical: re-canonicalising it with a JCS library changes nothing,
    and the content hash recomputes from it (integral floats print as JCS prints them)."""
    import rfc8785

    pack = factory.make_pack("sr11-7")
    pack["evaluations"][0]["metrics"]["integral"] = 1.0
    pack["evaluations"][0]["metrics"]["zero"] = 0.0
    pack["evaluations"][0]["metrics"]["tiny"] = 1e-7
    data = canonical_pack_bytes(pack)
    assert data == rfc8785.dumps(json.loads(data))
    assert b'"integral":1,' in data and b'"zero":0}' in data and b'"tiny":1e-7' in data
    assert pack_content_hash(pack) == hashlib.sha256(rfc8785.dumps(json.loads(data))).hexdigest()
    plain = json.dumps(pack, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert data != plain  # the old, non-canonical serialisation wrote 1.0 and 0.0
    assert pack["pack_id"] == derive_pack_id("sr11-7", pack["outline_version"], "mdl-7f3a", "2.0", 39)
    assert derive_pack_id("sr11-7", pack["outline_version"], "mdl-7f3a", "2.0", 41) != pack["pack_id"]


@pytest.mark.parametrize("regime", ["sr11-7"])
def test_large_audit_trail_paginates(tmp_path_factory, regime):
    pack = factory.make_pack(regime, n_audit=400, n_evaluations=12)
    rendered = render(tmp_path_factory, pack, "large")
    assert pack["audit_events"][-1]["leaf_hash"] in rendered.compact
    # the listing spans several pages, each with its header row
    assert sum("Leaf hash (base64)" in page for page in rendered.pages) >= 3


def test_no_evaluations_pack_draws_no_chart_and_says_why(no_evaluations):
    text = no_evaluations.text
    assert "no ROC curve or calibration chart to draw" in text
    assert "No metric is gated for this version" in text

"""The pack's line charts (issue 13): gated metrics across versions with the threshold, the ROC curve
and the calibration chart with their diagonals. Read back from the PDF: titles, axis labels and
legends are selectable text inside the margins, nothing overprints; and in greyscale the series stay
apart by line style and marker shape, not by colour alone."""

from __future__ import annotations

import copy

import layout
import pdfplumber
import pytest
import reports_pack_factory as factory
from conftest import render
from reportlab.graphics.shapes import Circle, Line, PolyLine, Rect, String

from governance.reports import linecharts, numbers


def _page_with(path, needle: str):
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            if needle in (page.extract_text() or ""):
                return page.page_number, " ".join((page.extract_text() or "").split())
    raise AssertionError(f"no page shows {needle!r}")


def test_roc_and_calibration_charts_have_titles_axes_and_legends(full):
    _n, text = _page_with(full.path, "ROC curve and calibration of EV-0001")
    for words in (
        "false positive rate",
        "true positive rate",
        "mean predicted score",
        "observed positive rate",
        "ROC curve",
        "chance (a classifier that guesses)",
        "observed rate per score bin",
        "perfect calibration (diagonal)",
        "0.25 0.5 0.75",
    ):
        assert words in text, words
    # the bins the chart draws are printed beside it, by the number rule
    for b in factory.calibration_bins():
        if b["count"]:
            assert f"{numbers.count(b['count'])} {numbers.measured(b['mean_score'])}" in text


def test_trend_charts_draw_every_gated_metric_with_its_threshold(full):
    for m in full.pack["metric_trends"]["metrics"]:
        rule = f"{m['comparator']} {numbers.threshold(m['threshold'])}"
        _n, text = _page_with(full.path, f"Trend of {m['metric']} ({m['kind']}) across versions")
        assert f"threshold {rule}" in text and f"gate threshold {rule}" in text
        assert "model version (in order of registration)" in text
        assert f"{m['metric']} (value)" in text
        assert "computed by this service" in text and "reported by a pipeline" in text
        for label in full.pack["metric_trends"]["versions"]:
            assert label in text


def test_chart_text_is_selectable_and_inside_the_margins(full):
    """Every chart word is text (pdfplumber finds it as words), and the layout checker finds nothing."""
    n, _text = _page_with(full.path, "ROC curve and calibration of EV-0001")
    with pdfplumber.open(full.path) as pdf:
        page = pdf.pages[n - 1]
        words = {w["text"] for w in page.extract_words()}
        assert {"false", "positive", "rate", "calibration"} <= words
        assert layout.page_problems(page, max_digits=numbers.digits()) == []


def _dashes(drawing, kind):
    return [getattr(s, "strokeDashArray", None) for s in drawing.contents if isinstance(s, kind)]


def test_series_differ_by_line_style_and_marker_not_only_colour():
    points = [
        {"version": "1.0.0", "source": "computed", "value": 0.71},
        {"version": "1.1.0", "source": "computed", "value": 0.74},
        {"version": "1.0.0", "source": "reported", "value": 0.78},
        {"version": "1.1.0", "source": "reported", "value": 0.79},
    ]
    d = linecharts.trend_chart(["1.0.0", "1.1.0"], points, metric="auc", threshold=0.7, comparator=">=")
    lines = _dashes(d, PolyLine)
    assert None in lines and linecharts.DASH in lines  # solid computed, dashed reported
    assert any(isinstance(s, Circle) for s in d.contents) and any(isinstance(s, Rect) for s in d.contents)
    strings = [s.text for s in d.contents if isinstance(s, String)]
    assert "threshold >= 0.7" in strings and "gate threshold >= 0.7" in strings
    threshold_lines = [s for s in d.contents if isinstance(s, Line) and s.strokeColor == linecharts.ps.CHART_LINE]
    assert threshold_lines and all(s.strokeDashArray for s in threshold_lines)
    roc = linecharts.roc_chart(factory.roc_points(), auc=0.75)
    assert any(isinstance(s, Line) and s.strokeDashArray for s in roc.contents)  # the dashed diagonal
    assert "ROC curve (AUC 0.75)" in [s.text for s in roc.contents if isinstance(s, String)]


@pytest.fixture(scope="module")
def many_versions(tmp_path_factory):
    """30 versions with long labels, a 201-point ROC curve and 17-digit values."""
    pack = factory.make_pack("sr11-7")
    factory.add_curves(pack, versions=30)
    for label_index, label in enumerate(pack["metric_trends"]["versions"]):
        pack["metric_trends"]["versions"][label_index] = f"{label}-release-candidate-with-a-long-name"
    for m in pack["metric_trends"]["metrics"]:
        for p in m["points"]:
            p["version"] = f"{p['version']}-release-candidate-with-a-long-name"
    pack["evaluations"][0]["roc_curve"] = factory.roc_points(201)
    return render(tmp_path_factory, copy.deepcopy(pack), "many-versions")


def test_thirty_versions_and_201_roc_points_have_no_layout_defect(many_versions):
    assert layout.problems(many_versions.path, max_digits=numbers.digits()) == []
    assert "Trend of roc_auc (performance) across versions" in many_versions.text

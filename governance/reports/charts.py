"""Bar charts (reportlab.graphics) for per-group fairness and per-feature drift results.

Each chart draws the threshold as a red line across the value axis and colours the bars that
fail their comparator. Values may be floats or decimal strings; they are converted to float only
for drawing (tables print them exactly).
"""

from __future__ import annotations

import math

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing, Line, String

from governance.reports import pdfstyle as ps

COMPARATORS = {
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    "==": lambda v, t: v == t,
}


def to_float(value) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def passes(value, comparator: str | None, threshold) -> bool | None:
    v, t = to_float(value), to_float(threshold)
    if v is None or t is None or comparator not in COMPARATORS:
        return None
    return COMPARATORS[comparator](v, t)


def _fit(text: str, width: float, size: float = 7) -> str:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, ps.FONT, size) <= width:
        return text
    while text and stringWidth(text + "\u2026", ps.FONT, size) > width:
        text = text[:-1]
    return text + "\u2026"


def _nice_max(value: float) -> tuple[float, float]:
    """An axis maximum >= value and a step giving 4-6 ticks."""
    if value <= 0:
        return 1.0, 0.2
    exp = math.floor(math.log10(value))
    for mult in (1, 2, 2.5, 5, 10):
        step = mult * 10 ** (exp - 1)
        if value / step <= 6:
            return step * math.ceil(value / step - 1e-12), step
    step = 10**exp
    return step * math.ceil(value / step), step


def bar_chart(
    labels: list[str],
    values: list,
    *,
    threshold=None,
    comparator: str | None = None,
    width: float = 460,
    value_label: str = "",
    bar_height: float = 13,
    flagged: list[bool] | None = None,
    threshold_text: str | None = None,
) -> Drawing:
    """A horizontal bar chart, one bar per label, threshold drawn as a vertical red line.

    Readable in black and white: every bar carries its value as text, and a bar that fails its
    comparator (or is ``flagged``, e.g. a group below the minimum size) says so in words beside
    the value, not only by its colour. Category labels longer than the label column are cut with
    an ellipsis (the table under the chart prints them in full).
    """
    from governance.reports import numbers

    ps.register_fonts()
    nums = [to_float(v) or 0.0 for v in values]
    flagged = flagged or [False] * len(values)
    thr = to_float(threshold)
    top = max(nums + ([thr] if thr is not None else []) + [0.0])
    vmax, step = _nice_max(top * 1.08 if top > 0 else 1.0)
    label_w = min(150.0, 10 + 4.6 * max((len(s) for s in labels), default=4))
    labels = [_fit(s, label_w - 8) for s in labels]
    n = max(len(labels), 1)
    plot_h = n * bar_height + 6
    height = plot_h + 42
    d = Drawing(width, height)
    d.initialFontName, d.initialFontSize = ps.FONT, 7  # no base-14 font in the PDF
    bc = HorizontalBarChart()
    bc.x, bc.y = label_w, 28
    bc.width, bc.height = width - label_w - 110, plot_h
    bc.data = [nums[::-1]]  # reportlab draws the first category at the bottom
    bc.categoryAxis.categoryNames = list(labels[::-1])
    bc.categoryAxis.labels.fontName = ps.FONT
    bc.categoryAxis.labels.fontSize = 7
    bc.categoryAxis.labels.boxAnchor = "e"
    bc.categoryAxis.labels.dx = -4
    bc.categoryAxis.strokeColor = ps.GREY
    bc.valueAxis.valueMin, bc.valueAxis.valueMax, bc.valueAxis.valueStep = 0, vmax, step
    bc.valueAxis.labels.fontName = ps.FONT
    bc.valueAxis.labels.fontSize = 7
    bc.valueAxis.labelTextFormat = lambda v: f"{v:g}"
    bc.valueAxis.strokeColor = ps.GREY
    bc.valueAxis.visibleGrid = 1
    bc.valueAxis.gridStrokeColor = ps.ZEBRA
    bc.barSpacing = 0
    bc.groupSpacing = 3
    bc.bars.strokeColor = None
    bc.bars[0].fillColor = ps.CHART_BAR
    for i, raw in enumerate(values[::-1]):
        if passes(raw, comparator, threshold) is False:
            bc.bars[(0, i)].fillColor = ps.CHART_BAD
    d.add(bc)
    n_bars = len(values)
    for i, raw in enumerate(values):
        v = nums[i]
        words = [numbers.measured(raw) if to_float(raw) is not None else "no value"]
        if passes(raw, comparator, threshold) is False:
            words.append("FAIL")
        if flagged[i]:
            words.append("small group")
        slot = bc.height / max(n_bars, 1)
        y = bc.y + bc.height - (i + 0.5) * slot - 2.5
        d.add(
            String(
                bc.x + bc.width * (min(v, vmax) / vmax if vmax else 0) + 3,
                y,
                " ".join(words),
                fontName=ps.FONT,
                fontSize=6.5,
                fillColor=ps.INK,
            )
        )
    if thr is not None and vmax > 0:
        x = bc.x + bc.width * (thr / vmax)
        d.add(
            Line(
                x, bc.y - 2, x, bc.y + bc.height + 4, strokeColor=ps.CHART_LINE, strokeWidth=1.2, strokeDashArray=[3, 2]
            )
        )
        d.add(
            String(
                x + 3,
                bc.y + bc.height + 5,
                threshold_text or f"threshold {comparator or ''} {numbers.threshold(threshold)}".replace("  ", " "),
                fontName=ps.FONT_BOLD,
                fontSize=7,
                fillColor=ps.CHART_LINE,
            )
        )
    if value_label:
        d.add(
            String(
                bc.x + bc.width / 2,
                6,
                value_label,
                fontName=ps.FONT,
                fontSize=7,
                fillColor=ps.GREY,
                textAnchor="middle",
            )
        )
    return d

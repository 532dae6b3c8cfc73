"""Line charts of the packs (reportlab.graphics): a gated metric across versions with its threshold,
the ROC curve and the calibration chart with their diagonals.

Readable in print and in greyscale: every series is told apart by its line style and marker shape,
not only by its colour; every chart has axis labels and a legend; the threshold is drawn dashed and
labelled in words. Tick labels follow the pack's number rule (:mod:`governance.reports.numbers`).
Lines never use the table-grid colours, so the layout checker never mistakes a chart for a table.
"""

from __future__ import annotations

import math

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from governance.reports import numbers
from governance.reports import pdfstyle as ps
from governance.reports.charts import _fit, to_float

COMPUTED = colors.HexColor("#2F5F8F")  # solid line, filled circles
REPORTED = colors.HexColor("#8A5A00")  # dashed line, hollow squares
AXIS = colors.HexColor("#4D5662")
GRIDLINE = colors.HexColor("#E1E5EA")
FONT_SIZE = 7
DASH = [4, 2.5]


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values covering [lo, hi], at most ``most`` of them, steps of 1, 2, 2.5 or 5 x 10^k."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(most - 1, 1)
    exp = math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        step = mult * 10**exp
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if last - first + 1 <= most:
            return [round(i * step, 12) for i in range(first, last + 1)]
    step = 10 ** (exp + 1)
    return [round(i * step, 12) for i in range(math.floor(lo / step), math.ceil(hi / step) + 1)]


def _text(x, y, text, *, anchor="start", bold=False, colour=ps.INK, size=FONT_SIZE) -> String:
    return String(
        x, y, text, fontName=ps.FONT_BOLD if bold else ps.FONT, fontSize=size, fillColor=colour, textAnchor=anchor
    )


def _marker(x: float, y: float, source: str, r: float = 2.8):
    if source == "reported":
        return Rect(x - r, y - r, 2 * r, 2 * r, fillColor=colors.white, strokeColor=REPORTED, strokeWidth=1.1)
    return Circle(x, y, r, fillColor=COMPUTED, strokeColor=COMPUTED, strokeWidth=0.6)


def _legend(d: Drawing, x: float, y: float, items: list[tuple[str, object, str]]) -> None:
    """Items ``(kind, colour, label)`` in one row from ``x``: kind ``solid``/``dashed``/``dotted`` draws
    a line sample, ``computed``/``reported`` a line with its marker."""
    for kind, colour, label in items:
        dash = {"dashed": DASH, "reported": DASH, "dotted": [2, 2]}.get(kind)
        d.add(Line(x, y + 2.5, x + 18, y + 2.5, strokeColor=colour, strokeWidth=1.3, strokeDashArray=dash))
        if kind in ("computed", "reported"):
            d.add(_marker(x + 9, y + 2.5, kind))
        d.add(_text(x + 22, y, label))
        x += 22 + stringWidth(label, ps.FONT, FONT_SIZE) + 14


def _frame(d: Drawing, x0: float, y0: float, w: float, h: float, xticks, yticks, xmap, ymap) -> None:
    for t in yticks:
        y = ymap(t)
        d.add(Line(x0, y, x0 + w, y, strokeColor=GRIDLINE, strokeWidth=0.5))
        d.add(_text(x0 - 4, y - 2.5, numbers.measured(t), anchor="end", colour=AXIS))
    for t in xticks:
        x = xmap(t)
        d.add(Line(x, y0, x, y0 - 3, strokeColor=AXIS, strokeWidth=0.6))
        d.add(_text(x, y0 - 11, numbers.measured(t), anchor="middle", colour=AXIS))
    d.add(Line(x0, y0, x0 + w, y0, strokeColor=AXIS, strokeWidth=0.8))
    d.add(Line(x0, y0, x0, y0 + h, strokeColor=AXIS, strokeWidth=0.8))


def trend_chart(
    versions: list[str],
    points: list[dict],
    *,
    metric: str,
    threshold=None,
    comparator: str | None = None,
    width: float = 460,
    height: float = 200,
) -> Drawing:
    """A metric across versions: computed values (solid line, filled circles) and reported values
    (dashed line, hollow squares) at their version, the gate's threshold as a labelled dashed line."""
    ps.register_fonts()
    d = Drawing(width, height)
    d.initialFontName, d.initialFontSize = ps.FONT, FONT_SIZE
    x0, y0 = 54.0, 42.0
    w, h = width - x0 - 14, height - y0 - 24
    values = [v for v in (to_float(p.get("value")) for p in points) if v is not None]
    thr = to_float(threshold)
    span = values + ([thr] if thr is not None else [])
    lo, hi = (min(span), max(span)) if span else (0.0, 1.0)
    pad = (hi - lo) * 0.12 or abs(hi) * 0.1 or 0.1
    yticks = nice_ticks(lo - pad, hi + pad, 6)
    ylo, yhi = yticks[0], yticks[-1]
    n = max(len(versions), 1)
    slot = w / n

    def xmap(i: float) -> float:
        return x0 + slot * (i + 0.5)

    def ymap(v: float) -> float:
        return y0 + h * (v - ylo) / (yhi - ylo)

    _frame(d, x0, y0, w, h, [], yticks, xmap, ymap)
    for i, label in enumerate(versions):
        d.add(Line(xmap(i), y0, xmap(i), y0 - 3, strokeColor=AXIS, strokeWidth=0.6))
        d.add(_text(xmap(i), y0 - 11, _fit(label, slot - 4, FONT_SIZE), anchor="middle", colour=AXIS))
    d.add(_text(x0 + w / 2, y0 - 22, "model version (in order of registration)", anchor="middle", colour=AXIS))
    d.add(_text(x0 - 50, y0 + h + 10, f"{metric} (value)", colour=AXIS))
    index = {v: i for i, v in enumerate(versions)}
    for source, colour in (("computed", COMPUTED), ("reported", REPORTED)):
        xy = []
        for p in points:
            value = to_float(p.get("value"))
            if p.get("source") == source and p.get("version") in index and value is not None:
                xy.append((xmap(index[p["version"]]), ymap(value)))
        if len(xy) > 1:
            d.add(
                PolyLine(
                    [c for pair in xy for c in pair],
                    strokeColor=colour,
                    strokeWidth=1.3,
                    strokeDashArray=DASH if source == "reported" else None,
                )
            )
        for x, y in xy:
            d.add(_marker(x, y, source))
    legend: list[tuple[str, object, str]] = []
    for source, colour in (("computed", COMPUTED), ("reported", REPORTED)):
        if any(p.get("source") == source for p in points):
            legend.append((source, colour, f"{source} by {'this service' if source == 'computed' else 'a pipeline'}"))
    if thr is not None:
        rule = f"threshold {comparator or ''} {numbers.threshold(threshold)}".replace("  ", " ")
        ty = ymap(thr)
        d.add(Line(x0, ty, x0 + w, ty, strokeColor=ps.CHART_LINE, strokeWidth=1.1, strokeDashArray=[2, 2]))
        d.add(_text(x0 + w - 2, ty + 3, rule, anchor="end", bold=True, colour=ps.CHART_LINE))
        legend.append(("dotted", ps.CHART_LINE, f"gate {rule}"))
    _legend(d, x0 - 50, 4, legend)
    return d


def _unit_square(d: Drawing, x0: float, y0: float, side: float, x_label: str, y_label: str):
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]

    def xmap(v: float) -> float:
        return x0 + side * v

    def ymap(v: float) -> float:
        return y0 + side * v

    _frame(d, x0, y0, side, side, ticks, ticks, xmap, ymap)
    d.add(_text(x0 + side / 2, y0 - 22, x_label, anchor="middle", colour=AXIS))
    d.add(_text(x0 - 30, y0 + side + 6, y_label, colour=AXIS))
    d.add(Line(x0, y0, x0 + side, y0 + side, strokeColor=AXIS, strokeWidth=0.9, strokeDashArray=DASH))
    return xmap, ymap


def _panel(width: float) -> tuple[Drawing, float, float, float]:
    ps.register_fonts()
    side = min(width - 46, 190.0)
    height = 52 + side + 16
    d = Drawing(width, height)
    d.initialFontName, d.initialFontSize = ps.FONT, FONT_SIZE
    return d, 34.0, 52.0, side


def roc_chart(curve: dict, *, auc=None, width: float = 235) -> Drawing:
    """The stored ROC points (true against false positive rate) with the chance diagonal."""
    d, x0, y0, side = _panel(width)
    xmap, ymap = _unit_square(d, x0, y0, side, "false positive rate", "true positive rate")
    xy = [c for a, b in zip(curve.get("fpr") or [], curve.get("tpr") or [], strict=True) for c in (xmap(a), ymap(b))]
    d.add(PolyLine(xy, strokeColor=COMPUTED, strokeWidth=1.5))
    label = "ROC curve" + (f" (AUC {numbers.measured(to_float(auc))})" if to_float(auc) is not None else "")
    d.add(Line(x0 - 30, 17.5, x0 - 12, 17.5, strokeColor=COMPUTED, strokeWidth=1.5))
    d.add(_text(x0 - 8, 15, label))
    d.add(Line(x0 - 30, 5.5, x0 - 12, 5.5, strokeColor=AXIS, strokeWidth=0.9, strokeDashArray=DASH))
    d.add(_text(x0 - 8, 3, "chance (a classifier that guesses)"))
    return d


def calibration_chart(bins: list[dict], *, width: float = 235) -> Drawing:
    """Observed positive rate against mean predicted score per bin, with the diagonal of perfect
    calibration. Empty bins are not drawn."""
    d, x0, y0, side = _panel(width)
    xmap, ymap = _unit_square(d, x0, y0, side, "mean predicted score", "observed positive rate")
    pts = [
        (xmap(b["mean_score"]), ymap(b["observed_rate"]))
        for b in bins
        if b.get("count") and b.get("mean_score") is not None and b.get("observed_rate") is not None
    ]
    if len(pts) > 1:
        d.add(PolyLine([c for p in pts for c in p], strokeColor=COMPUTED, strokeWidth=1.3))
    for x, y in pts:
        d.add(_marker(x, y, "computed"))
    d.add(Line(x0 - 30, 17.5, x0 - 12, 17.5, strokeColor=COMPUTED, strokeWidth=1.3))
    d.add(_marker(x0 - 21, 17.5, "computed"))
    d.add(_text(x0 - 8, 15, "observed rate per score bin"))
    d.add(Line(x0 - 30, 5.5, x0 - 12, 5.5, strokeColor=AXIS, strokeWidth=0.9, strokeDashArray=DASH))
    d.add(_text(x0 - 8, 3, "perfect calibration (diagonal)"))
    return d

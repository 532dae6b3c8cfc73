"""Server-rendered SVG charts (no script, nothing from another host)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def trend_chart(
    series: list[dict],
    *,
    threshold: float | None = None,
    comparator: str = "",
    periods: Sequence[tuple[dt.datetime, dt.datetime]] = (),
    width: int = 640,
    height: int = 220,
    title: str = "",
) -> str:
    """One metric over time: a polyline per version (``{"label", "points": [(datetime, value, href)]}``),
    the policy threshold as a dashed line, production periods shaded."""
    points = [p for s in series for p in s["points"]]
    if not points:
        return ""
    left, right, top, bottom = 56, 16, 12, 34
    times = [p[0] for p in points]
    t0, t1 = min(times), max(times)
    if periods:
        t0 = min(t0, *(a for a, _ in periods))
    if t1 <= t0:
        t0, t1 = t0 - dt.timedelta(hours=12), t1 + dt.timedelta(hours=12)
    values = [p[1] for p in points] + ([threshold] if threshold is not None else [])
    v0, v1 = min(values), max(values)
    pad = (v1 - v0) * 0.1 or abs(v1) * 0.1 or 0.1
    v0, v1 = v0 - pad, v1 + pad
    span_t = (t1 - t0).total_seconds()

    def x(moment: dt.datetime) -> float:
        moment = min(max(moment, t0), t1)
        return left + (width - left - right) * ((moment - t0).total_seconds() / span_t)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (1 - (value - v0) / (v1 - v0))

    parts = [
        f'<svg class="trend-chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for start, end in periods:
        xa, xb = x(start), x(end)
        parts.append(
            f'<rect class="production" x="{xa:.1f}" y="{top}" width="{max(xb - xa, 2):.1f}" '
            f'height="{height - top - bottom}"><title>in production</title></rect>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}"/>'
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}"/>'
        f'<text class="tick" x="{left - 6}" y="{y(v1) + 4:.1f}" text-anchor="end">{_fmt(v1)}</text>'
        f'<text class="tick" x="{left - 6}" y="{y(v0) + 4:.1f}" text-anchor="end">{_fmt(v0)}</text>'
        f'<text class="tick" x="{left}" y="{height - 12}">{t0:%Y-%m-%d}</text>'
        f'<text class="tick" x="{width - right}" y="{height - 12}" text-anchor="end">{t1:%Y-%m-%d}</text>'
    )
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line class="threshold" x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}"/>'
            f'<text class="threshold-label" x="{width - right}" y="{ty - 4:.1f}" text-anchor="end">'
            f"policy {escape(comparator)} {_fmt(threshold)}</text>"
        )
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        pts = sorted(s["points"], key=lambda p: p[0])
        if len(pts) > 1:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v, _ in pts)
            parts.append(f'<polyline class="series" points="{path}" stroke="{colour}"/>')
        for t, v, href in pts:
            dot = (
                f'<circle class="point" cx="{x(t):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}">'
                f"<title>{escape(s['label'])}: {_fmt(v)} on {t:%Y-%m-%d %H:%M}</title></circle>"
            )
            parts.append(f'<a href="{escape(href)}">{dot}</a>' if href else dot)
    parts.append("</svg>")
    return "".join(parts)


TOP = 22  # room above a unit-square chart for its horizontal y-axis label


def _square_frame(size: int, pad: int, title: str, css: str, x_label: str, y_label: str) -> list[str]:
    """The frame of a unit-square chart: axes 0 to 1 with ticks at 0, 0.5 and 1, axis labels (both
    horizontal: the y label above the axis), the dashed diagonal (perfect calibration, or a random
    classifier on a ROC chart)."""
    inner = size - pad - TOP
    x0, y0 = pad, TOP + inner  # bottom-left corner
    parts = [
        f'<svg class="{css}" role="img" aria-label="{escape(title)}" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<rect class="frame" x="{x0}" y="{TOP}" width="{inner}" height="{inner}"/>',
        f'<line class="diagonal" x1="{x0}" y1="{y0}" x2="{x0 + inner}" y2="{TOP}"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text class="tick" x="{x0 + inner * tick:.1f}" y="{y0 + 14}" text-anchor="middle">{tick:g}</text>'
            f'<text class="tick" x="{x0 - 4}" y="{y0 - inner * tick + 4:.1f}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{x0 + inner / 2:.1f}" y="{size - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text class="axis-label" x="4" y="{TOP - 8}">{escape(y_label)}</text>'
    )
    return parts


def _unit(size: int, pad: int):
    inner = size - pad - TOP

    def px(value: float) -> float:
        return pad + inner * value

    def py(value: float) -> float:
        return TOP + inner * (1 - value)

    return px, py


def calibration_chart(rows: list[dict], *, size: int = 280, title: str = "Calibration") -> str:
    """Observed rate against mean score per bin, with the diagonal of perfect calibration."""
    bins = [r for r in rows if r.get("count") and r.get("mean_score") is not None]
    if not bins:
        return ""
    pad = 44
    px, py = _unit(size, pad)
    parts = _square_frame(size, pad, title, "calibration-chart", "mean predicted score", "observed positive rate")
    path = " ".join(f"{px(r['mean_score']):.1f},{py(r['observed_rate']):.1f}" for r in bins)
    parts.append(f'<polyline class="series" points="{path}" stroke="{PALETTE[0]}"/>')
    for r in bins:
        parts.append(
            f'<circle class="point" cx="{px(r["mean_score"]):.1f}" cy="{py(r["observed_rate"]):.1f}" r="3.5" '
            f'fill="{PALETTE[0]}"><title>{r["lower"]:.1f}–{r["upper"]:.1f}: n={r["count"]}, observed '
            f"{r['observed_rate']:.3f}, mean score {r['mean_score']:.3f}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def roc_chart(curve: dict, *, auc: float | None = None, size: int = 280, title: str = "ROC curve") -> str:
    """The ROC curve stored with a performance evaluation (``result.roc_curve``: exact vertices, at
    most ``max_points``), true positive rate against false positive rate, with the chance diagonal."""
    fpr, tpr = curve.get("fpr") or [], curve.get("tpr") or []
    if len(fpr) < 2 or len(fpr) != len(tpr):
        return ""
    pad = 44
    px, py = _unit(size, pad)
    parts = _square_frame(size, pad, title, "roc-chart", "false positive rate", "true positive rate")
    path = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(fpr, tpr, strict=True))
    parts.append(f'<polyline class="series roc" points="{path}" stroke="{PALETTE[0]}"/>')
    if auc is not None:
        parts.append(
            f'<text class="tick auc" x="{size - TOP - 6}" y="{size - pad - 8}" text-anchor="end">AUC {_fmt(auc)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)

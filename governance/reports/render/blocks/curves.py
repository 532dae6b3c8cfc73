"""Chart blocks (issue 13): each gated metric across the model's versions with its threshold
(``metric_trends``), and the ROC curve and calibration chart of each computed performance
evaluation (``performance_charts``). Every chart has a title, axis labels and a legend, and is
followed by a table of the numbers it draws, printed by the pack's number rule."""

from __future__ import annotations

from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

from governance.reports import charts, linecharts
from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.render.base import _result_text, esc, fmt
from governance.reports.render.registry import block


@block("metric_trends")
def metric_trends(ctx):
    data = ctx.pack.get("metric_trends") or {}
    metrics = data.get("metrics") or []
    head = ctx.p("Gated metrics across versions", "h3")
    if not metrics:
        return [
            head,
            ctx.plain(
                "No metric is gated for this version (no policy applied and no threshold recorded), "
                "so no trend is drawn."
            ),
        ]
    versions = data.get("versions") or []
    out = [
        head,
        ctx.p(
            f"Each metric the promotion gates check, for every version of the model registered by the pack's "
            f"date ({len(versions)}), from the newest evaluation of each version that records it. Rules from "
            f"{esc(data.get('rule_source'))}.",
            "small",
        ),
    ]
    w = ctx.width
    for m in metrics:
        rule = f"{fmt(m.get('comparator'))} {num.threshold(m.get('threshold'))}"
        title = ctx.p(
            f"Trend of {esc(m.get('metric'))} ({esc(m.get('kind'))}) across versions \u2014 gate {esc(rule)}",
            "cell_bold",
        )
        points = m.get("points") or []
        if not points:
            out.append(KeepTogether([title, ctx.plain(f"No evaluation of this model records {m.get('metric')}.")]))
            continue
        chart = linecharts.trend_chart(
            versions,
            points,
            metric=str(m.get("metric")),
            threshold=m.get("threshold"),
            comparator=m.get("comparator"),
            width=w,
        )
        rows = [ctx.heads("Version", "Evaluation", "Source", "Value", "Gate", "Result")]
        extra = []
        for i, p in enumerate(points, start=1):
            ok = charts.passes(p.get("value"), m.get("comparator"), m.get("threshold"))
            rows.append(
                [
                    fmt(p.get("version")),
                    fmt(p.get("evaluation")),
                    fmt(p.get("source")),
                    num.metric(m.get("metric"), p.get("value")),
                    rule,
                    _result_text(ok),
                ]
            )
            extra += ctx._result_style(i, ok, col=5)
        table = ctx.table(rows, [0.16 * w, 0.16 * w, 0.16 * w, 0.18 * w, 0.18 * w, 0.16 * w], extra=extra)
        out += [KeepTogether([Spacer(1, 4), title, Spacer(1, 2), chart]), table, Spacer(1, 8)]
    return out


def _side_by_side(ctx, left, right):
    half = ctx.width / 2
    t = Table([[left, right]], colWidths=[half, half])
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (0, 0), (-1, -1), ps.FONT),  # no base-14 font in the PDF
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return t


@block("performance_charts")
def performance_charts(ctx):
    evs = [e for e in ctx._evals(["performance"]) if "roc_curve" in e or "calibration" in e]
    head = ctx.p("ROC curve and calibration", "h3")
    if not evs:
        return [
            head,
            ctx.plain(
                "No performance evaluation computed by this service from scores and labels is recorded for this "
                "version, so there is no ROC curve or calibration chart to draw."
            ),
        ]
    out = [head]
    panel = ctx.width / 2 - 6
    for ev in evs:
        curve = ev.get("roc_curve")
        bins = ev.get("calibration") or []
        title = ctx.p(
            f"ROC curve and calibration of {esc(ev.get('id'))} on {esc(ev.get('dataset'))} "
            f"({esc(ev.get('source'))}, model version {esc(ev.get('model_version'))})",
            "cell_bold",
        )
        auc = (ev.get("metrics") or {}).get("auc")
        if curve:
            left = linecharts.roc_chart(curve, auc=auc, width=panel)
            how = (
                f"all {num.count(curve.get('n_points'))} points of the curve"
                if curve.get("exact")
                else f"{num.count(curve.get('n_points'))} of the curve's {num.count(curve.get('n_vertices'))} points, "
                "kept by the rule in docs/evaluations.md (within 0.01 of the full curve)"
            )
            roc_note = f"ROC: {how}; the AUC printed is the exact one computed from every row."
        elif "roc_curve" in ev:
            left = ctx.plain("ROC curve undefined: the labels hold a single class.")
            roc_note = "ROC: undefined (single class)."
        else:
            left = ctx.plain("ROC curve not recorded: this evaluation was computed before ROC points were stored.")
            roc_note = "ROC: not recorded."
        right = (
            linecharts.calibration_chart(bins, width=panel)
            if any(b.get("count") for b in bins)
            else ctx.plain("Calibration not recorded for this evaluation.")
        )
        note = ctx.p(
            f"{roc_note} Calibration: observed positive rate against mean predicted score in 10 equal-width "
            "score bins; points on the dashed diagonal are perfectly calibrated.",
            "small",
        )
        out.append(KeepTogether([Spacer(1, 4), title, Spacer(1, 2), _side_by_side(ctx, left, right), note]))
        filled = [b for b in bins if b.get("count")]
        if filled:
            w = ctx.width
            rows = [
                ctx.heads(
                    "Score bin", "Rows", "Mean predicted score", "Observed positive rate", "Observed minus predicted"
                )
            ]
            for b in filled:
                diff = None
                if b.get("observed_rate") is not None and b.get("mean_score") is not None:
                    diff = b["observed_rate"] - b["mean_score"]
                rows.append(
                    [
                        f"{num.measured(b.get('lower'))} to {num.measured(b.get('upper'))}",
                        num.count(b.get("count")),
                        num.measured(b.get("mean_score")),
                        num.measured(b.get("observed_rate")),
                        num.measured(diff),
                    ]
                )
            out += [ctx.table(rows, [0.2 * w, 0.14 * w, 0.22 * w, 0.22 * w, 0.22 * w]), Spacer(1, 8)]
    return out

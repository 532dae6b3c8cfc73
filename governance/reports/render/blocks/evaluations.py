"""Blocks that print evaluations: checks, headline metrics, the reported-vs-computed
reconciliation, review flags, per-group fairness and per-feature drift."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import KeepTogether, Spacer

from governance.reports import charts
from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.render.base import (
    _result_text,
    esc,
    fmt,
)
from governance.reports.render.registry import block


def _by_id(ctx, evaluation_id) -> dict:
    return next((e for e in ctx.evaluations if e.get("id") == evaluation_id), {})


@block("evaluations_table")
def evaluations_table(ctx, kinds=None):
    evs = ctx._evals(kinds)
    if not evs:
        return ctx._no_evals(kinds)
    out = [ctx.p("Evaluations and checks", "h3")]
    w = ctx.width
    for ev in evs:
        libs = ev.get("libraries") or {}
        lib_text = ", ".join(f"{k} {libs[k]}" for k in sorted(libs)) or "\u2014"
        source = ev.get("source")
        head = (
            f"<b>{esc(ev.get('id'))}</b> \u00b7 {esc(ev.get('kind'))} on {esc(ev.get('dataset'))} "
            f"\u00b7 <b>{esc(source)}</b> \u00b7 {esc(ev.get('created_at'))}"
            f" \u00b7 model version {esc(ev.get('model_version'))}"
        )
        meta = (
            f"Input digest (SHA-256): <font name='{ps.HASH_FONT}' size='{ps.HASH_SIZE}'>"
            f"{esc(ev.get('input_sha256'))}</font><br/>Libraries: {escape(lib_text)}"
        )
        if source == "reported":
            meta += "<br/><b>Reported by the pipeline: these numbers were not computed by this service.</b>"
        data = [ctx.heads("Metric", "Value", "Comparator", "Threshold", "Result", "Source")]
        extra = []
        for i, chk in enumerate(ev.get("checks") or [], start=1):
            ok = chk.get("passed")
            data.append(
                [
                    ctx.cell(ctx._metric_label(ev, chk.get("metric"))),
                    ctx._check_value(chk),
                    fmt(chk.get("comparator")),
                    num.threshold(chk.get("threshold")),
                    _result_text(ok),
                    fmt(source),
                ]
            )
            extra += ctx._result_style(i, ok)
        checked = {c.get("metric") for c in ev.get("checks") or []}
        metrics = ev.get("metrics") or {}
        others = [(ctx._metric_label(ev, k), num.metric(k, metrics[k])) for k in sorted(metrics) if k not in checked]
        parts = [ctx.p(head, "cell"), ctx.p(meta, "small")]
        if len(data) > 1:
            parts.append(
                ctx.table(
                    data,
                    [0.28 * w, 0.13 * w, 0.14 * w, 0.15 * w, 0.11 * w, 0.19 * w],
                    extra=extra + [("ALIGN", (1, 0), (-1, -1), "LEFT")],
                )
            )
        else:
            parts.append(ctx.p("No checks defined for this evaluation.", "small"))
        warn = ctx._warning_lines(ev)
        if warn:
            parts.append(ctx._warnings_table(ev, warn))
        if others:
            parts.append(ctx.p("Other metrics of this evaluation", "small"))
            parts.append(ctx._pairs_table(others))
        out.append(KeepTogether(parts))
        out.append(Spacer(1, 8))
    return out


@block("headline_metrics")
def headline_metrics(ctx):
    if not ctx.evaluations:
        return [ctx.plain("No evaluations are recorded; there are no metrics to report against thresholds.")]
    data = [ctx.heads("Evaluation", "Metric", "Value", "Threshold", "Result", "Warnings beside the number")]
    extra = []
    n_pass = n_fail = 0
    w = ctx.width
    for ev in ctx.evaluations:
        for chk in ev.get("checks") or []:
            ok = chk.get("passed")
            n_pass += ok is True
            n_fail += ok is False
            row = len(data)
            data.append(
                [
                    f"{fmt(ev.get('id'))} ({fmt(ev.get('kind'))}, {fmt(ev.get('source'))})",
                    ctx.cell(ctx._metric_label(ev, chk.get("metric"))),
                    ctx._check_value(chk),
                    f"{fmt(chk.get('comparator'))} {num.threshold(chk.get('threshold'))}",
                    _result_text(ok),
                    ctx._warnings_para(ev),
                ]
            )
            extra += ctx._result_style(row, ok, col=4)
    reported = [ev for ev in ctx.evaluations if ev.get("source") == "reported"]
    summary = ctx.p(
        f"{len(ctx.evaluations)} evaluation(s), {n_pass + n_fail} check(s): "
        f"<b>{n_pass} passed</b>, <b>{n_fail} failed</b>."
        + (
            f" {len(reported)} evaluation(s) hold numbers reported by a pipeline, not computed by this service."
            if reported
            else ""
        )
    )
    if len(data) == 1:
        return [summary]
    return [
        summary,
        ctx.table(data, [0.19 * w, 0.22 * w, 0.1 * w, 0.12 * w, 0.09 * w, 0.28 * w], extra=extra),
        Spacer(1, 6),
    ]


@block("evidence_reconciliation")
def evidence_reconciliation(ctx):
    ev = ctx.pack.get("evidence") or {}
    rows = ev.get("rows") or []
    tol = num.threshold(ev.get("tolerance"))
    head = ctx.p("Reported and computed evidence", "h3")
    if not rows:
        return [
            head,
            ctx.plain(
                "No metric is both reported by a pipeline and computed by this service for this version; "
                "there is nothing to reconcile."
            ),
        ]
    n_disc, n_fail = ev.get("discrepancies", 0), ev.get("computed_failures", 0)
    intro = ctx.p(
        f"{len(rows)} metric(s) are both reported and computed. <b>{n_disc}</b> differ by more than the "
        f"tolerance {tol} (absolute, setting EVALUATION_DISCREPANCY_TOLERANCE); the computed value fails its "
        f"threshold for <b>{n_fail}</b>. The difference is computed minus reported."
    )
    data = [
        ctx.heads(
            "Metric",
            "Reported",
            "Computed",
            "Difference",
            "Beyond tolerance",
            "Computed vs threshold",
            "Gates used",
        )
    ]
    extra = []
    for i, r in enumerate(rows, start=1):
        verdict = (
            "\u2014"
            if r.get("computed_passes") is None
            else f"{_result_text(r['computed_passes'])} ({fmt(r.get('comparator'))} "
            f"{num.threshold(r.get('threshold'))})"
        )
        data.append(
            [
                ctx._metric_label(_by_id(ctx, r.get("computed_evaluation")), r["metric"]),
                f"{num.metric(r['metric'], r['reported'])} ({r['reported_evaluation']})",
                f"{num.metric(r['metric'], r['computed'])} ({r['computed_evaluation']})",
                num.measured(r["difference"]),
                "YES" if r["discrepancy"] else "no",
                verdict,
                r.get("gates_used") or "no decided gate used it",
            ]
        )
        if r["discrepancy"]:
            extra += [("BACKGROUND", (4, i), (4, i), ps.FAIL_BG), ("TEXTCOLOR", (4, i), (4, i), ps.FAIL_FG)]
        extra += ctx._result_style(i, r.get("computed_passes"), col=5)
    w = ctx.width
    out = [
        head,
        intro,
        ctx.table(data, [0.17 * w, 0.13 * w, 0.13 * w, 0.11 * w, 0.11 * w, 0.15 * w, 0.2 * w], extra=extra),
    ]
    from governance.reports.evidence import gates_on_reported_that_fail_computed

    bad = gates_on_reported_that_fail_computed(ctx.pack)
    if bad:
        out.append(
            ctx.box(
                [
                    ctx.p(
                        "<b>The promotion gates passed on reported numbers whose computed values fail:</b> "
                        + escape(", ".join(r["metric"] for r in bad))
                        + ". The thresholds are not met by the service's own computation.",
                        "note",
                    )
                ],
                bg=ps.FAIL_BG,
                border=ps.MISSING_BORDER,
            )
        )
    out.append(Spacer(1, 6))
    return out


@block("review_flags")
def review_flags(ctx):
    flags = ctx.pack.get("review_flags") or []
    head = ctx.p("Review flags", "h3")
    if not flags:
        return [head, ctx.plain("No review flag has been raised for this version.")]
    open_flags = [f for f in flags if f.get("open")]
    intro = ctx.p(
        f"{len(flags)} review flag(s) raised for this version, <b>{len(open_flags)} open</b>: a monitoring "
        "evaluation breached the production policy."
    )
    data = [ctx.heads("Flag", "Raised", "Evaluation", "Breaches", "Status")]
    extra = []
    for i, f in enumerate(flags, start=1):
        breaches = "; ".join(
            f"{ctx._metric_label(_by_id(ctx, f.get('evaluation')), b.get('metric'))} = "
            f"{num.metric(b.get('metric'), b.get('value'))} "
            f"(needs {fmt(b.get('comparator'))} {num.threshold(b.get('threshold'))})"
            for b in f.get("breaches") or []
        )
        data.append(
            [
                f["id"],
                fmt(f.get("raised_at")),
                f.get("evaluation"),
                ctx.cell(breaches or "\u2014"),
                "OPEN" if f.get("open") else f"resolved: {fmt(f.get('resolution'))}",
            ]
        )
        if f.get("open"):
            extra += [("TEXTCOLOR", (4, i), (4, i), ps.FAIL_FG), ("FONTNAME", (4, i), (4, i), ps.FONT_BOLD)]
    w = ctx.width
    return [
        head,
        intro,
        ctx.table(data, [0.1 * w, 0.2 * w, 0.12 * w, 0.4 * w, 0.18 * w], extra=extra),
        Spacer(1, 6),
    ]


@block("fairness_chart")
def fairness_chart(ctx):
    evs = [e for e in ctx.evaluations if e.get("by_group")]
    if not evs:
        return [ctx.plain("No fairness evaluation with per-group results is recorded for this version.")]
    out = []
    w = ctx.width
    for ev in evs:
        gm = ev.get("group_metric") or {}
        rows = ev["by_group"]
        name = gm.get("name") or sorted(rows[0].get("metrics") or {})[0]
        fav = ev.get("favourable_outcome") or {}
        out.append(
            ctx.p(
                f"Per-group results \u2014 {esc(ev.get('id'))} on {esc(ev.get('dataset'))} ({esc(ev.get('source'))})",
                "h3",
            )
        )
        out.append(
            ctx.p(
                f"Selection rate = share of the group predicted the positive class (label 1); favourable rate "
                f"= share predicted the favourable outcome. Ratios are "
                f"computed on the favourable outcome: <b>{esc(fav.get('meaning') or 'the positive class')}</b>"
                f"{'' if fav.get('declared') else ' (default: none was declared)'}. Minimum group size: "
                f"{esc(num.count(ev.get('min_group_size')) if ev.get('min_group_size') is not None else None)}.",
                "small",
            )
        )
        labels = [f"{r.get('group')}" for r in rows]
        values = [(r.get("metrics") or {}).get(name) for r in rows]
        for part in ctx._chunks(list(range(len(rows))), 30):
            out.append(
                charts.bar_chart(
                    [labels[i] for i in part],
                    [values[i] for i in part],
                    threshold=gm.get("threshold"),
                    comparator=gm.get("comparator"),
                    width=w,
                    value_label=f"{name} (share of the group, 0 to 1)",
                    flagged=[bool(rows[i].get("warnings")) for i in part],
                )
            )
        metric_names = sorted({k for r in rows for k in (r.get("metrics") or {})})
        for names in ctx._chunks(metric_names, 4):
            data = [ctx.heads("Group", "n", *names)]
            extra = []
            for i, r in enumerate(rows, start=1):
                mets = r.get("metrics") or {}
                group = escape(fmt(r.get("group")))
                for warning in r.get("warnings") or []:
                    group += f"<br/><font color='#A4231B'><b>Warning:</b> {escape(warning)}</font>"
                data.append([ctx.p(group, "cell"), num.count(r.get("n"))] + [num.measured(mets.get(k)) for k in names])
                if r.get("warnings"):
                    extra.append(("BACKGROUND", (0, i), (-1, i), ps.WARN_BG))
            cw = [0.36 * w, 0.14 * w]
            rest = (w - sum(cw)) / 4
            out += [Spacer(1, 4), ctx.table(data, cw + [rest] * len(names), extra=extra, zebra=False)]
        out += _fairness_intervals(ctx, ev, rows, name)
        out.append(Spacer(1, 8))
    return out


def _interval(values) -> str:
    if not values:
        return fmt(None)
    return f"{num.measured(values[0])} to {num.measured(values[1])}"


INTERVAL_RATES = ("tpr", "fpr")


def _fairness_intervals(ctx, ev, rows, name):
    """The 95% intervals of the per-group rates (Wilson) and of the ratio metrics (seeded bootstrap),
    with the method as the evaluation recorded it; a plain sentence when none was recorded."""
    method = ev.get("interval_method") or {}
    if not method.get("rates"):
        reason = method.get("note") or "none are recorded with this evaluation"
        return [Spacer(1, 4), ctx.p(f"Confidence intervals: {esc(reason)}.", "small")]
    level = num.measured(100 * float(method.get("level") or 0.95))
    out = [
        Spacer(1, 4),
        ctx.p(
            f"{level}% confidence intervals. Rates: {esc(method.get('rates'))}. Ratio and difference: "
            f"{esc(method.get('metrics'))}.",
            "small",
        ),
    ]
    keys = [name, *(k for k in INTERVAL_RATES if k != name)]
    data = [ctx.heads("Group", "n", *(f"{k} {level}% interval" for k in keys))]
    for r in rows:
        iv = r.get("intervals") or {}
        data.append(
            [ctx.p(escape(fmt(r.get("group"))), "cell"), num.count(r.get("n"))] + [_interval(iv.get(k)) for k in keys]
        )
    w = ctx.width
    cw = [0.28 * w, 0.12 * w]
    rest = (w - sum(cw)) / len(keys)
    out.append(ctx.table(data, cw + [rest] * len(keys), zebra=False))
    metrics = ev.get("metrics") or {}
    fav = (ev.get("favourable_outcome") or {}).get("meaning") or "the positive class"
    lines = []
    for key, label in (
        ("disparate_impact_ratio", f"on the favourable outcome ({fav})"),
        ("demographic_parity_difference", "of selection rates"),
    ):
        if key in metrics:
            lines.append(
                f"{key} {label}: {num.measured(metrics.get(key))}, {level}% interval "
                f"{_interval((ev.get('metric_intervals') or {}).get(key))}"
            )
    if lines:
        out.append(ctx.p(esc("; ".join(lines)) + ".", "small"))
    return out


@block("drift_chart")
def drift_chart(ctx):
    evs = [e for e in ctx.evaluations if e.get("features")]
    if not evs:
        return [ctx.plain("No drift evaluation with per-feature results is recorded for this version.")]
    out = []
    w = ctx.width
    for ev in evs:
        rows = ev["features"]
        out.append(
            ctx.p(
                f"Per-feature drift \u2014 {esc(ev.get('id'))} on {esc(ev.get('dataset'))} ({esc(ev.get('source'))})",
                "h3",
            )
        )
        out.append(
            ctx.p(
                "Each feature is tested by the method the evaluation recorded: <b>ks</b> (two-sample "
                "Kolmogorov-Smirnov) and <b>chi2</b> (chi-squared) decide on the p-value (drift when p is "
                "below the threshold); <b>wasserstein_normalized</b> and <b>jensen_shannon</b> decide on the "
                "statistic (drift when it is above the threshold).",
                "small",
            )
        )
        # one chart per deciding quantity, so a p-value is never drawn as a statistic
        groups: dict[tuple, list] = {}
        for r in rows:
            groups.setdefault((r.get("method"), r.get("decided_by"), r.get("threshold")), []).append(r)
        for (method, decided_by, thr), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
            quantity = "p_value" if decided_by == "p_value" else "statistic"
            axis = (
                f"{method} p-value (drift if < {num.threshold(thr)})"
                if quantity == "p_value"
                else f"{method} statistic ({members[0].get('statistic_name')}; drift if > {num.threshold(thr)})"
            )
            for part in ctx._chunks(members, 30):
                out.append(
                    charts.bar_chart(
                        [fmt(r.get("feature")) for r in part],
                        [r.get(quantity) for r in part],
                        threshold=thr,
                        comparator=">=" if quantity == "p_value" else "<=",
                        width=w,
                        value_label=axis,
                        threshold_text=(
                            f"drift below {num.threshold(thr)}"
                            if quantity == "p_value"
                            else f"drift above {num.threshold(thr)}"
                        ),
                    )
                )
        data = [ctx.heads("Feature", "Method", "Statistic", "p-value", "Decided by", "Threshold", "Drifted")]
        extra = []
        for i, r in enumerate(rows, start=1):
            data.append(
                [
                    fmt(r.get("feature")),
                    fmt(r.get("method")),
                    f"{fmt(r.get('statistic_name'))} = {num.measured(r.get('statistic'))}",
                    num.p_value(r.get("p_value")) if r.get("p_value") is not None else "\u2014",
                    "p-value" if r.get("decided_by") == "p_value" else "statistic",
                    f"{fmt(r.get('comparator'))} {num.threshold(r.get('threshold'))}",
                    "yes" if r.get("drifted") else "no",
                ]
            )
            if r.get("drifted"):
                extra += [("TEXTCOLOR", (6, i), (6, i), ps.FAIL_FG), ("FONTNAME", (6, i), (6, i), ps.FONT_BOLD)]
        out += [
            Spacer(1, 4),
            ctx.table(data, [0.22 * w, 0.15 * w, 0.2 * w, 0.1 * w, 0.11 * w, 0.12 * w, 0.1 * w], extra=extra),
            Spacer(1, 8),
        ]
    return out

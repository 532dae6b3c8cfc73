"""Appendix blocks: the model card and the datasheets."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import Spacer

from governance.reports import modelcard
from governance.reports import narratives as narr
from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.render.base import (
    NOT_PROVIDED,
    esc,
    fmt,
)
from governance.reports.render.flowables import _wrap_plain
from governance.reports.render.registry import block


def _fairness_for(ctx, slice_name: str) -> dict:
    """The fairness evaluation a model-card slice ("fairness:<dataset>...") comes from, if any."""
    for ev in ctx.evaluations:
        if ev.get("favourable_outcome") and f"{ev.get('kind')}:{ev.get('dataset')}" in str(slice_name):
            return ev
    return {}


@block("model_card")
def model_card(ctx):
    card = modelcard.model_card(ctx.pack)
    det, par = card["model_details"], card["model_parameters"]
    out = [
        ctx.p("Model details", "h3"),
        ctx.kv_table(
            [
                ("Name", det["name"]),
                ("Overview", det["overview"]),
                ("Documentation", det["documentation"]),
                ("Owners", ", ".join(o["name"] for o in det["owners"]) or None),
                ("Version", f"{det['version']['name']} ({det['version']['date']})"),
                ("Changes", det["version"]["diff"]),
                ("Licences", ", ".join(x.get("custom_text", "") for x in det["licenses"]) or None),
                ("Path", det["path"]),
            ],
            key_width=0.22,
        ),
        ctx.p("Model parameters", "h3"),
        ctx.kv_table(
            [
                ("Architecture", par["model_architecture"]),
                ("Data", ", ".join(d["name"] for d in par["data"]) or None),
                ("Input format", par["input_format"]),
                ("Output format", par["output_format"]),
            ],
            key_width=0.22,
        ),
        ctx.p("Quantitative analysis (factors and metrics)", "h3"),
    ]
    metrics = card["quantitative_analysis"]["performance_metrics"]
    if metrics:
        w = ctx.width
        data = [["Metric", "Value", "Slice (evaluation kind : dataset : factor)"]]
        for m in metrics:
            data.append(
                [
                    ctx._metric_label(_fairness_for(ctx, m["slice"]), m["type"]),
                    num.measured(m["value"]),
                    _wrap_plain(m["slice"], 0.5 * w - 10, ps.FONT, 7.8),
                ]
            )
        out.append(ctx.table(data, [0.3 * w, 0.2 * w, 0.5 * w]))
    else:
        out.append(ctx.plain("No evaluations are recorded; the model card has no quantitative analysis."))
    out.append(ctx.p("Considerations (caveats and recommendations)", "h3"))
    here = set((ctx.current or {}).get("narratives", ()))
    rows = []
    for field, key in modelcard.CONSIDERATION_NARRATIVES.items():
        title = field.replace("_", " ").capitalize()
        if key in here:
            rows.append(
                [
                    ctx.cell(title, "cell_bold"),
                    ctx.p(f"See the statement \u201c{escape(narr.label(key))}\u201d below.", "cell"),
                ]
            )
        elif narr.is_provided(ctx.narratives, key):
            rows.append([ctx.cell(title, "cell_bold"), ctx.cell(ctx.narratives[key]["text"])])
        else:
            rows.append(
                [
                    ctx.cell(title, "cell_bold"),
                    ctx.p(f"<font color='#B3261E'><b>{NOT_PROVIDED}</b></font>: {escape(narr.label(key))}", "cell"),
                ]
            )
    out += [ctx.table(rows, [0.22 * ctx.width, 0.78 * ctx.width], header=False), Spacer(1, 6)]
    return out


@block("datasheets")
def datasheets(ctx):
    sheets = modelcard.datasheets(ctx.pack)
    if not sheets:
        return [ctx.plain("No datasets are recorded for this version; there are no datasheets.")]
    out = [
        ctx.p(
            "Composition, collection and preprocessing are filled from the data catalogue. "
            "Motivation, consent, uses, distribution terms and maintenance are written by people "
            "and follow the datasheets as statements.",
            "small",
        )
    ]
    for sh in sheets:
        comp, coll, pre = sh["composition"], sh["collection_process"], sh["preprocessing"]
        tw = coll["time_window"]
        out += [
            ctx.p(f"Datasheet: {esc(sh['name'])}", "h3"),
            ctx.kv_table(
                [
                    ("Composition: rows", comp["rows"]),
                    ("Composition: features", comp["features"]),
                    ("Composition: label", comp["label"]),
                    ("Sensitive attributes", comp["sensitive_attributes"]),
                    ("Collection: source", coll["source"]),
                    ("Collection: location", coll["uri"]),
                    ("Collection: SHA-256", coll["sha256"]),
                    ("Collection: time window", f"{fmt(tw['start'])} to {fmt(tw['end'])}"),
                    ("Collection: selection", coll["selection"]),
                    ("Preprocessing steps", pre["steps"]),
                    ("Labelling", pre["labelling"]),
                    ("Distribution: licence", sh["distribution"]["licence"]),
                ],
                hash_keys=("Collection: SHA-256",),
                key_width=0.25,
            ),
            Spacer(1, 6),
        ]
    return out

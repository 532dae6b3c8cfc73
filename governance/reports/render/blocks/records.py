"""Blocks that print records of the model and version: key facts, inventory, lineage, datasets, generic tables."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import Spacer

from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports import regulation
from governance.reports.render.base import (
    fmt,
    lookup,
)
from governance.reports.render.registry import block


@block("note")
def note(ctx, text=""):
    return [ctx.box([ctx.p(escape(text), "note")], bg=ps.NOTE_BG, border=ps.RULE), Spacer(1, 6)]


@block("completeness")
def completeness(ctx):
    return ctx.completeness_block()


@block("field_table")
def field_table(ctx, rows=(), title=None):
    out = [ctx.p(escape(title), "h3")] if title else []
    out += [ctx.kv_table([(label, lookup(ctx.pack, path)) for label, path in rows]), Spacer(1, 6)]
    return out


@block("records_table")
def records_table(ctx, source="", columns=(), empty_text="No records."):
    records = lookup(ctx.pack, source) or []
    if not records:
        return [ctx.plain(empty_text)]
    data = [ctx.heads(*[c[1] for c in columns])]
    for rec in records:
        data.append([ctx.cell(rec.get(c[0])) for c in columns])
    weights = [float(c[2]) if len(c) > 2 else 1.0 for c in columns]
    return [ctx.table(data, [ctx.width * x / sum(weights) for x in weights]), Spacer(1, 6)]


@block("static_table")
def static_table(ctx, columns=(), rows=()):
    data = [ctx.heads(*columns)] + [[ctx.cell(c) for c in r] for r in rows]
    w = ctx.width / len(columns)
    return [ctx.table(data, [w] * len(columns)), Spacer(1, 6)]


@block("model_summary")
def model_summary(ctx):
    m, v = ctx.pack.get("model") or {}, ctx.pack.get("version") or {}
    eu = m.get("eu_ai_act") or {}
    rows = [
        ("Model", m.get("name")),
        ("Purpose", m.get("purpose")),
        ("Owner", m.get("owner")),
        ("Business unit", m.get("business_unit")),
        ("SR 11-7 risk tier", m.get("sr11_7_tier")),
        ("EU AI Act category", eu.get("category")),
        ("Annex III area", eu.get("annex_iii_area")),
        ("Governing regimes", m.get("governing_regimes")),
        ("Model status", m.get("status")),
        ("Version", v.get("version")),
        ("Stage", v.get("stage")),
        ("Registered", f"{fmt(v.get('registered_at'))} by {fmt(v.get('registered_by'))}"),
    ]
    return [ctx.kv_table(rows), Spacer(1, 6)]


@block("model_inventory")
def model_inventory(ctx):
    m, v = ctx.pack.get("model") or {}, ctx.pack.get("version") or {}
    rows = [
        ("Purpose", m.get("purpose")),
        ("Products / business line", m.get("products")),
        ("Actual or expected usage", m.get("usage")),
        ("Restrictions on use", m.get("restrictions")),
        ("Inputs and sources", m.get("inputs")),
        ("Upstream models", m.get("upstream_models")),
        ("Outputs and intended use", m.get("outputs")),
        ("Status", m.get("status")),
        ("Last updated", v.get("registered_at")),
        ("Policy exceptions (gate overrides by approvers)", ctx._override_summary()),
        ("Owner", m.get("owner")),
        ("Developer", m.get("developer") or v.get("registered_by")),
        ("Validators", ", ".join(ctx._validators()) or None),
        ("Last validated", m.get("last_validated")),
        ("Next review", m.get("next_review")),
        ("Validity horizon", m.get("validity_horizon")),
    ]
    return [ctx.kv_table(rows), Spacer(1, 6)]


@block("classification")
def classification(ctx):
    """Registered classification, and the Annex III point derived by the outline's rules."""
    m = ctx.pack.get("model") or {}
    eu = m.get("eu_ai_act") or {}
    point = regulation.annex_iii_point(m, ctx.outline.get("annex_iii_points") or [])
    derogation = ctx.outline.get("derogation") or {}
    rows = [
        ("Declared use case", m.get("purpose")),
        ("EU AI Act category (registered)", eu.get("category")),
        ("Annex III area (registered)", eu.get("annex_iii_area")),
        (
            "Annex III point (derived from the area and the purpose)",
            f"{point['point']}: {point['text']} ({point['citation']})"
            if point
            else "none derived from the registered area and purpose",
        ),
    ]
    if point and point.get("profiles_natural_persons") and derogation:
        rows.append((f"Derogation ({derogation['citation']})", derogation["text"]))
    if m.get("sr11_7_tier"):
        rows.append(("SR 11-7 risk tier", m.get("sr11_7_tier")))
    return [ctx.kv_table(rows), Spacer(1, 6)]


@block("conformity_route")
def conformity_route(ctx):
    """The conformity-assessment procedure for the derived Annex III point, and the notified body."""
    m = ctx.pack.get("model") or {}
    point = regulation.annex_iii_point(m, ctx.outline.get("annex_iii_points") or [])
    route = regulation.conformity_route(point, ctx.outline.get("conformity") or {})
    if route is None:
        rows = [
            ("Conformity-assessment procedure", "not derived: no Annex III point is derived for this system"),
            ("Notified body", lookup(ctx.pack, "organisation.notified_body")),
        ]
    else:
        rows = [
            (f"Conformity-assessment procedure ({route['citation']})", route["procedure"]),
            ("Notified body", route["notified_body"]),
        ]
    return [ctx.kv_table(rows, key_width=0.36), Spacer(1, 6)]


@block("lineage_table")
def lineage_table(ctx):
    v = ctx.pack.get("version") or {}
    lin = v.get("lineage") or {}
    hashes = ("Artefact SHA-256", "Training data SHA-256", "Code commit")
    rows = [
        ("Version", v.get("version")),
        ("Artefact URI", lin.get("artifact_uri")),
        ("Artefact SHA-256", lin.get("artifact_sha256")),
        ("Training data", lin.get("training_data_ref")),
        ("Training data SHA-256", lin.get("training_data_sha256")),
        ("Code commit", lin.get("code_commit")),
        ("Framework", lin.get("framework")),
        ("Registered by", v.get("registered_by")),
        ("Registered at", v.get("registered_at")),
    ]
    return [ctx.p("Lineage", "h3"), ctx.kv_table(rows, hash_keys=hashes, key_width=0.25), Spacer(1, 6)]


@block("parameters_table")
def parameters_table(ctx):
    params = ((ctx.pack.get("version") or {}).get("lineage") or {}).get("parameters") or {}
    if not params:
        return [ctx.plain("No parameters are recorded for this version.")]
    rows = [(k, params[k]) for k in sorted(params)]
    return [ctx.p("Parameters", "h3"), ctx.kv_table(rows, key_width=0.35), Spacer(1, 6)]


@block("version_history")
def version_history(ctx):
    hist = ctx.pack.get("version_history") or []
    if not hist:
        return [ctx.plain("No version history is recorded.")]
    data = [ctx.heads("Version", "Stage", "Registered", "By", "Artefact SHA-256", "Change")]
    for h in hist:
        data.append(
            [
                ctx.cell(h.get("version")),
                ctx.cell(h.get("stage")),
                ctx.cell(h.get("registered_at")),
                ctx.cell(h.get("registered_by")),
                ctx.hash_cell(h.get("artifact_sha256")),
                ctx.cell(h.get("change_summary")),
            ]
        )
    w = ctx.width
    return [
        ctx.p("Version history", "h3"),
        ctx.table(data, [0.09 * w, 0.11 * w, 0.16 * w, 0.15 * w, 0.24 * w, 0.25 * w]),
        Spacer(1, 6),
    ]


@block("datasets_table")
def datasets_table(ctx):
    ds = ctx.pack.get("datasets") or []
    if not ds:
        return [ctx.plain("No datasets are recorded for this version.")]
    data = [ctx.heads("Dataset", "Role", "Source", "Rows", "Time window", "SHA-256")]
    for d in ds:
        tw = d.get("time_window") or {}
        data.append(
            [
                ctx.cell(d.get("name")),
                ctx.cell(d.get("role")),
                ctx.cell(d.get("source")),
                num.count(d.get("rows")) if d.get("rows") is not None else "\u2014",
                ctx.cell(f"{fmt(tw.get('start'))} to {fmt(tw.get('end'))}"),
                ctx.hash_cell(d.get("sha256")),
            ]
        )
    w = ctx.width
    return [ctx.table(data, [0.25 * w, 0.11 * w, 0.1 * w, 0.13 * w, 0.13 * w, 0.28 * w]), Spacer(1, 6)]


@block("model_specification")
def model_specification(ctx):
    """The model's actual specification when the artefact carries it (coefficients, intercept,
    the decision cut-offs the evaluations used)."""
    spec = (ctx.pack.get("version") or {}).get("specification")
    out = [ctx.p("Model specification", "h3")]
    if not spec:
        return out + [
            ctx.plain("The artefact does not carry a readable specification; it is described by the developer below.")
        ]
    out.append(
        ctx.plain(
            f"Read from the registered artefact ({spec.get('format') or 'format not stated'}), whose SHA-256 matches "
            f"the lineage. Target: {fmt(spec.get('target'))}."
        )
    )
    data = [ctx.heads("Term", "Coefficient")]
    for name, coef in zip(spec.get("features") or [], spec.get("coefficients") or [], strict=False):
        data.append([name, num.measured(coef)])
    data.append(["intercept", num.measured(spec.get("intercept"))])
    w = ctx.width
    out.append(ctx.table(data, [0.6 * w, 0.4 * w]))
    cut = spec.get("cut_offs") or []
    out.append(
        ctx.plain(
            "Decision cut-off used by the evaluations: " + ", ".join(num.threshold(c) for c in cut)
            if cut
            else "No decision cut-off is recorded by the evaluations."
        )
    )
    return out + [Spacer(1, 6)]


@block("backtest_status")
def backtest_status(ctx):
    """Whether out-of-time testing is possible: only when some dataset of the version carries dates."""
    datasets = ctx.pack.get("datasets") or []
    dated = [d for d in datasets if (d.get("time_window") or {}).get("start")]
    if dated:
        return [ctx.plain(f"{len(dated)} dataset(s) carry a time window; out-of-time testing is possible on them.")]
    return [
        ctx.p(
            "<b>Out-of-time back-testing is not possible:</b> no dataset of this version carries dates "
            f"({len(datasets)} dataset(s) recorded). Hold-out results are out-of-sample, not out-of-time.",
            "body",
        ),
        Spacer(1, 6),
    ]


@block("prohibited_basis_inputs")
def prohibited_basis_inputs(ctx, bases=None):
    """The model's inputs matched against the prohibited bases the outline lists (name terms)."""
    version = ctx.pack.get("version") or {}
    spec = version.get("specification") or {}
    params = (version.get("lineage") or {}).get("parameters") or {}
    features = spec.get("features") or params.get("features") or []
    if isinstance(features, str):
        features = [features]
    if not features:
        return [ctx.plain("The model's inputs are not recorded; the prohibited-basis check cannot run.")]
    data = [ctx.heads("Input", "Matches a prohibited basis by name")]
    hits = 0
    for feature in features:
        matched = sorted(
            basis for basis, terms in (bases or {}).items() if any(t in str(feature).lower() for t in terms)
        )
        hits += bool(matched)
        data.append([str(feature), ", ".join(matched) if matched else "no"])
    w = ctx.width
    return [
        ctx.plain(
            f"{len(features)} input(s); {hits} match a prohibited basis by name. A name match is a prompt for "
            "the determination below, not a finding; proxies are not detected by name."
        ),
        ctx.table(data, [0.5 * w, 0.5 * w]),
        Spacer(1, 6),
    ]

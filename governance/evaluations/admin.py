"""Evaluations in the admin: read-only evidence pages written for people.

The page of one evaluation shows its checks (PASS / FAIL), the input digest and library versions,
the per-group fairness table with the worst disparities highlighted, the per-feature drift table
sorted by severity, performance figures, and server-side SVG bar charts. Nothing is editable:
evaluations are created through the API / service and never change once finished.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from audit.admin import ReadOnlyAdmin
from governance.evaluations import selectors
from governance.evaluations.models import Evaluation, ReferenceSample
from governance.workspace import charts as svg_charts

RATE_COLUMNS = ("selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy")
RATE_LABELS = ("Selection rate", "TPR", "FPR", "FNR", "TNR", "Precision", "Accuracy")
DISPARITY_COLUMNS = ("selection_rate", "tpr", "fpr")
SEVERITY = {"significant": 2, "moderate": 1, "none": 0, None: -1}


def short(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return str(value)


def group_label(group: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "overall"


def bar_chart(
    rows: list[tuple[str, float | None, str]],
    *,
    maximum: float | None = None,
    marks: tuple[float, ...] = (),
    width: int = 560,
) -> str:
    """A horizontal bar chart as inline SVG: rows of (label, value, css class)."""
    values = [v for _l, v, _c in rows if v is not None]
    top = maximum if maximum is not None else max([*values, *marks, 1e-12])
    top = top or 1.0
    label_w, bar_w, row_h = 200, width - 270, 22
    height = row_h * len(rows) + 24
    parts = [
        f'<svg class="ev-chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value, css) in enumerate(rows):
        y = 4 + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="lbl">{escape(label[:40])}</text>')
        if value is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 14}" class="val">undefined</text>')
            continue
        w = max(0.0, min(1.0, value / top)) * bar_w
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" class="bar {css}">'
            f"<title>{escape(label)}: {short(value)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" class="val">{short(value)}</text>')
    for mark in marks:
        x = label_w + min(1.0, mark / top) * bar_w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - 18}" class="mark"/>'
            f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle" class="val">{short(mark)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every label and value above is escaped or numeric


def fairness_view(evaluation: Evaluation) -> dict:
    rows = [r for r in evaluation.result.get("by_group", []) if not r.get("overall")]
    overall = next((r for r in evaluation.result.get("by_group", []) if r.get("overall")), None)
    extremes = {}
    for col in DISPARITY_COLUMNS:
        vals = [r[col] for r in rows if r.get(col) is not None]
        if len(vals) > 1 and max(vals) > min(vals):
            extremes[col] = (min(vals), max(vals))
    small = {json.dumps(w.get("group"), sort_keys=True) for w in evaluation.warnings if w.get("code") == "small_group"}
    sr = overall["selection_rate"] if overall else None
    worst_gap = max((abs(r["selection_rate"] - sr) for r in rows), default=None) if sr is not None else None
    table = []
    for r in rows:
        cells = []
        for col in RATE_COLUMNS:
            v = r.get(col)
            css = ""
            if col in extremes and v in extremes[col]:
                css = "extreme"
            cells.append({"value": short(v), "css": css})
        gap = abs(r["selection_rate"] - sr) if sr is not None else None
        table.append(
            {
                "label": group_label(r["group"]),
                "count": r["count"],
                "cells": cells,
                "small": json.dumps(r["group"], sort_keys=True) in small,
                "worst": worst_gap is not None and gap == worst_gap and worst_gap > 0,
            }
        )
    chart_rows = [
        (group_label(r["group"]), r["selection_rate"], "worst" if t["worst"] else "")
        for r, t in zip(rows, table, strict=True)
    ]
    if overall:
        chart_rows.append(("overall", overall["selection_rate"], "overall"))
    return {
        "columns": RATE_COLUMNS,
        "column_labels": RATE_LABELS,
        "rows": table,
        "overall": {"count": overall["count"], "cells": [short(overall.get(c)) for c in RATE_COLUMNS]}
        if overall
        else None,
        "chart": bar_chart(chart_rows, maximum=1.0),
        "tpr_chart": bar_chart([(group_label(r["group"]), r["tpr"], "") for r in rows], maximum=1.0),
    }


def drift_view(evaluation: Evaluation) -> dict:
    features = sorted(
        evaluation.result.get("features", []),
        key=lambda f: (not f.get("drifted"), -SEVERITY.get(f.get("psi_band"), -1), -(f.get("psi") or 0)),
    )
    rows = [
        {
            "feature": f["feature"],
            "type": f["type"],
            "drifted": f.get("drifted"),
            "band": f.get("psi_band"),
            "psi": short(f.get("psi")),
            "js": short(f.get("js_distance")),
            "wasserstein": short(f.get("wasserstein_normalized")),
            "ks": short(f.get("ks_statistic")),
            "p": short(f.get("ks_pvalue", f.get("chi2_pvalue"))),
            "method": f.get("method"),
            "n": f"{f.get('n_reference')} / {f.get('n_current')}",
        }
        for f in features
    ]
    chart = bar_chart([(f["feature"], f.get("psi"), f.get("psi_band") or "") for f in features], marks=(0.1, 0.25))
    return {
        "rows": rows,
        "chart": chart,
        "drift_share": evaluation.result.get("drift_share"),
        "dataset_drifted": evaluation.result.get("dataset_drifted"),
    }


def performance_view(evaluation: Evaluation) -> dict:
    ci = evaluation.result.get("confidence_intervals", {})
    rows = [
        {
            "name": name,
            "value": short(value),
            "lower": short((ci.get(name) or {}).get("lower")),
            "upper": short((ci.get(name) or {}).get("upper")),
        }
        for name, value in evaluation.metrics.items()
    ]
    result = evaluation.result or {}
    title = f"evaluation #{evaluation.pk}"
    curve = result.get("roc_curve")
    roc = svg_charts.roc_chart(curve, auc=evaluation.metrics.get("auc"), title=f"ROC curve of {title}") if curve else ""
    calibration = svg_charts.calibration_chart(result.get("calibration") or [], title=f"Calibration of {title}")
    return {
        "rows": rows,
        "confusion": result.get("confusion"),
        # built by charts.py from numbers and escaped text
        "roc_chart": mark_safe(roc),
        "roc_curve": curve,
        "roc_recorded": "roc_curve" in result,  # recorded as null when the labels hold one class
        "calibration_chart": mark_safe(calibration),
        "calibration": [r for r in result.get("calibration") or [] if r.get("count")],
    }


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "model_and_version",
        "kind",
        "dataset",
        "source",
        "status_chip",
        "checks_chip",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status", "source", ("model_version__model", admin.RelatedOnlyFieldListFilter))
    search_fields = ("dataset", "model_version__model__name", "model_version__version", "input_sha256")
    list_select_related = ("model_version__model", "created_by")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return selectors.evaluation_list()

    @admin.display(description="model / version", ordering="model_version__model__name")
    def model_and_version(self, obj):
        return f"{obj.model_version.model.name} {obj.model_version.version}"

    @admin.display(description="status", ordering="status")
    def status_chip(self, obj):
        css = {"done": "pass", "failed": "fail"}.get(obj.status, "neutral")
        if obj.progress_text:
            return format_html(
                '<span class="ev-chip {}">{}</span> <span class="muted ev-progress">{}</span>',
                css,
                obj.status,
                obj.progress_text,
            )
        return format_html('<span class="ev-chip {}">{}</span>', css, obj.status)

    @admin.display(description="checks")
    def checks_chip(self, obj):
        if obj.passed is None:
            return "—"
        failed = sum(1 for c in obj.checks if not c.get("passed"))
        if failed:
            return format_html('<span class="ev-chip fail">FAIL {}/{}</span>', failed, len(obj.checks))
        return format_html('<span class="ev-chip pass">PASS {}</span>', len(obj.checks))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        evaluation = self.get_object(request, object_id)
        if evaluation is None or not self.has_view_permission(request, evaluation):
            return super().change_view(request, object_id, form_url, extra_context)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(evaluation),
            "evaluation": evaluation,
            "original": evaluation,
            "checks": [{**c, "value_short": short(c.get("value"))} for c in evaluation.checks],
            "input": (evaluation.result or {}).get("input", {}),
            "fairness": fairness_view(evaluation) if evaluation.kind == "fairness" and evaluation.result else None,
            "drift": drift_view(evaluation) if evaluation.kind == "drift" and evaluation.result else None,
            "performance": performance_view(evaluation)
            if evaluation.kind == "performance" and evaluation.status == "done"
            else None,
            "reported": [{"name": k, "value": short(v)} for k, v in evaluation.metrics.items()]
            if evaluation.kind == "reported"
            else None,
            "has_view_permission": True,
            **_links(evaluation),
        }
        return TemplateResponse(request, "admin/evaluations/evaluation/detail.html", context)


def _links(evaluation: Evaluation) -> dict:
    """The requests whose gates used this evaluation, and the evaluation it superseded (the previous
    one of the same kind and dataset for the version)."""
    # the requests of the version, through the reverse relation (evaluations sit below the workflow)
    used_by = [
        req
        for req in evaluation.model_version.promotion_requests.order_by("-id")
        if any(row.get("evaluation_id") == evaluation.pk for row in req.gate_results or [])
    ]
    superseded = (
        Evaluation.objects.filter(
            model_version_id=evaluation.model_version_id,
            kind=evaluation.kind,
            dataset=evaluation.dataset,
            created_at__lte=evaluation.created_at,
        )
        .exclude(pk=evaluation.pk)
        .order_by("-created_at", "-id")
        .first()
    )
    return {"used_by_requests": used_by, "superseded": superseded}


@admin.register(ReferenceSample)
class ReferenceSampleAdmin(ReadOnlyAdmin):
    list_display = ("id", "model_version", "file_format", "rows", "sha256", "created_by", "created_at")
    list_filter = ("file_format",)
    list_select_related = ("model_version__model", "created_by")
    readonly_fields = ("model_version", "file", "file_format", "sha256", "columns", "rows", "created_by", "created_at")

"""Workspace pages inside the admin site (URLs in ``WorkspaceAdminSite.get_urls``).

Thin views: reads through selectors, changes through the domain services, refusals shown as
messages (the services have already audited them).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from audit import selectors as audit_selectors
from governance.accounts.principal import Principal
from governance.common.errors import DomainError
from governance.evaluations.models import Evaluation
from governance.oversight import dashboard as oversight_dashboard
from governance.registry.models import ModelVersion, RegisteredModel
from governance.workflow import services as workflow_services
from governance.workflow.models import PromotionRequest
from governance.workspace import charts as charts_module
from governance.workspace import hub, integrations, selectors, services


def version_packs(request, version_id: int):
    """The documentation packs of one version (the part of its page that follows a job's progress)."""
    if not request.user.has_perm("registry.view_modelversion"):
        raise PermissionDenied
    version = get_object_or_404(ModelVersion, pk=version_id)
    return TemplateResponse(
        request,
        "admin/registry/modelversion/_packs.html",
        {"original": version, **hub.packs_context(version, request.user)},
    )


#: the ongoing model risk management panels (templates/admin/oversight/_dash_*.html, governance.oversight.dashboard)
OVERSIGHT_SECTIONS = ("validations_due", "overdue_findings", "incident_deadlines")


def _sections(user) -> list[str]:
    """The dashboard's cards, most relevant first for the signed-in role."""
    if user.has_role("auditor", superusers=False):
        return [
            "audit",
            "flags",
            *OVERSIGHT_SECTIONS,
            "discrepancies",
            "production",
            "failed",
            "matrix",
            "integrations",
        ]
    if user.has_role("risk_officer", "validator", superusers=False):
        return [
            "awaiting",
            "flags",
            *OVERSIGHT_SECTIONS,
            "discrepancies",
            "production",
            "failed",
            "matrix",
            "integrations",
            "audit",
        ]
    if user.has_role("developer", superusers=False):
        return ["mine", "failed", "matrix", "production"]
    return [
        "awaiting",
        "flags",
        *OVERSIGHT_SECTIONS,
        "discrepancies",
        "production",
        "failed",
        "matrix",
        "integrations",
        "audit",
        "mine",
    ]


def dashboard(site, request, extra_context=None):
    """The landing page after login (the admin's index): what needs me, what is failing, the log's state."""
    user = request.user
    sections = _sections(user)
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "subtitle": None,
        "sections": sections,
        "app_list": site.get_app_list(request),
        **(extra_context or {}),
    }
    if "awaiting" in sections:
        context["awaiting"] = selectors.awaiting_signature(user)
    if "mine" in sections:
        context["mine"] = selectors.my_requests(user)
    if "flags" in sections:
        flags = selectors.open_review_flags()
        context["flags"] = list(flags[: selectors.DASHBOARD_LIST_LIMIT])
        context["flag_count"] = flags.count()
    if "failed" in sections:
        failed = selectors.failed_gate_evaluations()
        context["failed"], context["failed_count"] = failed[: selectors.DASHBOARD_LIST_LIMIT], len(failed)
        context["failed_days"] = selectors.FAILED_GATE_WINDOW_DAYS
    if "matrix" in sections:
        context["matrix"] = selectors.tier_stage_matrix()
    if "production" in sections:
        production = selectors.production_evidence()
        context["production"] = production[: selectors.DASHBOARD_LIST_LIMIT]
        context["production_count"] = len(production)
    if "audit" in sections:
        context["audit"] = selectors.audit_state()
    if "integrations" in sections:
        context["integrations"] = integrations.integration_health()
    if "discrepancies" in sections:
        context["discrepancies"] = selectors.watched_discrepancies()
    for name in OVERSIGHT_SECTIONS:
        if name in sections:
            context[name] = getattr(oversight_dashboard, name)()
    return TemplateResponse(request, "admin/workspace/dashboard.html", context)


def _can_view_audit(user) -> bool:
    return user.has_perm("audit.view_auditevent") or user.has_role("auditor", "risk_officer")


def _verifications_context() -> dict:
    runs = list(audit_selectors.verifications()[:10])
    return {"runs": runs, "running": any(r.finished_at is None for r in runs)}


def audit_page(request):
    """The auditor's audit page: the log's state, verify it now, sign a checkpoint now."""
    if not _can_view_audit(request.user):
        raise PermissionDenied
    principal = Principal.for_request(request)
    if request.method == "POST":
        try:
            if "verify" in request.POST:
                services.audit_verification_request(by=principal)
                messages.success(request, "Verification started; its result appears below (this page follows it).")
            elif "checkpoint" in request.POST:
                checkpoint = services.audit_checkpoint_sign(by=principal)
                messages.success(request, f"Checkpoint signed at size {checkpoint.size}.")
        except DomainError as exc:
            messages.error(request, f"Refused (recorded in the audit log): {exc.message}")
        return HttpResponseRedirect(request.path)
    context = {
        **admin.site.each_context(request),
        "title": "Audit log",
        "audit": selectors.audit_state(),
        "checkpoints": list(audit_selectors.checkpoints().only("size", "created_at", "key_names")[:5]),
        "can_operate": not request.user.is_service_account and request.user.has_role(*services.AUDIT_OPERATORS),
        "verifications_url": reverse("admin:workspace_audit_verifications"),
        **_verifications_context(),
    }
    return TemplateResponse(request, "admin/workspace/audit.html", context)


def audit_verifications(request):
    if not _can_view_audit(request.user):
        raise PermissionDenied
    return TemplateResponse(request, "admin/workspace/_verifications.html", _verifications_context())


def _require_post(request):
    if request.method != "POST":
        raise PermissionDenied


def version_request_create(request, version_id: int):
    """Create a promotion request from the version page (the service decides, refuses and audits)."""
    _require_post(request)
    version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=version_id)
    back = reverse("admin:registry_modelversion_change", args=[version.pk])
    try:
        req = workflow_services.promotion_request_create(
            by=Principal.for_request(request),
            version=version,
            target_stage=request.POST.get("target_stage", ""),
            reason=request.POST.get("reason", ""),
        )
    except DomainError as exc:
        messages.error(request, f"Not requested (recorded in the audit log): {exc.message}")
        return HttpResponseRedirect(back + "#requests")
    messages.success(
        request,
        f"Request #{req.pk} created: {version.model.name} {version.version} → {req.target_stage}; "
        f"gates {'pass' if req.gates_passed else 'fail'}, awaiting signatures.",
    )
    return HttpResponseRedirect(back + "#requests")


def request_withdraw(request, request_id: int):
    _require_post(request)
    req = get_object_or_404(PromotionRequest.objects.select_related("model_version"), pk=request_id)
    back = request.POST.get("next") or reverse("admin:registry_modelversion_change", args=[req.model_version_id])
    if not back.startswith("/admin/"):
        back = reverse("admin:index")
    try:
        workflow_services.promotion_request_withdraw(
            by=Principal.for_request(request), request=req, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, f"Not withdrawn (recorded in the audit log): {exc.message}")
        return HttpResponseRedirect(back)
    messages.success(request, f"Request #{req.pk} withdrawn.")
    return HttpResponseRedirect(back)


def model_rollback(request, model_id: int):
    """A risk officer asks to re-promote an earlier production version (judged under the rollback policy)."""
    _require_post(request)
    model = get_object_or_404(RegisteredModel, pk=model_id)
    back = reverse("admin:registry_registeredmodel_change", args=[model.pk])
    version_id = request.POST.get("version", "")
    by = Principal.for_request(request)
    try:
        version = workflow_services.version_for_request(by, int(version_id) if version_id.isdigit() else 0, model=model)
        req = workflow_services.rollback_request_create(by=by, version=version, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        messages.error(request, f"No rollback requested (recorded in the audit log): {exc.message}")
        return HttpResponseRedirect(back + "#rollback")
    messages.success(request, f"Rollback request #{req.pk} created for {model.name} {req.model_version.version}.")
    return HttpResponseRedirect(reverse("admin:workflow_promotionrequest_change", args=[req.pk]))


def _model_or_403(request, model_id: int) -> RegisteredModel:
    if not request.user.has_perm("registry.view_registeredmodel"):
        raise PermissionDenied
    return get_object_or_404(RegisteredModel, pk=model_id)


def model_compare(request, model_id: int):
    """Any two versions of a model side by side (default: the newest candidate against production)."""
    model = _model_or_403(request, model_id)
    versions = list(model.versions.order_by("-registered_at", "-id"))
    by_id = {str(v.pk): v for v in versions}
    production = next((v for v in versions if v.stage == "production"), None)
    candidate = next((v for v in versions if v.stage in ("development", "staging")), None)
    a = by_id.get(request.GET.get("a", "")) or candidate or (versions[0] if versions else None)
    b = by_id.get(request.GET.get("b", "")) or production or (versions[1] if len(versions) > 1 else a)
    context = {
        **admin.site.each_context(request),
        "title": f"Compare versions of {model.name}",
        "model": model,
        "versions": versions,
        "a": a,
        "b": b,
        "comparison": selectors.compare_versions(a, b) if a and b else None,
    }
    return TemplateResponse(request, "admin/workspace/compare.html", context)


def model_trends(request, model_id: int):
    """Each gated metric over time across the model's evaluations, with the threshold and production periods."""
    model = _model_or_403(request, model_id)
    periods = selectors.production_periods(model)
    evaluations = list(
        Evaluation.objects.filter(model_version__model=model, status="done")
        .select_related("model_version")
        .order_by("created_at", "id")
    )
    charts = []
    for check in selectors.gated_metrics(model):
        by_version: dict[str, list] = {}
        for e in evaluations:
            value = selectors._number((e.metrics or {}).get(check["metric"]))
            if e.kind in (check["kind"], "reported") and value is not None:
                href = reverse("admin:evaluations_evaluation_change", args=[e.pk])
                by_version.setdefault(e.model_version.version, []).append((e.finished_at or e.created_at, value, href))
        palette = charts_module.PALETTE
        series = [
            {"label": label, "points": points, "colour": palette[i % len(palette)]}
            for i, (label, points) in enumerate(by_version.items())
        ]
        threshold = selectors._number(check.get("threshold"))
        charts.append(
            {
                "check": check,
                "series": series,
                "svg": mark_safe(  # built by charts.py from escaped values
                    charts_module.trend_chart(
                        series,
                        threshold=threshold,
                        comparator=check.get("comparator", ""),
                        periods=[(start, end) for start, end, _ in periods],
                        title=f"{check['metric']} over time",
                    )
                ),
            }
        )
    calibration = []
    for e in evaluations:
        if e.kind == "performance" and (e.result or {}).get("calibration"):
            svg = charts_module.calibration_chart(e.result["calibration"], title=f"Calibration of evaluation {e.pk}")
            curve = e.result.get("roc_curve")
            auc = (e.metrics or {}).get("auc")
            roc = charts_module.roc_chart(curve, auc=auc, title=f"ROC curve of evaluation {e.pk}") if curve else ""
            # escaped by charts.py
            calibration.append({"evaluation": e, "svg": mark_safe(svg), "roc": mark_safe(roc)})
    context = {
        **admin.site.each_context(request),
        "title": f"Trends of {model.name}",
        "model": model,
        "charts": charts,
        "periods": periods,
        "calibration": calibration[-4:],
        "palette": charts_module.PALETTE,
    }
    return TemplateResponse(request, "admin/workspace/trends.html", context)

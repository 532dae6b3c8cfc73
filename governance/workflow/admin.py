"""The risk officer's admin: the signature queue, the request page with its signing forms, the
policy editor (every save is a new, audited version) and a model's stage timeline.

Views are thin: they read through ``selectors``, change state through ``services`` and show a
refused attempt (already audited by the service) as an error message.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from audit.admin import ReadOnlyAdmin
from governance.accounts import stepup
from governance.accounts.principal import Principal
from governance.common.admin import ServiceBackedAdmin
from governance.common.errors import DomainError
from governance.evaluations import selectors as evaluation_selectors
from governance.evaluations.models import Evaluation
from governance.registry.models import RegisteredModel
from governance.workflow import committees, gates, selectors, services, signing
from governance.workflow.models import (
    OPEN_STATUSES,
    Approval,
    Committee,
    Policy,
    PromotionRequest,
    ReviewFlag,
    StageTransition,
)
from governance.workspace import selectors as workspace_selectors

QUEUE_PAGE_SIZE = 25  # rows per page of the queue (the tab counts are over every row)
KEY_METRICS = (
    "auc",
    "gini",
    "ks_statistic",
    "accuracy",
    "demographic_parity_difference",
    "disparate_impact_ratio",
    "equalized_odds_difference",
    "max_psi",
    "drift_share",
)


def _age(moment: dt.datetime) -> str:
    delta = timezone.now() - moment
    if delta.days >= 1:
        return f"{delta.days} d"
    hours = delta.seconds // 3600
    return f"{hours} h" if hours else f"{max(delta.seconds // 60, 1)} min"


def _short(value) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4g}"


def _checklist(rows: list[dict], warnings: dict[int, list[str]] | None = None) -> list[dict]:
    """The gate rows for display; ``warnings`` (evaluation id -> sentences) travel with their evidence."""
    warnings = warnings if warnings is not None else evaluation_selectors.warnings_by_evaluation(_evidence_ids(rows))
    out = []
    for row in rows:
        label = row["metric"] or f"{row['kind']} evaluation"
        rule = "exists" if row["comparator"] == "exists" else f"{row['comparator']} {row['threshold']}"
        if row["kind"] == gates.AGREEMENT:
            label, rule = f"{row['metric']}: reported = computed", f"|difference| ≤ {row['threshold']}"
        out.append(
            {
                **row,
                "label": label,
                "short_value": _short(row["value"]),
                "ok": row["outcome"] == "pass",
                "rule": rule,
                "warnings": [
                    text
                    for pk in (row.get("evaluation_id"), row.get("reported_evaluation_id"))
                    for text in warnings.get(pk or 0, [])
                ],
            }
        )
    return out


def _evidence_ids(rows: list[dict]) -> set[int]:
    return {pk for row in rows for pk in (row.get("evaluation_id"), row.get("reported_evaluation_id")) if pk}


def _owed(outstanding: dict) -> dict:
    """What is still owed, in words ("1 given · 1 signature still owed, including a validator"), never "1 of 1"."""
    count = max(outstanding["approvals"], len(outstanding["roles"]))
    roles = outstanding["roles"]
    if count == 0:
        text = f"{outstanding['given']} given · complete"
    else:
        owed = f"{count} signature{'s' if count > 1 else ''} still owed"
        if roles:
            owed += ", including " + " and ".join(f"a {role.replace('_', ' ')}" for role in roles)
        text = f"{outstanding['given']} given · {owed}"
    return {**outstanding, "owed": count, "total": outstanding["given"] + count, "text": text}


def _override_on_record(req: PromotionRequest):
    """The valid approval whose override covers every failing check, if any (what lets others approve)."""
    failing = set(gates.failing(req.gate_results))
    if not failing:
        return None
    for approval in services.valid_approvals(req):
        if approval.override_justification and failing <= set(approval.overridden_checks):
            return approval
    return None


# --- forms ----------------------------------------------------------------------------------------------------


class SignForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.HiddenInput)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why you sign"}), required=False
    )
    override_justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why the failing gate(s) may be overridden"}),
        required=False,
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
        strip=False,
        label="Your password",
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class JSONListField(forms.JSONField):
    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=1)


class PolicyForm(forms.ModelForm):
    required_kinds = JSONListField(required=False, help_text='e.g. ["fairness", "drift", "performance"]')
    checks = JSONListField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90}),
        help_text=('List of {"kind", "metric", "comparator", "threshold"}, threshold as a decimal string.'),
    )
    allowed_from_stages = JSONListField(required=False, help_text='e.g. ["staging"]')
    required_roles = JSONListField(required=False, help_text='e.g. ["risk_officer", "validator"]')
    accepted_roles = JSONListField(required=False, help_text='e.g. ["risk_officer", "validator"]')
    change_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log with the new version.",
    )

    class Meta:
        model = Policy
        fields = [
            "scope",
            "target_stage",
            "is_rollback",
            "description",
            "required_kinds",
            "checks",
            "allowed_from_stages",
            "max_evaluation_age_days",
            "require_computed",
            "require_agreement",
            "approvals_required",
            "required_roles",
            "accepted_roles",
            "request_window_days",
            "approval_validity_days",
        ]


# --- policies -------------------------------------------------------------------------------------------------


@admin.register(Policy)
class PolicyAdmin(ServiceBackedAdmin):
    form = PolicyForm
    list_display = (
        "__str__",
        "scope",
        "target_stage",
        "is_rollback",
        "version",
        "is_current",
        "approvals_required",
        "roles",
        "max_evaluation_age_days",
        "require_computed",
        "require_agreement",
        "created_by",
        "created_at",
    )
    list_filter = ("is_current", "scope", "target_stage", "is_rollback")
    readonly_fields = ("version", "is_current", "created_by", "created_at")

    @admin.display(description="required roles")
    def roles(self, obj):
        return ", ".join(obj.required_roles) or "—"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["scope", "target_stage", "is_rollback"]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_current:
            return False  # old versions are the record; edit the current one
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in services.POLICY_FIELDS if name in form.cleaned_data}
        for name in ("required_kinds", "checks", "allowed_from_stages", "required_roles", "accepted_roles"):
            data[name] = data.get(name) or []
        if change:
            saved = services.policy_revise(
                by=Principal.for_request(request),
                policy=Policy.objects.get(pk=obj.pk),
                data=data,
                reason=form.cleaned_data.get("change_reason", ""),
            )
        else:
            saved = services.policy_create(
                by=Principal.for_request(request),
                scope=obj.scope,
                target_stage=obj.target_stage,
                is_rollback=obj.is_rollback,
                **data,
            )
        obj.pk = saved.pk
        obj.version = saved.version

    def response_change(self, request, obj):
        self.message_user(
            request,
            f"Saved as a new version: {Policy.objects.get(pk=obj.pk)}. The previous version "
            "stays on record for the requests judged under it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:workflow_policy_change", args=[obj.pk]))


# --- requests: the queue and the request page -----------------------------------------------------------------


@admin.register(PromotionRequest)
class PromotionRequestAdmin(admin.ModelAdmin):
    """Replaces the default changelist and change form with the queue and the request page."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # every change is a signature, a withdrawal or a refresh, through the services

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        custom = [
            path(
                "timeline/<int:model_id>/",
                self.admin_site.admin_view(self.timeline_view),
                name="workflow_model_timeline",
            ),
            path(
                "<int:object_id>/refresh/",
                self.admin_site.admin_view(self.refresh_view),
                name=f"{info[0]}_{info[1]}_refresh",
            ),
        ]
        return custom + super().get_urls()

    # queue
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        tab = request.GET.get("tab") or "mine"
        from governance.workspace.selectors import search_filter

        query = request.GET.get("q", "").strip()
        match = search_filter(query)
        open_requests = selectors.open_requests().filter(match)
        mine = selectors.signable_requests(request.user, open_requests)
        decided = selectors.decided_requests().filter(match)
        if tab not in ("mine", "open", "decided"):
            tab = "mine"
        listed = {"mine": mine, "open": open_requests, "decided": decided}[tab]
        page = Paginator(listed, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
        counts = {"mine": mine.count(), "open": open_requests.count(), "decided": decided.count()}
        warnings = evaluation_selectors.warnings_by_evaluation(  # one query for every chip of the page
            {pk for req in page.object_list for pk in _evidence_ids(req.gate_results)}
        )
        can_sign_any = bool(counts["mine"])
        context = {
            **self.admin_site.each_context(request),
            "title": "Promotion requests",
            "opts": self.opts,
            "tab": tab,
            "query": query,
            "tabs": [
                ("mine", "Awaiting my signature", counts["mine"]),
                ("open", "All open", counts["open"]),
                ("decided", "Decided", counts["decided"]),
            ],
            "rows": [self._queue_row(request, req, warnings) for req in page.object_list],
            "page": page,
            "read_only": not request.user.has_role("validator", "risk_officer", superusers=False),
            "can_sign_any": can_sign_any,
            "flags": ReviewFlag.objects.filter(
                resolved_at__isnull=True, model_version__stage="production"
            ).select_related("model_version__model"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/workflow/queue.html", context)

    def _queue_row(self, request, req: PromotionRequest, warnings: dict[int, list[str]]) -> dict:
        version = req.model_version
        outstanding = _owed(
            signing.approvals_outstanding(
                req, [a for a in req.approvals.all() if a.invalidated_at is None and a.decision == "approve"]
            )
        )
        return {
            "req": req,
            "model": version.model,
            "version": version,
            "age": _age(req.created_at),
            "checklist": _checklist(req.gate_results, warnings),
            "outstanding": outstanding,
            "invalidated": sum(1 for a in req.approvals.all() if a.invalidated_at),
            "override": any(a.override_justification and not a.invalidated_at for a in req.approvals.all()),
            "url": reverse("admin:workflow_promotionrequest_change", args=[req.pk]),
            "overdue": req.is_open and timezone.now() > req.expires_at,
        }

    # request page
    def change_view(self, request, object_id, form_url="", extra_context=None):
        req = get_object_or_404(selectors.promotion_request_list(), pk=object_id)
        if not self.has_view_permission(request, req):
            raise PermissionDenied
        refusal = signing.signer_refusal(request.user, req)
        sign_form, withdraw_form = SignForm(initial={"decision": "approve"}), WithdrawForm()
        if request.method == "POST":
            principal = Principal.for_request(request)
            try:
                if "recuse" in request.POST:
                    committees.promotion_request_recuse(
                        by=principal, request=req, reason=request.POST.get("recusal_reason", "")
                    )
                    self.message_user(request, "Your recusal is recorded.", messages.SUCCESS)
                elif "withdraw" in request.POST:
                    withdraw_form = WithdrawForm(request.POST)
                    withdraw_form.is_valid()
                    services.promotion_request_withdraw(
                        by=principal, request=req, reason=withdraw_form.cleaned_data.get("reason", "")
                    )
                    self.message_user(request, f"Request #{req.pk} withdrawn.", messages.SUCCESS)
                else:
                    sign_form = SignForm(request.POST)
                    sign_form.is_valid()
                    data = sign_form.cleaned_data
                    if stepup.signs_with_step_up(request.user):  # SSO users sign by re-authenticating there
                        return self._step_up(request, req, data)
                    if data.get("decision") == "reject":
                        req = services.promotion_reject(
                            by=principal,
                            request=req,
                            justification=data.get("justification", ""),
                            password=data.get("password", ""),
                        )
                    else:
                        req = services.promotion_approve(
                            by=principal,
                            request=req,
                            justification=data.get("justification", ""),
                            password=data.get("password", ""),
                            override_justification=data.get("override_justification", ""),
                        )
                    self.message_user(request, f"Signed. Request #{req.pk} is now {req.status}.", messages.SUCCESS)
                return HttpResponseRedirect(request.path)
            except DomainError as exc:
                self.message_user(request, f"Refused (recorded in the audit log): {exc.message}", messages.ERROR)
                req = selectors.promotion_request_list().get(pk=req.pk)
                refusal = signing.signer_refusal(request.user, req)
        version = req.model_version
        approvals = list(req.approvals.all())
        outstanding = signing.approvals_outstanding(req)
        recusals = {r.member_id: r for r in req.recusals.all()}
        committee_members = [
            {**m, "recusal": recusals.get(m["user_id"])} for m in (req.committee_snapshot or {}).get("members", [])
        ]
        seat = signing.seat_of(req, request.user)
        can_recuse = (
            req.is_open
            and seat is not None
            and request.user.pk not in recusals
            and not any(a.approver_id == request.user.pk and a.invalidated_at is None for a in approvals)
        )
        evaluations = list(Evaluation.objects.filter(model_version=version).order_by("-created_at")[:20])
        is_risk_officer = request.user.has_role("risk_officer", superusers=False)
        override_on_record = _override_on_record(req) if not req.gates_passed else None
        # A signer other than a risk officer cannot approve while gates fail and no override covers them.
        approve_blocked = (
            refusal is None and not req.gates_passed and not is_risk_officer and override_on_record is None
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Promotion request #{req.pk}",
            "opts": self.opts,
            "original": req,
            "req": req,
            "version": version,
            "model": version.model,
            "checklist": _checklist(req.gate_results),
            "outstanding": _owed(outstanding),
            "committee": outstanding.get("committee"),
            "committee_members": committee_members,
            "can_recuse": can_recuse,
            "stale": outstanding.get("stale", []),
            "failing": gates.failing(req.gate_results),
            "discrepancies": workspace_selectors.discrepancies([version.pk]).get(version.pk, []),
            "override_on_record": override_on_record,
            "approve_blocked": approve_blocked,
            "approvals": approvals,
            "evaluations": [
                {
                    "ev": e,
                    "metrics": [(k, _short(e.metrics[k])) for k in KEY_METRICS if k in e.metrics]
                    or [(k, _short(v)) for k, v in list(e.metrics.items())[:6]],
                    "in_gates": any(r["evaluation_id"] == e.pk for r in req.gate_results),
                }
                for e in evaluations
            ],
            "trail": [self._trail_row(ev) for ev in selectors.request_audit_trail(req)],
            "transitions": list(req.transitions.select_related("model_version")),
            "can_sign": refusal is None,
            "refusal": refusal,
            "can_override": is_risk_officer and refusal is None and not req.gates_passed,
            "can_withdraw": req.is_open and (req.requested_by_id == request.user.pk or is_risk_officer),
            "sign_form": sign_form,
            "withdraw_form": withdraw_form,
            "meaning_approve": signing.signature_meaning(req, "approve"),
            "meaning_reject": signing.signature_meaning(req, "reject"),
            "eligible": selectors.eligible_signers(req) if req.is_open else [],
            "timeline_url": reverse("admin:workflow_model_timeline", args=[version.model_id]),
            "refresh_url": reverse("admin:workflow_promotionrequest_refresh", args=[req.pk]),
            "overridden": [a for a in approvals if a.override_justification],
            "open": req.status in OPEN_STATUSES,
            "sso_signing": stepup.signs_with_step_up(request.user),
            "sso_provider": settings.OIDC_PROVIDER_NAME,
        }
        return TemplateResponse(request, "admin/workflow/request.html", context)

    @staticmethod
    def _step_up(request, req, data):
        from governance.accounts.oidc import OidcError
        from governance.accounts.oidc_views import begin_signature

        try:
            return begin_signature(
                request,
                request_id=req.pk,
                decision=data.get("decision") or "approve",
                justification=data.get("justification", ""),
                override_justification=data.get("override_justification", ""),
            )
        except OidcError as exc:
            messages.error(request, f"Cannot sign now: {exc.reason}")
            return HttpResponseRedirect(request.path)

    @staticmethod
    def _trail_row(event) -> dict:
        record = json.loads(bytes(event.record))
        data = record.get("data") or {}
        summary = data.get("reason") or record.get("reason") or ""
        if event.action.endswith(".approve") or event.action.endswith(".reject"):
            summary = f"{data.get('signature_meaning', '')} — {record.get('reason', '')}"
            if data.get("override"):
                summary += f" [OVERRIDE: {data.get('override_justification')}]"
        elif event.action.endswith(".promote"):
            summary = f"{data.get('from')} → {data.get('to')}; evaluations {data.get('evaluation_ids')}"
        elif event.action.endswith(".gates_refresh"):
            summary = (
                f"failing: {', '.join(data.get('failing') or []) or 'none'}; invalidated approvals: "
                f"{data.get('invalidated_approvals') or 'none'}"
            )
        return {
            "seq": event.seq,
            "ts": event.ts,
            "actor": event.actor_username or event.actor_id,
            "action": event.action,
            "summary": summary,
            "denied": event.action.endswith(".denied"),
        }

    def refresh_view(self, request, object_id):
        req = get_object_or_404(PromotionRequest, pk=object_id)
        if request.method == "POST" and self.has_view_permission(request, req):
            services.promotion_gates_refresh(by=Principal.for_request(request), request=req)
            self.message_user(request, "Gates re-evaluated.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:workflow_promotionrequest_change", args=[object_id]))

    # model timeline
    def timeline_view(self, request, model_id):
        if not (self.has_view_permission(request) and request.user.has_perm("registry.view_registeredmodel")):
            raise PermissionDenied
        model = get_object_or_404(RegisteredModel, pk=model_id)
        at, raw = timezone.now(), request.GET.get("at", "")
        if raw:
            parsed = parse_datetime(raw)
            if parsed is None:
                self.message_user(request, f"Not a date and time: {raw!r}", messages.ERROR)
            else:
                at = timezone.make_aware(parsed, dt.UTC) if timezone.is_naive(parsed) else parsed
        history = selectors.model_history(model, at)
        events = [
            {"at": v.registered_at, "kind": "registered", "version": v.version, "by": v.registered_by.username}
            for v in model.versions.select_related("registered_by")
        ]
        for t in StageTransition.objects.filter(model=model).select_related("model_version"):
            events.append({"at": t.at, "kind": "transition", "version": t.model_version.version, "t": t})
        events.sort(key=lambda e: e["at"])
        context = {
            **self.admin_site.each_context(request),
            "title": f"Stage timeline of {model.name}",
            "opts": self.opts,
            "model": model,
            "history": history,
            "at": at,
            "at_value": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "events": events,
            "stage_order": ["production", "staging", "development", "retired"],
        }
        return TemplateResponse(request, "admin/workflow/timeline.html", context)


# --- read-only records ----------------------------------------------------------------------------------------


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("request_link", "approver", "role", "decision", "override", "signed_at", "invalidated_at")
    list_filter = ("decision", "role")
    search_fields = ("approver__username", "justification")
    list_select_related = ("request", "approver")

    @admin.display(description="request")
    def request_link(self, obj):
        url = reverse("admin:workflow_promotionrequest_change", args=[obj.request_id])
        return format_html('<a href="{}">#{}</a>', url, obj.request_id)

    @admin.display(boolean=True)
    def override(self, obj):
        return bool(obj.override_justification)


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyAdmin):
    list_display = ("model_version", "from_stage", "to_stage", "at", "request", "is_rollback")
    list_filter = ("to_stage", "is_rollback")
    list_select_related = ("model_version__model", "request")


class ResolveFlagForm(forms.ModelForm):
    class Meta:
        model = ReviewFlag
        fields = ["resolution"]
        widgets = {"resolution": forms.Textarea(attrs={"rows": 3, "cols": 80})}
        help_texts = {
            "resolution": "Why the flag is closed (what was reviewed, what was decided). Saved in the audit log "
            "with your name; only risk officers close flags."
        }


class OpenFlagFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open (version in production)"), ("closed", "Closed"), ("gone", "Version left production")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True, model_version__stage="production")
        if self.value() == "closed":
            return queryset.filter(resolved_at__isnull=False)
        if self.value() == "gone":
            return queryset.filter(resolved_at__isnull=True).exclude(model_version__stage="production")
        return queryset


@admin.register(ReviewFlag)
class ReviewFlagAdmin(ServiceBackedAdmin):
    """A production version whose monitoring breached its policy: breaches as a table, closed with a reason.

    A flag stays open until a risk officer closes it (``services.review_flag_resolve``, audited with who and
    why); once its version leaves production it no longer counts as open anywhere (queue banner, dashboard).
    """

    form = ResolveFlagForm
    list_display = ("model_version", "stage", "evaluation_link", "breach_summary", "created_at", "state")
    list_filter = (OpenFlagFilter,)
    list_select_related = ("model_version__model", "resolved_by")
    search_fields = ("model_version__model__name", "model_version__version")
    readonly_fields = (
        "version_link",
        "stage",
        "evaluation_link",
        "policy",
        "breaches_table",
        "created_at",
        "resolved_at",
        "resolved_by",
    )
    fieldsets = (
        (None, {"fields": ("version_link", "stage", "evaluation_link", "policy", "created_at")}),
        ("Breaches", {"fields": ("breaches_table",)}),
        ("Closing the flag", {"fields": ("resolution", "resolved_at", "resolved_by")}),
    )

    def has_add_permission(self, request):
        return False

    @admin.display(description="model version")
    def version_link(self, obj):
        url = reverse("admin:registry_modelversion_change", args=[obj.model_version_id])
        return format_html('<a href="{}">{}</a>', url, obj.model_version)

    @admin.display(description="stage now")
    def stage(self, obj):
        stage = obj.model_version.stage
        if stage != "production" and not obj.resolved_at:
            return f"{stage} — the version left production; this flag no longer counts as open"
        return stage

    @admin.display(description="evaluation")
    def evaluation_link(self, obj):
        url = reverse("admin:evaluations_evaluation_change", args=[obj.evaluation_id])
        return format_html('<a href="{}">evaluation {}</a>', url, obj.evaluation_id)

    @admin.display(description="breaches")
    def breach_summary(self, obj):
        return ", ".join(f"{b.get('metric') or b.get('kind')} {_short(b.get('value'))}" for b in obj.breaches) or "—"

    @admin.display(description="state")
    def state(self, obj):
        if obj.resolved_at:
            return f"closed by {obj.resolved_by.username if obj.resolved_by else '?'} {obj.resolved_at:%Y-%m-%d}"
        return "open" if obj.model_version.stage == "production" else "version left production"

    @admin.display(description="breaches of the production policy")
    def breaches_table(self, obj):
        rows = format_html_join(
            "",
            "<tr><td><strong>{}</strong><br><span class='muted'>{}</span></td><td>{}</td><td>{}</td>"
            "<td>{}</td><td><a href='{}'>evaluation {}</a><br><span class='muted'>{}</span></td></tr>",
            (
                (
                    b.get("metric") or f"{b.get('kind')} evaluation",
                    b.get("kind", ""),
                    _short(b.get("value")),
                    "exists" if b.get("comparator") == "exists" else f"{b.get('comparator')} {b.get('threshold')}",
                    b.get("outcome", ""),
                    reverse("admin:evaluations_evaluation_change", args=[b.get("evaluation_id") or obj.evaluation_id]),
                    b.get("evaluation_id") or obj.evaluation_id,
                    b.get("dataset", ""),
                )
                for b in obj.breaches
            ),
        )
        return format_html(
            '<table class="breaches"><thead><tr><th>Metric</th><th>Value</th><th>Rule</th><th>Outcome</th>'
            "<th>Evidence</th></tr></thead><tbody>{}</tbody></table>",
            rows or format_html('<tr><td colspan="5">No breach recorded.</td></tr>'),
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.resolved_at:
            fields.append("resolution")
        return fields

    def save_model(self, request, obj, form, change):
        services.review_flag_resolve(
            by=Principal.for_request(request),
            flag=ReviewFlag.objects.get(pk=obj.pk),
            resolution=obj.resolution,
        )

    def response_change(self, request, obj):
        self.message_user(request, "Flag closed; the audit log records who closed it and why.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:workflow_reviewflag_changelist") + "?state=open")


# --- committees -----------------------------------------------------------------------------------------------


class CommitteeForm(forms.ModelForm):
    role_minimums = forms.JSONField(required=False, help_text='e.g. {"validator": 2, "risk_officer": 1}')
    members_text = forms.CharField(
        label="Members",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text="One member a line: username role (e.g. 'alice validator').",
    )
    change_reason = forms.CharField(required=False, help_text="Recorded in the audit log (required for a change).")

    class Meta:
        model = Committee
        fields = ["name", "description", "scope", "model", "target_stage", "quorum", "role_minimums", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["members_text"].initial = "\n".join(
                f"{seat.user.username} {seat.role}" for seat in self.instance.active_members()
            )

    def members(self) -> list[dict]:
        from governance.accounts.models import User

        out = []
        for line in (self.cleaned_data.get("members_text") or "").splitlines():
            if not line.strip():
                continue
            username, _, role = line.strip().partition(" ")
            user = User.objects.filter(username=username).first()
            if user is None:
                raise DomainError(f"members: no user {username!r}", field="members")
            out.append({"user": user, "role": role.strip()})
        return out


@admin.register(Committee)
class CommitteeAdmin(ServiceBackedAdmin):
    """Approval committees: created and revised through the audited services; never deleted."""

    form = CommitteeForm
    list_display = ("name", "scope", "model", "target_stage", "quorum", "seats", "is_active")
    list_filter = ("is_active", "scope", "target_stage")

    @admin.display(description="members (M)")
    def seats(self, obj):
        return obj.active_members().count()

    def get_readonly_fields(self, request, obj=None):
        # A revision changes quorum, minimums, members and activity only (``committee_revise``); the
        # description is fixed at creation, so the change form shows it read-only instead of losing an edit.
        return ["name", "description", "scope", "model", "target_stage"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        principal = Principal.for_request(request)
        data = form.cleaned_data
        if change:
            saved = committees.committee_revise(
                by=principal,
                committee=Committee.objects.get(pk=obj.pk),
                reason=data.get("change_reason", ""),
                quorum=data["quorum"],
                role_minimums=data.get("role_minimums") or {},
                members=form.members(),
                is_active=data.get("is_active"),
            )
        else:
            saved = committees.committee_create(
                by=principal,
                name=data["name"],
                description=data.get("description", ""),
                scope=data.get("scope") or "",
                model=data.get("model"),
                target_stage=data["target_stage"],
                quorum=data["quorum"],
                role_minimums=data.get("role_minimums") or {},
                members=form.members(),
            )
        obj.pk = saved.pk

"""Admin screens for the oversight records, linked from the version page. Most are read-only (changes go
through the API: services, audited); the post-market monitoring plan is written here too, through its
service. Nothing here deletes a row."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from audit.admin import ReadOnlyAdmin
from governance.accounts.principal import Principal
from governance.common.admin import ServiceBackedAdmin
from governance.oversight import monitoring, selectors, services
from governance.oversight.models import (
    PLAN_FIELDS,
    Finding,
    IncidentReport,
    MissedCheck,
    MonitoringSchedule,
    PostMarketPlan,
    RevalidationFlag,
    RevalidationInterval,
    SeriousIncident,
    Validation,
)


class FindingInline(admin.TabularInline):
    model = Finding
    fields = ("severity", "description", "owner", "due_date", "status", "risk_accepted_until")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Validation)
class ValidationAdmin(ReadOnlyAdmin):
    list_display = ("id", "model_version", "validator", "started_on", "completed_on", "conclusion")
    list_filter = ("conclusion",)
    search_fields = ("model_version__model__name", "validator__username", "scope")
    inlines = [FindingInline]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("id", "validation", "severity", "owner", "due_date", "status", "risk_accepted_until")
    list_filter = ("severity", "status")
    search_fields = ("description", "owner__username", "validation__model_version__model__name")


@admin.register(RevalidationInterval)
class RevalidationIntervalAdmin(ReadOnlyAdmin):
    list_display = ("model", "months", "set_by", "set_at")


@admin.register(RevalidationFlag)
class RevalidationFlagAdmin(ReadOnlyAdmin):
    list_display = ("model_version", "due_on", "raised_at", "resolved_at", "resolution")
    list_filter = ("resolved_at",)


class IncidentReportInline(admin.TabularInline):
    model = IncidentReport
    fields = ("kind", "submitted_at", "authority", "reference", "summary", "recorded_by")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SeriousIncident)
class SeriousIncidentAdmin(ReadOnlyAdmin):
    list_display = ("id", "model_version", "category", "aware_at", "reporting_deadline", "deadline_rule", "status")
    list_filter = ("category",)
    inlines = [IncidentReportInline]

    @admin.display(description="deadline status")
    def status(self, obj):
        return selectors.incident_deadline_status(obj)["status"].replace("_", " ")


class MissedCheckInline(admin.TabularInline):
    model = MissedCheck
    fields = ("due_at", "grace_until", "detected_at", "resolved_at", "resolved_by", "resolution")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MonitoringSchedule)
class MonitoringScheduleAdmin(ReadOnlyAdmin):
    list_display = ("id", "model_version", "kind", "cadence_days", "grace_hours", "next_due", "missed", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("model_version__model__name", "description")
    readonly_fields = ("periods",)
    inlines = [MissedCheckInline]

    @admin.display(description="next due (UTC)")
    def next_due(self, obj):
        due = monitoring.schedule_state(obj)["next_due_at"]
        return due.strftime("%Y-%m-%d %H:%M") if due else "—"

    @admin.display(description="missed")
    def missed(self, obj):
        return monitoring.schedule_state(obj)["missed"]

    @admin.display(description="checks (latest 20)")
    def periods(self, obj):
        from django.utils.html import format_html_join

        rows = monitoring.schedule_periods(obj)[-20:]
        return format_html_join(
            "",
            "<div>{} — {}{}</div>",
            (
                (
                    p["due_at"].strftime("%Y-%m-%d %H:%M"),
                    p["status"],
                    f" (evaluation {p['evaluation_id']})" if p["evaluation_id"] else "",
                )
                for p in rows
            ),
        )


@admin.register(MissedCheck)
class MissedCheckAdmin(ReadOnlyAdmin):
    list_display = ("id", "schedule", "due_at", "grace_until", "detected_at", "resolved_at")
    list_filter = ("resolved_at", "schedule__kind")


class PostMarketPlanForm(forms.ModelForm):
    change_reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Required for a revision; audited."
    )

    class Meta:
        model = PostMarketPlan
        fields = ["model", *PLAN_FIELDS]


@admin.register(PostMarketPlan)
class PostMarketPlanAdmin(ServiceBackedAdmin):
    """The EU AI Act post-market monitoring plan: the narrative here; the schedules and thresholds printed
    with it come from the model's monitoring schedules and policies."""

    form = PostMarketPlanForm
    list_display = ("model", "revision", "updated_by", "updated_at")
    readonly_fields = ("revision", "created_by", "created_at", "updated_by", "updated_at", "schedules")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "model"] if obj is not None else fields

    def get_changeform_initial_data(self, request):
        return {"model": request.GET.get("model")}

    @admin.display(description="monitoring schedules")
    def schedules(self, obj):
        record = monitoring.post_market_plan(obj.model) or {"schedules": []}
        return (
            "; ".join(
                f"{s['version']} {s['kind']} every {s['cadence_days']} d ({s['missed']} missed)"
                for s in record["schedules"]
            )
            or "none scheduled"
        )

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name, "") for name in PLAN_FIELDS}
        saved = services.post_market_plan_set(
            by=Principal.for_request(request),
            model=obj.model,
            reason=form.cleaned_data.get("change_reason", ""),
            **data,
        )
        obj.pk = saved.pk

    def response_change(self, request, obj):
        self.message_user(request, "Saved; the revision is in the audit log.", messages.SUCCESS)
        return HttpResponseRedirect(request.path)

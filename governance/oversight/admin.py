"""Read-only admin screens for the oversight records. Changes go through the API (services, audited);
nothing here adds, edits or deletes a row."""

from django.contrib import admin

from governance.oversight import selectors
from governance.oversight.models import (
    Finding,
    IncidentReport,
    RevalidationFlag,
    RevalidationInterval,
    SeriousIncident,
    Validation,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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

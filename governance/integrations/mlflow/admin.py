"""Admin of the MLflow bridge: read-only views of its state (changes go through the services and the
API), a "sync now" action on links, "retry now" on alias writes, "resolve" on flags, and two inlines
on the model version page: its MLflow import (lineage, hashes, changes seen) and its governed alias
writes (status, attempts, MLflow's response)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from audit.admin import ReadOnlyAdmin
from governance.accounts.principal import Principal
from governance.common.errors import DomainError
from governance.integrations.mlflow import services
from governance.integrations.mlflow.models import (
    MlflowAliasWrite,
    MlflowDelivery,
    MlflowFlag,
    MlflowLink,
    MlflowVersionImport,
)
from governance.registry.admin import ModelVersionAdmin


@admin.register(MlflowLink)
class MlflowLinkAdmin(ReadOnlyAdmin):
    list_display = (
        "model",
        "mlflow_name",
        "tracking_uri",
        "governed_alias",
        "out_of_band",
        "last_sync_status",
        "last_sync_at",
        "consecutive_failures",
    )
    list_filter = ("last_sync_status", "out_of_band")
    search_fields = ("model__name", "mlflow_name", "tracking_uri")
    actions = ["sync_now"]

    @admin.action(description="Sync with MLflow now (owner, risk officers)")
    def sync_now(self, request, queryset):
        for link in queryset:
            try:
                summary = services.mlflow_link_sync(by=Principal.for_request(request), link=link)
                self.message_user(
                    request,
                    f"{link.model.name}: imported {summary['imported'] or 'nothing new'}, "
                    f"artifact changed {summary['changed'] or 'none'}, aliases {summary.get('aliases', {})}",
                )
            except DomainError as exc:
                self.message_user(request, f"{link.model.name}: {exc.message}", messages.ERROR)


@admin.register(MlflowVersionImport)
class MlflowVersionImportAdmin(ReadOnlyAdmin):
    list_display = ("model_version", "mlflow_version", "run_id", "hash_status", "imported_at", "artifact_changed_at")
    list_filter = ("hash_status",)
    search_fields = ("link__model__name", "run_id", "artifact_sha256", "git_commit")


class ResolveForm(forms.Form):
    resolution = forms.CharField(widget=forms.Textarea, help_text="What was checked and decided.")


@admin.register(MlflowFlag)
class MlflowFlagAdmin(ReadOnlyAdmin):
    list_display = ("model", "model_version", "kind", "summary", "created_at", "resolved_at")
    list_filter = ("kind", "resolved_at")
    search_fields = ("model__name", "summary")
    actions = ["resolve"]

    @admin.action(description="Resolve the selected flags (risk officers)")
    def resolve(self, request, queryset):
        form = ResolveForm(request.POST if "resolution" in request.POST else None)
        if form.is_valid():
            for flag in queryset:
                try:
                    services.mlflow_flag_resolve(
                        by=Principal.for_request(request),
                        flag=flag,
                        resolution=form.cleaned_data["resolution"],
                    )
                except DomainError as exc:
                    self.message_user(request, f"flag {flag.pk}: {exc.message}", messages.ERROR)
            return None
        return TemplateResponse(
            request,
            "admin/mlflow_bridge/resolve.html",
            {**self.admin_site.each_context(request), "form": form, "flags": queryset, "opts": self.model._meta},
        )


@admin.register(MlflowDelivery)
class MlflowDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("delivery_id", "entity", "action", "mlflow_name", "status", "signed_at", "received_at")
    list_filter = ("status", "entity", "action")
    search_fields = ("delivery_id", "mlflow_name")


@admin.register(MlflowAliasWrite)
class MlflowAliasWriteAdmin(ReadOnlyAdmin):
    list_display = (
        "link",
        "alias",
        "mlflow_version",
        "model_version",
        "status",
        "attempts",
        "next_attempt_at",
        "done_at",
    )
    list_filter = ("status", "alias")
    actions = ["retry_now"]

    @admin.action(description="Retry the selected alias writes now (owner, risk officers)")
    def retry_now(self, request, queryset):
        for write in queryset:
            try:
                write = services.mlflow_alias_write_attempt(write=write, by=Principal.for_request(request))
            except DomainError as exc:
                self.message_user(request, f"{write}: {exc.message}", messages.ERROR)
                continue
            level = messages.INFO if write.status == "done" else messages.WARNING
            self.message_user(request, f"{write}: {write.last_error or 'done'}", level)


class MlflowImportInline(admin.StackedInline):
    model = MlflowVersionImport
    verbose_name = "MLflow import (lineage read from MLflow)"
    fields = (
        "mlflow_version",
        "run_id",
        "source_uri",
        "git_commit",
        "datasets",
        "artifact_files",
        "hash_status",
        "hash_missing_reason",
        "imported_at",
        "last_verified_at",
        "artifact_changed_at",
        "latest_artifact_sha256",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MlflowAliasWriteInline(admin.TabularInline):
    model = MlflowAliasWrite
    verbose_name = "governed MLflow alias write"
    fields = ("alias", "status", "attempts", "last_error", "next_attempt_at", "done_at", "response")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The version page shows its MLflow import and the status of its governed alias writes.
ModelVersionAdmin.inlines = [*ModelVersionAdmin.inlines, MlflowImportInline, MlflowAliasWriteInline]

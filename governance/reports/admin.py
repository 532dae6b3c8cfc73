"""Narratives and documentation packs in the admin."""

from __future__ import annotations

import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin
from governance.accounts.principal import Principal
from governance.common.errors import DomainError
from governance.registry.models import ModelVersion
from governance.reports import services
from governance.reports.inventory import inventory_report_generate
from governance.reports.models import DocumentationPack, NarrativeEntry, Regime
from governance.reports.narratives import CATALOGUE


@admin.register(NarrativeEntry)
class NarrativeEntryAdmin(ReadOnlyAdmin):
    """Every edit of every narrative, read-only; edit them on a version's narratives page."""

    list_display = ("key", "model", "model_version", "author", "author_role", "created_at", "excerpt")
    list_filter = ("key", "author_role", "model")
    search_fields = ("text", "key", "author__username")

    @admin.display(description="text")
    def excerpt(self, obj):
        return (obj.text[:80] + "…") if len(obj.text) > 80 else (obj.text or "(withdrawn)")

    def get_urls(self):
        return [
            path("edit/<int:version_id>/", self.admin_site.admin_view(self.edit_view), name="reports_narratives_edit")
        ] + super().get_urls()

    def edit_view(self, request, version_id: int):
        version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=version_id)
        roles = set(request.user.groups.values_list("name", flat=True))
        current: dict[str, NarrativeEntry] = {}
        for entry in (
            NarrativeEntry.objects.filter(model=version.model)
            .select_related("author")
            .order_by("key", "-created_at", "-id")
        ):
            scope_ok = (entry.model_version_id is None) or entry.model_version_id == version.pk
            if scope_ok and entry.key not in current:
                current[entry.key] = entry
        if request.method == "POST":
            saved = 0
            for spec in CATALOGUE:
                field = f"n_{spec.key}"
                if field not in request.POST:
                    continue
                text = request.POST[field].strip()
                before = current.get(spec.key)
                if text == (before.text if before else ""):
                    continue
                try:
                    services.narrative_set(
                        by=Principal.for_request(request),
                        model=version.model,
                        key=spec.key,
                        text=text,
                        version=version if spec.scope == "version" else None,
                    )
                    saved += 1
                except DomainError as exc:
                    messages.error(request, f"{spec.label}: {exc.message}")
            if saved:
                messages.success(request, f"{saved} narrative(s) saved; each edit is in the audit log with its author.")
            return HttpResponseRedirect(request.path)
        rows = [
            {
                "spec": spec,
                "entry": current.get(spec.key),
                "editable": request.user.is_superuser or spec.role in roles,
                "scope_label": "this version" if spec.scope == "version" else "the model (all versions)",
            }
            for spec in CATALOGUE
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Narratives of {version}",
            "version": version,
            "rows": rows,
            "opts": self.model._meta,
            "provided": sum(1 for spec in CATALOGUE if spec.key in current and current[spec.key].text),
            "total": len(rows),
        }
        return TemplateResponse(request, "admin/reports/narratives.html", context)


class GenerateForm(forms.Form):
    regime = forms.ChoiceField(choices=Regime.choices)
    as_of = forms.IntegerField(required=False, min_value=0, help_text="Audit seq; empty for the latest.")


class InventoryForm(forms.Form):
    as_of = forms.DateField(required=False, help_text="The report is as of the end of this day (UTC); empty: today.")
    period_start = forms.DateField(
        required=False, help_text="Overrides, incidents and review flags raised from this day; empty: 90 days earlier."
    )
    file = forms.ChoiceField(
        required=False,
        choices=[("bundle", "Signed bundle (zip: PDF, CSV, JSON, evidence)"), ("pdf", "PDF"), ("csv", "CSV")],
    )


@admin.register(DocumentationPack)
class DocumentationPackAdmin(ReadOnlyAdmin):
    list_display = (
        "model_version",
        "regime",
        "status",
        "progress",
        "as_of_seq",
        "pack_id",
        "requested_by",
        "created_at",
        "downloads",
    )
    list_filter = ("regime", "status")
    search_fields = ("pack_id", "model_version__model__name", "content_sha256")
    readonly_fields = (
        "model_version",
        "regime",
        "status",
        "progress",
        "failure_reason",
        "as_of_seq",
        "as_of_ts",
        "pack_id",
        "content_sha256",
        "pdf_sha256",
        "bundle_sha256",
        "outline_version",
        "generator_version",
        "regulatory_text",
        "requested_by",
        "created_at",
        "finished_at",
        "downloads",
    )
    exclude = ("pdf", "bundle")

    @admin.display(description="download")
    def downloads(self, obj):
        if obj.status != "done":
            return obj.failure_reason[:120] if obj.failure_reason else "—"
        return format_html(
            '<a href="{}">PDF</a> · <a href="{}">signed bundle</a>',
            reverse("admin:reports_pack_download", args=[obj.pk, "pdf"]),
            reverse("admin:reports_pack_download", args=[obj.pk, "bundle"]),
        )

    def get_urls(self):
        return [
            path(
                "generate/<int:version_id>/",
                self.admin_site.admin_view(self.generate_view),
                name="reports_pack_generate",
            ),
            path(
                "<int:pack_id>/download/<str:what>/",
                self.admin_site.admin_view(self.download_view),
                name="reports_pack_download",
            ),
            path("inventory/", self.admin_site.admin_view(self.inventory_view), name="reports_inventory"),
        ] + super().get_urls()

    def inventory_view(self, request):
        """The inventory-level report for model risk committees: choose the date and period, download the
        signed bundle, the PDF or the CSV (governance.reports.inventory; audited)."""
        user = request.user
        if user.is_service_account or not user.has_role(*services.PACK_ROLES):
            raise PermissionDenied("the inventory report is generated by auditors and risk officers")
        form = InventoryForm(request.GET or None)
        if request.GET and form.is_valid():
            try:
                report = inventory_report_generate(
                    by=Principal.for_request(request),
                    as_of=form.cleaned_data["as_of"],
                    period_start=form.cleaned_data["period_start"],
                )
            except DomainError as exc:
                messages.error(request, f"Not generated (recorded in the audit log): {exc.message}")
            else:
                what = form.cleaned_data["file"] or "bundle"
                suffix = {"bundle": "zip", "pdf": "pdf", "csv": "csv"}[what]
                return FileResponse(
                    io.BytesIO(getattr(report, what)),
                    as_attachment=True,
                    filename=f"{report.report_id}-inventory-{report.as_of}.{suffix}",
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Model inventory report",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/reports/inventory.html", context)

    def generate_view(self, request, version_id: int):
        version = get_object_or_404(ModelVersion, pk=version_id)
        back = reverse("admin:registry_modelversion_change", args=[version.pk])
        form = GenerateForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            messages.error(request, "Choose a regime to generate a pack.")
            return HttpResponseRedirect(back)
        try:
            pack = services.pack_request(
                by=Principal.for_request(request),
                version=version,
                regime=form.cleaned_data["regime"],
                as_of=form.cleaned_data["as_of"],
            )
        except DomainError as exc:
            messages.error(request, f"Not generated: {exc.message}")
            return HttpResponseRedirect(back)
        pack.refresh_from_db()
        messages.success(
            request, f"{pack.get_regime_display()} pack requested as of seq {pack.as_of_seq}: {pack.status}."
        )
        return HttpResponseRedirect(back)

    def download_view(self, request, pack_id: int, what: str):
        pack = get_object_or_404(DocumentationPack, pk=pack_id)
        if what not in ("pdf", "bundle"):
            return HttpResponseRedirect(reverse("admin:reports_documentationpack_changelist"))
        try:
            handle = services.pack_download(by=Principal.for_request(request), pack=pack, what=what)
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("admin:reports_documentationpack_changelist"))
        suffix = "pdf" if what == "pdf" else "zip"
        return FileResponse(handle, as_attachment=True, filename=f"{pack.pack_id}-{pack.regime}.{suffix}")

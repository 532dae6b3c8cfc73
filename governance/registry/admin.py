from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from governance.accounts.principal import Principal
from governance.common.admin import ServiceBackedAdmin
from governance.registry import services
from governance.registry.models import LINEAGE_FIELDS, ModelVersion, RegisteredModel


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("version", "stage", "stage_changed_at", "artifact_sha256", "registered_by", "registered_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ServiceBackedAdmin):
    list_display = (
        "name",
        "title",
        "risk_tier",
        "eu_ai_act_category",
        "annex_iii_area",
        "owner",
        "business_unit",
        "status",
    )
    list_filter = ("risk_tier", "eu_ai_act_category", "annex_iii_area", "status", "business_unit")
    search_fields = ("name", "title", "purpose", "owner__username")
    readonly_fields = ("created_by", "created_at", "updated_at", "stage_timeline")
    inlines = [ModelVersionInline]
    fieldsets = (
        (None, {"fields": ("name", "title", "purpose", "owner", "business_unit", "status")}),
        ("Risk classification (risk officers only)", {"fields": ("risk_tier", "eu_ai_act_category", "annex_iii_area")}),
        ("Record", {"fields": ("created_by", "created_at", "updated_at", "stage_timeline")}),
    )

    @admin.display(description="stage history")
    def stage_timeline(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}">Stage timeline: which version was where, since when, signed by whom</a>',
            reverse("admin:workflow_model_timeline", args=[obj.pk]),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from governance.workflow.models import StageTransition

        model = RegisteredModel.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        extra = {}
        if model is not None:
            versions = list(model.versions.select_related("registered_by").order_by("-registered_at", "-id"))
            was_live = set(
                StageTransition.objects.filter(model=model, to_stage="production").values_list(
                    "model_version_id", flat=True
                )
            )
            extra = {
                "model_versions": versions,
                "can_rollback": request.user.has_role("risk_officer", superusers=False),
                "rollback_candidates": [v for v in versions if v.pk in was_live and v.stage != "production"],
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("name")
        return fields

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            saved = services.registered_model_update(
                by=Principal.for_request(request), model=RegisteredModel.objects.get(pk=obj.pk), data=data
            )
        else:
            saved = services.registered_model_create(
                by=Principal.for_request(request),
                name=obj.name,
                title=obj.title,
                purpose=obj.purpose,
                business_unit=obj.business_unit,
                eu_ai_act_category=obj.eu_ai_act_category,
                risk_tier=obj.risk_tier,
                annex_iii_area=obj.annex_iii_area,
                owner=obj.owner,
            )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # the only inline is read-only


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceBackedAdmin):
    list_display = ("model", "version", "stage", "stage_changed_at", "framework", "registered_by", "registered_at")
    list_filter = ("stage", "model__risk_tier", "framework")
    search_fields = ("model__name", "version", "artifact_sha256", "code_commit")
    list_select_related = ("model", "registered_by")
    fields = (
        "model",
        "version",
        "description",
        *LINEAGE_FIELDS,
        "stage",
        "stage_changed_at",
        "registered_by",
        "registered_at",
    )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from governance.workspace import hub

        version = ModelVersion.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        extra = hub.version_hub(request, version) if version else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_readonly_fields(self, request, obj=None):
        always = ["stage", "stage_changed_at", "registered_by", "registered_at"]
        if obj is None:
            return always
        set_lineage = [name for name in LINEAGE_FIELDS if getattr(obj, name) not in ("", None, {})]
        return ["model", "version", *set_lineage, *always]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            saved = services.model_version_update(
                by=Principal.for_request(request), version=ModelVersion.objects.get(pk=obj.pk), data=data
            )
        else:
            saved = services.model_version_create(
                by=Principal.for_request(request),
                model=obj.model,
                version=obj.version,
                description=obj.description,
                **{name: getattr(obj, name) for name in LINEAGE_FIELDS},
            )
        obj.pk = saved.pk

"""Documentation packs over the API: request a pack, follow the job, download the PDF and bundle."""

from __future__ import annotations

import django_filters
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.views_common import GovernanceViewSet
from governance.common.errors import ValidationFailed
from governance.registry.models import ModelVersion
from governance.reports import services
from governance.reports.inventory import inventory_report_generate
from governance.reports.models import DocumentationPack, PackStatus, Regime


class PackSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.name", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    as_of = serializers.SerializerMethodField()
    requested_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)
    pdf_url = serializers.SerializerMethodField()
    bundle_url = serializers.SerializerMethodField()

    class Meta:
        model = DocumentationPack
        fields = [
            "id",
            "model_version",
            "model",
            "version",
            "regime",
            "status",
            "progress",
            "failure_reason",
            "as_of",
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
            "pdf_url",
            "bundle_url",
        ]

    def get_as_of(self, obj) -> dict:
        return {"seq": obj.as_of_seq, "ts": obj.as_of_ts}

    def _url(self, obj, name: str) -> str | None:
        if obj.status != PackStatus.DONE:
            return None
        request = self.context.get("request")
        path = f"/api/v1/reports/{obj.pk}/{name}/"
        return request.build_absolute_uri(path) if request else path

    def get_pdf_url(self, obj) -> str | None:
        return self._url(obj, "pdf")

    def get_bundle_url(self, obj) -> str | None:
        return self._url(obj, "bundle")


class PackRequestSerializer(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), error_messages={"does_not_exist": "no model version with id {pk_value}"}
    )
    regime = serializers.ChoiceField(
        choices=Regime.choices,
        required=False,
        help_text="Omitted: one pack per regime governing the model (its governing_regimes, or "
        'DEFAULT_GOVERNING_REGIMES); the response is then {"packs": [...]}.',
    )
    as_of = serializers.IntegerField(required=False, min_value=0, help_text="Audit seq; default: the latest entry.")


class PackListSerializer(serializers.Serializer):
    packs = PackSerializer(many=True)


class PackFilter(django_filters.FilterSet):
    class Meta:
        model = DocumentationPack
        fields = ["model_version", "regime", "status"]


class CanUsePacks(permissions.BasePermission):
    message = "documentation packs are requested and downloaded by auditors and risk officers"

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user and user.is_authenticated and not user.is_service_account and user.has_role(*services.PACK_ROLES)
        )


#: the inventory report's files: ?file= value -> (content type, file suffix)
INVENTORY_FILES = {
    "bundle": ("application/zip", "zip"),
    "pdf": ("application/pdf", "pdf"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """SR 11-7 and EU AI Act documentation packs, generated as jobs (Celery)."""

    permission_classes = [CanUsePacks]
    serializer_class = PackSerializer
    filterset_class = PackFilter
    queryset = DocumentationPack.objects.none()

    def get_queryset(self):
        return DocumentationPack.objects.select_related("model_version__model", "requested_by")

    @extend_schema(
        request=PackRequestSerializer,
        responses={202: PolymorphicProxySerializer("PackRequested", [PackSerializer, PackListSerializer], None)},
    )
    def create(self, request):
        data = PackRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "regime" not in data.validated_data:
            packs = services.packs_request_governing(
                by=self.principal,
                version=data.validated_data["model_version"],
                as_of=data.validated_data.get("as_of"),
            )
            for pack in packs:
                pack.refresh_from_db()
            body = {"packs": PackSerializer(packs, many=True, context={"request": request}).data}
            return Response(body, status=status.HTTP_202_ACCEPTED)
        pack = services.pack_request(
            by=self.principal,
            version=data.validated_data["model_version"],
            regime=data.validated_data["regime"],
            as_of=data.validated_data.get("as_of"),
        )
        pack.refresh_from_db()
        return Response(
            PackSerializer(pack, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/reports/{pack.pk}/"},
        )

    def _download(self, request, pk, what: str, content_type: str, suffix: str):
        pack = self.get_object()
        handle = services.pack_download(by=self.principal, pack=pack, what=what)
        return FileResponse(
            handle, as_attachment=True, filename=f"{pack.pack_id}-{pack.regime}.{suffix}", content_type=content_type
        )

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        """The pack's PDF (audited download)."""
        return self._download(request, pk, "pdf", "application/pdf", "pdf")

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def bundle(self, request, pk=None):
        """The signed evidence bundle (zip) for audit/verifier.py (audited download)."""
        return self._download(request, pk, "bundle", "application/zip", "zip")

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="End of this day (UTC); default today."),
            OpenApiParameter("period_start", OpenApiTypes.DATE, description="Default: as_of minus 90 days."),
            OpenApiParameter("file", str, enum=list(INVENTORY_FILES), description="Default: bundle."),
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    @action(detail=False, methods=["get"])
    def inventory(self, request):
        """The inventory-level report for model risk committees as of a date: the signed bundle (zip with
        report.pdf, report.csv, report.json and the cited audit entries), or ``file=pdf`` / ``file=csv``.
        Same date and period, same bytes (audited as ``inventory_report.generate``)."""
        what = request.query_params.get("file") or "bundle"
        if what not in INVENTORY_FILES:
            raise ValidationFailed(f"file: must be one of {', '.join(INVENTORY_FILES)}", field="file")
        report = inventory_report_generate(
            by=self.principal,
            as_of=request.query_params.get("as_of"),
            period_start=request.query_params.get("period_start"),
        )
        content_type, suffix = INVENTORY_FILES[what]
        response = HttpResponse(getattr(report, what), content_type=content_type)
        name = f"{report.report_id}-inventory-{report.as_of}.{suffix}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Report-Id"] = report.report_id
        response["X-Audit-As-Of"] = str(report.seq)
        return response

"""API of the MLflow bridge (``/api/v1/mlflow/...``): links, imports, review flags, the alias history,
an on-demand sync, and the endpoint MLflow's registry webhooks deliver to. Thin: parse, call a
service, render."""

from __future__ import annotations

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.accounts.models import User
from governance.api.schema import ErrorSerializer
from governance.api.serializers_registry import StrictSerializer
from governance.api.views_common import GovernanceViewSet
from governance.common.errors import ValidationFailed
from governance.integrations.mlflow import selectors, services
from governance.integrations.mlflow.models import (
    MlflowAliasWrite,
    MlflowFlag,
    MlflowLink,
    MlflowVersionImport,
    OutOfBandPolicy,
)
from governance.registry.models import RegisteredModel


class MlflowLinkSerializer(serializers.ModelSerializer):
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    imported_versions = serializers.SerializerMethodField()
    open_flags = serializers.SerializerMethodField()
    pending_alias_writes = serializers.SerializerMethodField()

    class Meta:
        model = MlflowLink
        fields = [
            "id",
            "model",
            "tracking_uri",
            "mlflow_name",
            "governed_alias",
            "stage_aliases",
            "out_of_band",
            "created_by",
            "created_at",
            "last_sync_at",
            "last_sync_status",
            "last_sync_error",
            "consecutive_failures",
            "imported_versions",
            "open_flags",
            "pending_alias_writes",
        ]

    def get_imported_versions(self, obj) -> int:
        return obj.imports.count()

    def get_open_flags(self, obj) -> int:
        return MlflowFlag.objects.filter(model=obj.model, resolved_at__isnull=True).count()

    def get_pending_alias_writes(self, obj) -> int:
        return obj.alias_writes.filter(status__in=("pending", "retrying")).count()


class MlflowLinkCreateSerializer(StrictSerializer):
    model = serializers.CharField(help_text="The registered model's name here.")
    tracking_uri = serializers.CharField(help_text="MLflow tracking server URL, without credentials.")
    mlflow_name = serializers.CharField(help_text="The registered model's name in MLflow.")
    governed_alias = serializers.CharField(required=False, default="champion")
    stage_aliases = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
    out_of_band = serializers.ChoiceField(choices=OutOfBandPolicy.choices, required=False, default="restore")


class MlflowLinkUpdateSerializer(StrictSerializer):
    governed_alias = serializers.CharField(required=False)
    stage_aliases = serializers.DictField(child=serializers.CharField(), required=False)
    out_of_band = serializers.ChoiceField(choices=OutOfBandPolicy.choices, required=False)


class MlflowImportSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="link.model.name", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    version_url = serializers.SerializerMethodField()

    class Meta:
        model = MlflowVersionImport
        fields = [
            "id",
            "link",
            "model",
            "version",
            "version_url",
            "mlflow_version",
            "run_id",
            "source_uri",
            "download_uri",
            "git_commit",
            "parameters",
            "datasets",
            "artifact_files",
            "artifact_sha256",
            "hash_status",
            "hash_missing_reason",
            "imported_at",
            "last_verified_at",
            "artifact_changed_at",
            "latest_artifact_sha256",
        ]

    def get_version_url(self, obj) -> str:
        return f"/api/v1/versions/{obj.model_version_id}/"


class MlflowFlagSerializer(serializers.ModelSerializer):
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    resolved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = MlflowFlag
        fields = [
            "id",
            "model",
            "model_version",
            "kind",
            "summary",
            "details",
            "created_at",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]


class MlflowAliasWriteSerializer(serializers.ModelSerializer):
    class Meta:
        model = MlflowAliasWrite
        fields = [
            "id",
            "alias",
            "mlflow_version",
            "model_version",
            "promotion_request_id",
            "reason",
            "status",
            "attempts",
            "last_error",
            "response",
            "next_attempt_at",
            "created_at",
            "done_at",
        ]


class ResolveSerializer(StrictSerializer):
    resolution = serializers.CharField()


AliasHistorySerializer = inline_serializer(
    "MlflowAliasHistory",
    {
        "link": serializers.DictField(),
        "governed_aliases": serializers.DictField(child=serializers.CharField()),
        "at": serializers.DateTimeField(allow_null=True),
        "current": serializers.DictField(),
        "periods": serializers.ListField(child=serializers.DictField()),
    },
)
SyncSummarySerializer = inline_serializer(
    "MlflowSyncSummary",
    {
        "link": serializers.IntegerField(),
        "imported": serializers.ListField(child=serializers.CharField()),
        "unchanged": serializers.IntegerField(),
        "changed": serializers.ListField(child=serializers.CharField()),
        "refused": serializers.DictField(child=serializers.CharField()),
        "pending": serializers.ListField(child=serializers.CharField()),
        "aliases": serializers.DictField(child=serializers.CharField()),
    },
)


class ReadableByRoles(permissions.IsAuthenticated):
    """Every signed-in role reads the bridge's state; the services decide who may change it."""


class MlflowLinkViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Links between registered models here and registered models in MLflow. Creating or changing a link:
    the model's owner or a risk officer. Credentials for MLflow come from the service's environment."""

    permission_classes = [ReadableByRoles]
    serializer_class = MlflowLinkSerializer
    queryset = MlflowLink.objects.none()
    filterset_fields = ["mlflow_name", "last_sync_status"]

    def get_queryset(self):
        return selectors.link_list()

    @extend_schema(request=MlflowLinkCreateSerializer, responses={201: MlflowLinkSerializer})
    def create(self, request):
        data = MlflowLinkCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        name = fields.pop("model")
        model = RegisteredModel.objects.filter(name=name).first()
        if model is None:
            raise ValidationFailed(f"no registered model named {name!r}", field="model")
        link = services.mlflow_link_create(by=self.principal, model=model, **fields)
        return Response(MlflowLinkSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MlflowLinkUpdateSerializer, responses={200: MlflowLinkSerializer})
    def partial_update(self, request, pk=None):
        link = self.get_object()
        data = MlflowLinkUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        link = services.mlflow_link_update(by=self.principal, link=link, data=data.validated_data)
        return Response(MlflowLinkSerializer(link).data)

    @extend_schema(
        request=None,
        responses={200: SyncSummarySerializer, 503: OpenApiResponse(ErrorSerializer, "MLflow is unavailable.")},
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Reconcile now (as ``manage.py mlflow_sync --model NAME``). 503 when MLflow is unavailable."""
        link = self.get_object()
        return Response(services.mlflow_link_sync(by=self.principal, link=link))

    @extend_schema(
        parameters=[OpenApiParameter("at", OpenApiTypes.DATETIME, description="ISO 8601 instant (default: now).")],
        responses={200: AliasHistorySerializer},
    )
    @action(detail=True, methods=["get"], url_path="alias-history")
    def alias_history(self, request, pk=None):
        """Which MLflow version held each governed alias, when, and who approved it."""
        link = self.get_object()
        raw = request.query_params.get("at")
        at = None
        if raw:
            at = parse_datetime(raw.replace(" ", "+"))
            if at is None or timezone.is_naive(at):
                raise ValidationFailed(
                    "at: an ISO 8601 date and time with a timezone, e.g. 2026-11-01T12:00:00Z", field="at"
                )
        return Response(selectors.alias_history(link, at))

    @extend_schema(responses={200: MlflowAliasWriteSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="alias-writes")
    def alias_writes(self, request, pk=None):
        """Governed alias writes of this link, newest first: status, attempts, MLflow's response."""
        link = self.get_object()
        return Response(MlflowAliasWriteSerializer(link.alias_writes.all()[:200], many=True).data)


class MlflowImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """MLflow versions imported here, with the lineage read from MLflow and the artifact hashes."""

    permission_classes = [ReadableByRoles]
    serializer_class = MlflowImportSerializer
    queryset = MlflowVersionImport.objects.none()
    filterset_fields = ["link", "hash_status", "mlflow_version"]

    def get_queryset(self):
        return selectors.import_list()


class MlflowFlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Review flags the bridge raised: artifacts missing or changed, governed aliases moved out of band."""

    permission_classes = [ReadableByRoles]
    serializer_class = MlflowFlagSerializer
    queryset = MlflowFlag.objects.none()
    filterset_fields = ["kind", "model", "model_version"]

    def get_queryset(self):
        return MlflowFlag.objects.select_related("model", "resolved_by")

    @extend_schema(request=ResolveSerializer, responses={200: MlflowFlagSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        flag = self.get_object()
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flag = services.mlflow_flag_resolve(by=self.principal, flag=flag, resolution=data.validated_data["resolution"])
        return Response(MlflowFlagSerializer(flag).data)


class MlflowWebhookView(APIView):
    """Receiver of MLflow registry webhooks (``model_version.created``, ``model_version_alias.created``,
    ``model_version_alias.deleted``). Authenticated by the HMAC signature (``X-MLflow-Signature``) over
    ``{X-MLflow-Delivery-Id}.{X-MLflow-Timestamp}.{body}`` with MLFLOW_WEBHOOK_SECRET; stale timestamps
    and replayed delivery ids are refused. 202: recorded and enqueued."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=inline_serializer(
            "MlflowWebhookPayload",
            {
                "entity": serializers.CharField(),
                "action": serializers.CharField(),
                "timestamp": serializers.CharField(required=False),
                "data": serializers.DictField(),
            },
        ),
        parameters=[
            OpenApiParameter("X-MLflow-Delivery-Id", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MLflow-Timestamp", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-MLflow-Signature", str, OpenApiParameter.HEADER, required=True),
        ],
        responses={
            202: inline_serializer(
                "MlflowWebhookAccepted", {"delivery_id": serializers.CharField(), "status": serializers.CharField()}
            ),
            401: OpenApiResponse(ErrorSerializer, "Missing, stale or wrong signature."),
            503: OpenApiResponse(ErrorSerializer, "MLFLOW_WEBHOOK_SECRET is not set: deliveries cannot be verified."),
        },
    )
    def post(self, request):
        delivery = services.mlflow_webhook_receive(headers=request.headers, body=request.body)
        return Response({"delivery_id": delivery.delivery_id, "status": "accepted"}, status=status.HTTP_202_ACCEPTED)

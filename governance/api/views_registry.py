import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from governance.api.filters import IdFilter, UtcIsoDateTimeFilter
from governance.api.serializers_registry import (
    ModelVersionCreateSerializer,
    ModelVersionSerializer,
    ModelVersionUpdateSerializer,
    RegisteredModelCreateSerializer,
    RegisteredModelSerializer,
    RegisteredModelUpdateSerializer,
)
from governance.api.views_common import GovernanceViewSet
from governance.registry import selectors, services
from governance.registry.models import ModelVersion, RegisteredModel, Stage


class RegisteredModelFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    owner = django_filters.CharFilter(field_name="owner__username")

    class Meta:
        model = RegisteredModel
        fields = ["name", "risk_tier", "eu_ai_act_category", "annex_iii_area", "status", "business_unit", "owner"]


class RegisteredModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """The model inventory. PATCH changes descriptive fields (owner or risk officer) and the
    risk classification (risk officers only)."""

    serializer_class = RegisteredModelSerializer
    filterset_class = RegisteredModelFilter
    ordering_fields = ["name", "created_at", "risk_tier"]
    queryset = RegisteredModel.objects.none()

    def get_queryset(self):
        return selectors.registered_model_list().prefetch_related("versions")

    @extend_schema(request=RegisteredModelCreateSerializer, responses={201: RegisteredModelSerializer})
    def create(self, request):
        data = RegisteredModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.registered_model_create(by=self.principal, **data.validated_data)
        return Response(RegisteredModelSerializer(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RegisteredModelUpdateSerializer, responses={200: RegisteredModelSerializer})
    def partial_update(self, request, pk=None):
        model = self.get_object()
        data = RegisteredModelUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = services.registered_model_update(by=self.principal, model=model, data=data.validated_data)
        return Response(RegisteredModelSerializer(model).data)


class ModelVersionFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model__name", help_text="The registered model's name.")
    model_id = IdFilter(field_name="model_id")
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    registered_after = UtcIsoDateTimeFilter(field_name="registered_at", lookup_expr="gte")

    class Meta:
        model = ModelVersion
        fields = ["model", "model_id", "stage", "version", "framework"]


class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Model versions with their lineage. Lineage is immutable once set; the stage changes only
    through the promotion workflow."""

    serializer_class = ModelVersionSerializer
    filterset_class = ModelVersionFilter
    ordering_fields = ["registered_at", "version", "stage"]
    queryset = ModelVersion.objects.none()

    def get_queryset(self):
        return selectors.model_version_list()

    @extend_schema(request=ModelVersionCreateSerializer, responses={201: ModelVersionSerializer})
    def create(self, request):
        data = ModelVersionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.model_version_create(by=self.principal, **data.validated_data)
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ModelVersionUpdateSerializer, responses={200: ModelVersionSerializer})
    def partial_update(self, request, pk=None):
        version = self.get_object()
        data = ModelVersionUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        version = services.model_version_update(by=self.principal, version=version, data=data.validated_data)
        return Response(ModelVersionSerializer(version).data)

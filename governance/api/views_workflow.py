"""Promotion requests and the point-in-time history of a model's stages."""

import django_filters
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.api.filters import IdFilter
from governance.api.serializers_workflow import (
    ApproveSerializer,
    ModelHistorySerializer,
    PromotionRequestCreateSerializer,
    PromotionRequestSerializer,
    SignatureSerializer,
    WithdrawSerializer,
)
from governance.api.views_common import GovernanceViewSet, RolePermissions
from governance.common.errors import ValidationFailed
from governance.registry.models import RegisteredModel
from governance.workflow import selectors, services
from governance.workflow.models import PromotionRequest, RequestStatus


class PromotionRequestFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="model_version__model__name", help_text="The model's name.")
    model_id = IdFilter(field_name="model_version__model_id")
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices)
    open = django_filters.BooleanFilter(method="filter_open", help_text="Only pending or approved requests.")

    class Meta:
        model = PromotionRequest
        fields = ["model", "model_id", "model_version", "target_stage", "status", "is_rollback", "open"]

    def filter_open(self, queryset, name, value):
        return (
            queryset.filter(status__in=("pending", "approved"))
            if value
            else queryset.exclude(status__in=("pending", "approved"))
        )


class PromotionRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Promotion requests: a version's move to a target stage, judged by its policy's gates and signed by
    people. Creating needs the developer, pipeline or risk officer role; approving and rejecting are
    electronic signatures (justification + the signer's password) by humans, never service accounts."""

    serializer_class = PromotionRequestSerializer
    filterset_class = PromotionRequestFilter
    ordering_fields = ["created_at", "decided_at", "status"]
    queryset = PromotionRequest.objects.none()

    def get_queryset(self):
        return selectors.promotion_request_list()

    def get_permissions(self):
        if self.action in ("approve", "reject", "withdraw"):
            # The service decides who may sign or withdraw, and audits every refusal.
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    def _fresh(self, req):
        return selectors.promotion_request_list().get(pk=req.pk)

    @extend_schema(request=PromotionRequestCreateSerializer, responses={201: PromotionRequestSerializer})
    def create(self, request):
        data = PromotionRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.promotion_request_create(
            by=self.principal,
            version=data.validated_data["model_version"],
            target_stage=data.validated_data["target_stage"],
            reason=data.validated_data["reason"],
            is_rollback=data.validated_data["is_rollback"],
        )
        return Response(PromotionRequestSerializer(self._fresh(req)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WithdrawSerializer, responses={200: PromotionRequestSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        req = self.get_object()
        data = WithdrawSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.promotion_request_withdraw(by=self.principal, request=req, reason=data.validated_data["reason"])
        return Response(PromotionRequestSerializer(self._fresh(req)).data)

    @extend_schema(request=ApproveSerializer, responses={200: PromotionRequestSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        req = self.get_object()
        data = ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.promotion_approve(by=self.principal, request=req, **data.validated_data)
        return Response(PromotionRequestSerializer(self._fresh(req)).data)

    @extend_schema(request=SignatureSerializer, responses={200: PromotionRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        req = self.get_object()
        data = SignatureSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.promotion_reject(by=self.principal, request=req, **data.validated_data)
        return Response(PromotionRequestSerializer(self._fresh(req)).data)


class ModelHistoryView(generics.GenericAPIView):
    """Point in time: which version was in each stage at ``at``, since when, who approved it and on which
    evaluations. Read only from the recorded stage transitions."""

    permission_classes = [permissions.IsAuthenticated, RolePermissions]
    queryset = RegisteredModel.objects.all()
    serializer_class = ModelHistorySerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                description=("ISO 8601 instant with a timezone (default: now), e.g. 2026-11-01T12:00:00Z."),
            )
        ],
        responses={200: ModelHistorySerializer},
    )
    def get(self, request, pk=None):
        model = get_object_or_404(RegisteredModel, pk=pk)
        raw = request.query_params.get("at")
        at = timezone.now()
        if raw:
            at = parse_datetime(raw.replace(" ", "+"))
            if at is None:
                raise ValidationFailed("at: must be an ISO 8601 date and time, e.g. 2026-11-01T12:00:00Z", field="at")
            if timezone.is_naive(at):
                raise ValidationFailed("at: include a timezone (Z or +hh:mm)", field="at")
        return Response(ModelHistorySerializer(selectors.model_history(model, at)).data)

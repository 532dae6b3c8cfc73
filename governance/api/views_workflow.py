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
    CommitteeCreateSerializer,
    CommitteeReviseSerializer,
    CommitteeSerializer,
    ModelHistorySerializer,
    PromotionRequestCreateSerializer,
    PromotionRequestSerializer,
    RecuseSerializer,
    SignatureSerializer,
    WithdrawSerializer,
)
from governance.api.views_common import GovernanceViewSet, RolePermissions
from governance.common.errors import ValidationFailed
from governance.registry.models import RegisteredModel
from governance.workflow import committees, selectors, services
from governance.workflow.models import Committee, PromotionRequest, RequestStatus


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
        if self.action in ("approve", "reject", "withdraw", "recuse"):
            # The service decides who may sign or withdraw, and audits every refusal.
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    def _fresh(self, req):
        return selectors.promotion_request_list().get(pk=req.pk)

    @extend_schema(request=PromotionRequestCreateSerializer, responses={201: PromotionRequestSerializer})
    def create(self, request):
        data = PromotionRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.version_for_request(self.principal, data.validated_data["model_version"])
        req = services.promotion_request_create(
            by=self.principal,
            version=version,
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

    @extend_schema(request=RecuseSerializer, responses={200: PromotionRequestSerializer})
    @action(detail=True, methods=["post"])
    def recuse(self, request, pk=None):
        """A committee member declares a conflict of interest: excluded from this request, M lowered."""
        req = self.get_object()
        data = RecuseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        committees.promotion_request_recuse(by=self.principal, request=req, reason=data.validated_data["reason"])
        return Response(PromotionRequestSerializer(self._fresh(req)).data)


class CommitteeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Approval committees: N approvals out of M named members, with a minimum per role, for a policy scope
    or one model. Risk officers create and revise them (audited); a revision never touches open requests."""

    serializer_class = CommitteeSerializer
    queryset = Committee.objects.none()
    filterset_fields = ["scope", "model", "target_stage", "is_active"]

    def get_queryset(self):
        return selectors.committee_list()

    def get_permissions(self):
        if self.request.method not in permissions.SAFE_METHODS:
            return [permissions.IsAuthenticated()]  # the service checks the role and audits refusals
        return super().get_permissions()

    def _fresh(self, committee):
        return CommitteeSerializer(selectors.committee_list().get(pk=committee.pk)).data

    @extend_schema(request=CommitteeCreateSerializer, responses={201: CommitteeSerializer})
    def create(self, request):
        data = CommitteeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        committee = committees.committee_create(by=self.principal, **v)
        return Response(self._fresh(committee), status=status.HTTP_201_CREATED)

    @extend_schema(request=CommitteeReviseSerializer, responses={200: CommitteeSerializer})
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        committee = self.get_object()
        data = CommitteeReviseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        committee = committees.committee_revise(by=self.principal, committee=committee, **data.validated_data)
        return Response(self._fresh(committee))


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

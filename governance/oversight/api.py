"""API v1 for ongoing model risk management (routes in ``governance.api.urls``):

- ``/api/v1/validations`` (GET list/detail, POST start), ``/api/v1/validations/{id}/complete`` (POST)
- ``/api/v1/findings`` (GET, POST create), ``/api/v1/findings/{id}/propose-remediation|close|accept-risk`` (POST)
- ``/api/v1/revalidation/schedule`` (GET ``?within=90``), ``/api/v1/revalidation/intervals`` (POST)
- ``/api/v1/incidents`` (GET, POST), ``/api/v1/incidents/{id}/reports`` (POST)
- ``/api/v1/monitoring/schedules`` (GET, POST), ``/api/v1/monitoring/schedules/{id}/end`` (POST)
- ``/api/v1/monitoring/missed-checks`` (GET), ``/api/v1/monitoring/missed-checks/{id}/resolve`` (POST)
- ``/api/v1/versions/{id}/series`` (GET: the gated metrics; ``?metric=auc``: that metric's points, paginated)
- ``/api/v1/post-market-plans`` (GET, POST write or revise; GET ``{id}`` gives the whole plan record)

Reads need the role's view permission; writes are decided (and refusals audited) by the services.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, views
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.accounts.models import User
from governance.api.pagination import Pagination
from governance.api.serializers_registry import StrictSerializer
from governance.api.views_common import GovernanceViewSet, RolePermissions
from governance.common.errors import ValidationFailed
from governance.oversight import monitoring, selectors, services
from governance.oversight.models import (
    PLAN_FIELDS,
    Conclusion,
    Finding,
    IncidentReport,
    MissedCheck,
    MonitoringKind,
    MonitoringSchedule,
    PostMarketPlan,
    ReportKind,
    SeriousIncident,
    Severity,
    Validation,
)
from governance.oversight.rules import INCIDENT_CATEGORIES
from governance.registry.models import ModelVersion, RegisteredModel

# --- serializers ----------------------------------------------------------------------------------------------------


class FindingSerializer(serializers.ModelSerializer):
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    risk_accepted_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    model_version = serializers.IntegerField(source="validation.model_version_id", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id",
            "validation",
            "model_version",
            "severity",
            "description",
            "evidence_evaluations",
            "evidence_audit_seqs",
            "owner",
            "due_date",
            "status",
            "state",
            "remediation",
            "remediation_proposed_at",
            "closed_by",
            "closed_at",
            "closure_note",
            "risk_accepted_by",
            "risk_accepted_at",
            "risk_acceptance_justification",
            "risk_accepted_until",
            "created_at",
        ]
        read_only_fields = fields

    def get_state(self, obj) -> dict:
        return selectors.finding_state(obj)


class ValidationSerializer(serializers.ModelSerializer):
    validator: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model = serializers.CharField(source="model_version.model.name", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    findings = FindingSerializer(many=True, read_only=True)

    class Meta:
        model = Validation
        fields = [
            "id",
            "model_version",
            "model",
            "version",
            "scope",
            "validator",
            "started_on",
            "completed_on",
            "conclusion",
            "summary",
            "created_by",
            "created_at",
            "findings",
        ]
        read_only_fields = fields


class IncidentReportSerializer(serializers.ModelSerializer):
    recorded_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = IncidentReport
        fields = ["id", "kind", "submitted_at", "authority", "reference", "summary", "recorded_by", "recorded_at"]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer):
    recorded_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    reports = IncidentReportSerializer(many=True, read_only=True)
    deadline_status = serializers.SerializerMethodField()

    class Meta:
        model = SeriousIncident
        fields = [
            "id",
            "model_version",
            "description",
            "occurred_at",
            "aware_at",
            "affected_persons",
            "causal_link",
            "category",
            "reporting_deadline",
            "deadline_rule",
            "deadline_status",
            "reports",
            "recorded_by",
            "recorded_at",
        ]
        read_only_fields = fields

    def get_deadline_status(self, obj) -> dict:
        return selectors.incident_deadline_status(obj)


class ValidationStartSerializer(StrictSerializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.select_related("model"))
    scope = serializers.CharField()
    validator = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False)
    started_on = serializers.DateField(required=False)


class ValidationCompleteSerializer(StrictSerializer):
    conclusion = serializers.ChoiceField(choices=Conclusion.values)
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    completed_on = serializers.DateField(required=False)


class FindingCreateSerializer(StrictSerializer):
    validation = serializers.PrimaryKeyRelatedField(queryset=Validation.objects.select_related("model_version"))
    severity = serializers.ChoiceField(choices=Severity.values)
    description = serializers.CharField()
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    due_date = serializers.DateField()
    evidence_evaluations = serializers.ListField(child=serializers.IntegerField(min_value=0), required=False)
    evidence_audit_seqs = serializers.ListField(child=serializers.IntegerField(min_value=0), required=False)


class RemediationSerializer(StrictSerializer):
    remediation = serializers.CharField()


class CloseSerializer(StrictSerializer):
    note = serializers.CharField()


class AcceptRiskSerializer(StrictSerializer):
    """``expires_on`` may be omitted here so that the service refuses it by name (audited)."""

    justification = serializers.CharField(allow_blank=True)
    expires_on = serializers.DateField(required=False, allow_null=True)


class IntervalSerializer(StrictSerializer):
    model = serializers.PrimaryKeyRelatedField(queryset=RegisteredModel.objects.all())
    months = serializers.IntegerField()
    reason = serializers.CharField(allow_blank=True)


class IncidentCreateSerializer(StrictSerializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.select_related("model"))
    description = serializers.CharField()
    aware_at = serializers.DateTimeField()
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)
    affected_persons = serializers.CharField()
    causal_link = serializers.CharField()
    category = serializers.ChoiceField(choices=INCIDENT_CATEGORIES, required=False, default="general")


class IncidentReportCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=ReportKind.values)
    submitted_at = serializers.DateTimeField()
    authority = serializers.CharField()
    reference = serializers.CharField(required=False, allow_blank=True, default="")
    summary = serializers.CharField()


# --- views ---------------------------------------------------------------------------------------------


class _WritesByService(GovernanceViewSet):
    """Reads need the view permission; writes go to the service, which checks roles and audits refusals."""

    def get_permissions(self):
        if self.request.method in permissions.SAFE_METHODS:
            return super().get_permissions()
        return [permissions.IsAuthenticated()]


class ValidationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _WritesByService):
    """Independent validations of model versions and their findings."""

    serializer_class = ValidationSerializer
    queryset = Validation.objects.none()
    filterset_fields = ["model_version", "conclusion"]
    ordering_fields = ["started_on", "completed_on"]

    def get_queryset(self):
        return selectors.validation_list()

    def _fresh(self, validation):
        return ValidationSerializer(selectors.validation_list().get(pk=validation.pk)).data

    @extend_schema(request=ValidationStartSerializer, responses={201: ValidationSerializer})
    def create(self, request):
        data = ValidationStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        validation = services.validation_start(
            by=self.principal,
            version=v["model_version"],
            scope=v["scope"],
            validator=v.get("validator"),
            started_on=v.get("started_on"),
        )
        return Response(self._fresh(validation), status=status.HTTP_201_CREATED)

    @extend_schema(request=ValidationCompleteSerializer, responses={200: ValidationSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        validation = self.get_object()
        data = ValidationCompleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        validation = services.validation_complete(by=self.principal, validation=validation, **data.validated_data)
        return Response(self._fresh(validation))


class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _WritesByService):
    """Validation findings: open -> remediation proposed -> closed (validator), or risk accepted (risk officer)."""

    serializer_class = FindingSerializer
    queryset = Finding.objects.none()
    filterset_fields = ["validation", "severity", "status"]
    ordering_fields = ["due_date", "created_at"]

    def get_queryset(self):
        return selectors.finding_list()

    def _fresh(self, finding):
        return FindingSerializer(selectors.finding_list().get(pk=finding.pk)).data

    @extend_schema(request=FindingCreateSerializer, responses={201: FindingSerializer})
    def create(self, request):
        data = FindingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_create(by=self.principal, **data.validated_data)
        return Response(self._fresh(finding), status=status.HTTP_201_CREATED)

    @extend_schema(request=RemediationSerializer, responses={200: FindingSerializer})
    @action(detail=True, methods=["post"], url_path="propose-remediation")
    def propose_remediation(self, request, pk=None):
        finding = self.get_object()
        data = RemediationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_propose_remediation(by=self.principal, finding=finding, **data.validated_data)
        return Response(self._fresh(finding))

    @extend_schema(request=CloseSerializer, responses={200: FindingSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        finding = self.get_object()
        data = CloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_close(by=self.principal, finding=finding, **data.validated_data)
        return Response(self._fresh(finding))

    @extend_schema(request=AcceptRiskSerializer, responses={200: FindingSerializer})
    @action(detail=True, methods=["post"], url_path="accept-risk")
    def accept_risk(self, request, pk=None):
        finding = self.get_object()
        data = AcceptRiskSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        finding = services.finding_accept_risk(
            by=self.principal,
            finding=finding,
            justification=data.validated_data["justification"],
            expires_on=data.validated_data.get("expires_on"),
        )
        return Response(self._fresh(finding))


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _WritesByService):
    """The EU AI Act serious-incident register with Art. 73 reporting deadlines."""

    serializer_class = IncidentSerializer
    queryset = SeriousIncident.objects.none()
    filterset_fields = ["model_version", "category"]
    ordering_fields = ["aware_at", "reporting_deadline"]

    def get_queryset(self):
        return selectors.incident_list()

    def _fresh(self, incident):
        return IncidentSerializer(selectors.incident_list().get(pk=incident.pk)).data

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentSerializer})
    def create(self, request):
        data = IncidentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        incident = services.serious_incident_record(by=self.principal, version=v.pop("model_version"), **v)
        return Response(self._fresh(incident), status=status.HTTP_201_CREATED)

    @extend_schema(request=IncidentReportCreateSerializer, responses={201: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def reports(self, request, pk=None):
        incident = self.get_object()
        data = IncidentReportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.serious_incident_report(by=self.principal, incident=incident, **data.validated_data)
        return Response(self._fresh(incident), status=status.HTTP_201_CREATED)


class RevalidationScheduleView(views.APIView):
    """Production versions by revalidation due date: ``?within=90`` keeps overdue and due in 90 days."""

    permission_classes = [permissions.IsAuthenticated, RolePermissions]
    queryset = Validation.objects.all()

    @extend_schema(responses={200: dict})
    def get(self, request):
        raw = request.query_params.get("within")
        within = None
        if raw not in (None, ""):
            if not raw.isdigit() or int(raw) > 3660:
                raise ValidationFailed("within: a number of days from 0 to 3660", field="within")
            within = int(raw)
        rows = selectors.revalidation_schedule(horizon_days=within)
        for row in rows:
            row.pop("version")
            for key in ("last_validation", "next_due"):
                row[key] = row[key].isoformat() if row[key] else None
        counts = {b: sum(1 for r in rows if r["bucket"] == b) for b in ("overdue", "due_30", "due_60", "due_90")}
        return Response({"counts": counts, "results": rows})


class RevalidationIntervalView(GovernanceViewSet):
    """POST a per-model revalidation interval (risk officers; audited)."""

    permission_classes = [permissions.IsAuthenticated]
    queryset = RegisteredModel.objects.none()
    serializer_class = IntervalSerializer

    @extend_schema(request=IntervalSerializer, responses={201: dict})
    def create(self, request):
        data = IntervalSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        interval = services.revalidation_interval_set(by=self.principal, **data.validated_data)
        return Response(
            {
                "model": interval.model_id,
                "months": interval.months,
                "reason": interval.reason,
                "set_by": interval.set_by.username,
            },
            status=status.HTTP_201_CREATED,
        )


# --- monitoring schedules, missed checks, metric series, post-market plans (issue 17.4, 17.5) ------------------


class MissedCheckSerializer(serializers.ModelSerializer):
    resolved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    model = serializers.CharField(source="schedule.model_version.model.name", read_only=True)
    version = serializers.CharField(source="schedule.model_version.version", read_only=True)
    model_version = serializers.IntegerField(source="schedule.model_version_id", read_only=True)
    kind = serializers.CharField(source="schedule.kind", read_only=True)

    class Meta:
        model = MissedCheck
        fields = [
            "id",
            "schedule",
            "model",
            "version",
            "model_version",
            "kind",
            "due_at",
            "grace_until",
            "detected_at",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]
        read_only_fields = fields


class MonitoringScheduleSerializer(serializers.ModelSerializer):
    responsible: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model = serializers.CharField(source="model_version.model.name", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = MonitoringSchedule
        fields = [
            "id",
            "model_version",
            "model",
            "version",
            "kind",
            "cadence_days",
            "grace_hours",
            "starts_at",
            "description",
            "responsible",
            "is_active",
            "ended_at",
            "end_reason",
            "state",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_state(self, obj) -> dict:
        state = monitoring.schedule_state(obj)
        return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in state.items()}


class MonitoringScheduleCreateSerializer(StrictSerializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.select_related("model"))
    kind = serializers.ChoiceField(choices=MonitoringKind.values)
    cadence_days = serializers.IntegerField()
    grace_hours = serializers.IntegerField(required=False, default=24)
    starts_at = serializers.DateTimeField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    responsible = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), required=False, allow_null=True
    )


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(allow_blank=True)


class ResolutionSerializer(StrictSerializer):
    resolution = serializers.CharField(allow_blank=True)


class PostMarketPlanSerializer(serializers.ModelSerializer):
    model_name = serializers.CharField(source="model.name", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    updated_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PostMarketPlan
        fields = [
            "id",
            "model",
            "model_name",
            *PLAN_FIELDS,
            "revision",
            "created_by",
            "created_at",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = fields


class PostMarketPlanWriteSerializer(StrictSerializer):
    model = serializers.PrimaryKeyRelatedField(queryset=RegisteredModel.objects.all())
    monitored = serializers.CharField(required=False, allow_blank=True)
    data_collection = serializers.CharField(required=False, allow_blank=True)
    responsibilities = serializers.CharField(required=False, allow_blank=True)
    thresholds = serializers.CharField(required=False, allow_blank=True)
    review_cadence = serializers.CharField(required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Required for a revision.")


class MonitoringScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _WritesByService):
    """Scheduled monitoring of production versions: a drift or performance evaluation expected every
    ``cadence_days``, at the latest ``grace_hours`` after each due time."""

    serializer_class = MonitoringScheduleSerializer
    queryset = MonitoringSchedule.objects.none()
    filterset_fields = ["model_version", "kind", "is_active"]

    def get_queryset(self):
        return monitoring.schedule_list()

    def _fresh(self, schedule):
        return MonitoringScheduleSerializer(monitoring.schedule_list().get(pk=schedule.pk)).data

    @extend_schema(request=MonitoringScheduleCreateSerializer, responses={201: MonitoringScheduleSerializer})
    def create(self, request):
        data = MonitoringScheduleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        schedule = services.monitoring_schedule_create(by=self.principal, version=v.pop("model_version"), **v)
        return Response(self._fresh(schedule), status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses={200: MonitoringScheduleSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        schedule = self.get_object()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = services.monitoring_schedule_end(by=self.principal, schedule=schedule, **data.validated_data)
        return Response(self._fresh(schedule))


class MissedCheckViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, _WritesByService):
    """Scheduled monitoring evaluations that did not arrive by their due time plus grace."""

    serializer_class = MissedCheckSerializer
    queryset = MissedCheck.objects.none()
    filterset_fields = ["schedule", "schedule__model_version"]

    def get_queryset(self):
        queryset = monitoring.missed_check_list()
        raw = self.request.query_params.get("open")
        if raw in ("true", "1"):
            queryset = queryset.filter(resolved_at__isnull=True)
        elif raw in ("false", "0"):
            queryset = queryset.filter(resolved_at__isnull=False)
        return queryset

    @extend_schema(request=ResolutionSerializer, responses={200: MissedCheckSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        missed = self.get_object()
        data = ResolutionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        missed = services.missed_check_resolve(by=self.principal, missed=missed, **data.validated_data)
        return Response(MissedCheckSerializer(monitoring.missed_check_list().get(pk=missed.pk)).data)


class PostMarketPlanViewSet(mixins.ListModelMixin, _WritesByService):
    """The EU AI Act post-market monitoring plan of each high-risk model (Art. 72). GET ``{id}`` returns
    the whole record: the narrative, the model's monitoring schedules with their missed checks, and the
    thresholds of its policies (what the EU pack prints)."""

    serializer_class = PostMarketPlanSerializer
    queryset = PostMarketPlan.objects.none()
    filterset_fields = ["model"]

    def get_queryset(self):
        return PostMarketPlan.objects.select_related("model", "created_by", "updated_by")

    @extend_schema(responses={200: dict})
    def retrieve(self, request, pk=None):
        plan = self.get_object()
        record = monitoring.post_market_plan(plan.model)
        return Response(
            {
                **PostMarketPlanSerializer(plan).data,
                "record": serializers.JSONField().to_representation(_jsonable(record)),
            }
        )

    @extend_schema(request=PostMarketPlanWriteSerializer, responses={201: PostMarketPlanSerializer})
    def create(self, request):
        data = PostMarketPlanWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        plan = services.post_market_plan_set(by=self.principal, model=v.pop("model"), **v)
        return Response(PostMarketPlanSerializer(plan).data, status=status.HTTP_201_CREATED)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class MetricSeriesView(views.APIView):
    """A version's gated metrics over time, for trend charts. Without ``metric``: the metrics its
    model's current policies gate on, with their rule. With ``metric`` (and optionally ``kind``): the
    points of that metric, oldest first, paginated (``page``, ``page_size``)."""

    permission_classes = [permissions.IsAuthenticated, RolePermissions]
    queryset = ModelVersion.objects.all()

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", OpenApiTypes.STR, description="e.g. auc, max_psi, psi:income"),
            OpenApiParameter(
                "kind", OpenApiTypes.STR, description="performance, fairness, drift (default: the gate's)"
            ),
        ],
        responses={200: dict},
    )
    def get(self, request, pk=None):
        version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=pk)
        gated = monitoring.gated_metric_list(version)
        metric = (request.query_params.get("metric") or "").strip()
        if not metric:
            return Response({"model_version": version.pk, "metrics": gated})
        if len(metric) > 200:
            raise ValidationFailed("metric: at most 200 characters", field="metric")
        kind = (request.query_params.get("kind") or "").strip()
        rule = next((g for g in gated if g["metric"] == metric and (not kind or g["kind"] == kind)), None)
        if not kind:
            if rule is None:
                raise ValidationFailed(
                    f"kind: {metric!r} is not gated by this model's policies; name its kind", field="kind"
                )
            kind = rule["kind"]
        if kind not in ("performance", "fairness", "drift", "reported"):
            raise ValidationFailed("kind: must be performance, fairness, drift or reported", field="kind")
        evaluations = monitoring.metric_series(version, kind=kind, metric=metric)
        if ":" not in metric:
            evaluations = evaluations.filter(metrics__has_key=metric)
        paginator = Pagination()
        page = paginator.paginate_queryset(evaluations, request, view=self)
        points = [p for p in (monitoring.series_point(e, metric) for e in page or []) if p is not None]
        response = paginator.get_paginated_response(
            [{**p, "evaluated_at": p["evaluated_at"].isoformat()} for p in points]
        )
        response.data.update(
            {
                "model_version": version.pk,
                "metric": metric,
                "kind": kind,
                "comparator": rule["comparator"] if rule else None,
                "threshold": rule["threshold"] if rule else None,
            }
        )
        return response

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, parsers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from governance.api.filters import IdFilter
from governance.api.parsers import JSONParser
from governance.api.serializers_evaluations import (
    EvaluationCreateSerializer,
    EvaluationSerializer,
    ReferenceSampleCreateSerializer,
    ReferenceSampleSerializer,
    refuse_first_error,
    request_data,
    resolve_model_version,
)
from governance.api.views_common import GovernanceViewSet, RolePermissions
from governance.common.errors import ValidationFailed
from governance.common.refusals import refusals
from governance.evaluations import selectors, services
from governance.evaluations.models import Evaluation, EvaluationKind, EvaluationSource, EvaluationStatus
from governance.registry.services import version_target


class PostDecidedByService(RolePermissions):
    """Reads need the ``view`` permission of the role; who may POST is decided (and a refusal audited
    as ``<action>.denied``) by the service."""

    perms_map = {**RolePermissions.perms_map, "POST": []}


class LenientJSONParser(JSONParser):
    """Accepts NaN and Infinity (as Python's json writes them) so the service can name the field that
    holds them, instead of a generic parse error."""

    strict = False


class EvaluationFilter(django_filters.FilterSet):
    model_version = IdFilter(field_name="model_version_id")
    model = django_filters.CharFilter(field_name="model_version__model__name", help_text="The model's name.")
    kind = django_filters.ChoiceFilter(choices=EvaluationKind.choices)
    status = django_filters.ChoiceFilter(choices=EvaluationStatus.choices)
    source = django_filters.ChoiceFilter(choices=EvaluationSource.choices)

    class Meta:
        model = Evaluation
        fields = ["model_version", "model", "kind", "dataset", "status", "source"]


def _refusals(view, action: str, model_version, details: dict | None = None):
    target = {"type": "model_version", "id": str(model_version)[:100] or "unspecified"}
    return target, refusals(view.principal, action, target, details=details)


def _summary(data) -> dict:
    """What a refusal records about the caller's own kind and dataset: short strings, nothing empty."""
    values = {name: data.get(name) for name in ("kind", "dataset")} if hasattr(data, "get") else {}
    return {k: v[:200] for k, v in values.items() if isinstance(v, str) and v}


class EvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Fairness, drift and performance evaluations computed by the service from raw data, and reported
    metrics. Small inputs are computed in the request (201); large ones are queued (202) and the
    evaluation's ``status`` goes queued -> running -> done or failed. Finished evaluations never change."""

    serializer_class = EvaluationSerializer
    filterset_class = EvaluationFilter
    ordering_fields = ["created_at", "finished_at", "kind", "dataset"]
    permission_classes = [*GovernanceViewSet.permission_classes[:-1], PostDecidedByService]
    queryset = Evaluation.objects.none()
    parser_classes = [LenientJSONParser, parsers.FormParser, parsers.MultiPartParser]

    def get_queryset(self):
        return selectors.evaluation_list()

    @extend_schema(
        request={"application/json": EvaluationCreateSerializer, "multipart/form-data": EvaluationCreateSerializer},
        responses={201: EvaluationSerializer, 202: EvaluationSerializer},
    )
    def create(self, request):
        data, context = request_data(request)
        model_version = data.get("model_version", "") if hasattr(data, "get") else ""
        target, refusing = _refusals(self, "evaluation.create", model_version, details=_summary(data))
        with refusing:
            self.principal.require_role(
                *services.POST_ROLES, reason="only pipelines, developers, validators and risk officers post evaluations"
            )
            serializer = EvaluationCreateSerializer(data=data, context=context)
            try:
                fields = refuse_first_error(serializer)
            finally:
                if serializer.version is not None:
                    target.update(version_target(serializer.version))
        input_bytes = int(request.META.get("CONTENT_LENGTH") or 0) if "file" not in fields else None
        created = services.evaluation_create(
            by=self.principal,
            model_version=fields["model_version"],
            kind=fields["kind"],
            dataset=fields["dataset"],
            thresholds=fields.get("thresholds"),
            params=fields.get("params"),
            data=fields.get("data"),
            file=fields.get("file"),
            file_format=fields.get("file_format") or None,
            columns=fields.get("columns"),
            input_bytes=input_bytes,
            input_uri=fields.get("input_uri"),
        )
        code = status.HTTP_202_ACCEPTED if created.queued else status.HTTP_201_CREATED
        evaluation = selectors.evaluation_list().get(pk=created.evaluation.pk)
        body = EvaluationSerializer(evaluation, context={"request": request}).data
        return Response(body, status=code, headers={"Location": body["url"]})


class ReferenceSampleViewSet(mixins.ListModelMixin, GovernanceViewSet):
    """A version's reference samples for drift: ``POST /api/v1/versions/{id}/reference/`` (multipart
    ``file``, ``file_format``, ``columns``) stores one with its SHA-256; GET lists them."""

    serializer_class = ReferenceSampleSerializer
    permission_classes = [*GovernanceViewSet.permission_classes[:-1], PostDecidedByService]
    queryset = selectors.reference_sample_list().none()

    def get_queryset(self):
        return selectors.reference_sample_list(self.kwargs["pk"])

    @extend_schema(
        request={"multipart/form-data": ReferenceSampleCreateSerializer}, responses={201: ReferenceSampleSerializer}
    )
    def create(self, request, pk=None):
        data, context = request_data(request)
        target, refusing = _refusals(self, "reference_sample.create", pk)
        with refusing:
            self.principal.require_role(
                *services.POST_ROLES,
                reason="only pipelines, developers, validators and risk officers register reference samples",
            )
            try:
                version = resolve_model_version(pk)
            except ValidationError as exc:
                raise ValidationFailed(f"model_version: {exc.detail[0]}", field="model_version") from None
            target.update(version_target(version))
            fields = refuse_first_error(ReferenceSampleCreateSerializer(data=data, context=context))
        sample = services.reference_sample_register(
            by=self.principal,
            model_version=version,
            file=fields["file"],
            file_format=fields.get("file_format") or None,
            columns=fields["columns"],
        )
        return Response(ReferenceSampleSerializer(sample).data, status=status.HTTP_201_CREATED)

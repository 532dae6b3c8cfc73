"""Evaluations over the API: the response shape, and the requests' shape (these serializers are both the
documentation and the check; the view audits their refusals)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.accounts.models import User
from governance.api.errors import flatten_errors
from governance.common.errors import ValidationFailed
from governance.evaluations import checks as checks_core
from governance.evaluations.models import Evaluation, EvaluationKind, ReferenceSample
from governance.evaluations.services import (
    COMPUTED_KINDS,
    FILE_FORMATS,
    MAX_REPORTED_METRICS,
    MAX_THRESHOLDS,
    NAME_RE,
    PARAMS_BY_KIND,
)
from governance.registry.models import ModelVersion

# Base fields of every evaluation; the kind's result fields are added at top level without overriding them.
BASE_FIELDS = [
    "id",
    "url",
    "model_version",
    "model",
    "version",
    "kind",
    "dataset",
    "source",
    "status",
    "failure_reason",
    "input_sha256",
    "input_rows",
    "library_versions",
    "params",
    "thresholds",
    "checks",
    "passed",
    "warnings",
    "metrics",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "progress",
]


class RocCurveSerializer(serializers.Serializer):
    """Schema of ``roc_curve`` (docs/evaluations.md, "ROC curve")."""

    fpr = serializers.ListField(child=serializers.FloatField(), help_text="False positive rate of each point.")
    tpr = serializers.ListField(child=serializers.FloatField(), help_text="True positive rate of each point.")
    thresholds = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        help_text="Score threshold of each point (predicted positive when score >= threshold); "
        "null for the first point (0, 0), where no row is predicted positive.",
    )
    n_points = serializers.IntegerField(help_text="Points stored (at most max_points).")
    n_vertices = serializers.IntegerField(help_text="Vertices of the full empirical curve (distinct scores + 1).")
    exact = serializers.BooleanField(help_text="True when every vertex is stored.")
    max_points = serializers.IntegerField()
    auc_of_points = serializers.FloatField(
        allow_null=True, help_text="Trapezoid area under the stored points; the exact AUC is `auc`."
    )
    rule = serializers.CharField(help_text="fpr_plus_tpr_slices: the thinning rule used when exact is false.")


class CalibrationBinSerializer(serializers.Serializer):
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    count = serializers.IntegerField()
    mean_score = serializers.FloatField(allow_null=True, help_text="null for an empty bin")
    observed_rate = serializers.FloatField(allow_null=True, help_text="Share of positives; null for an empty bin")


class EvaluationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    model = serializers.CharField(source="model_version.model.name", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    model_version = serializers.IntegerField(source="model_version_id", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    passed = serializers.BooleanField(read_only=True, allow_null=True)
    roc_curve = serializers.SerializerMethodField(
        help_text="Performance evaluations only: the ROC curve computed by the service, at most 201 points "
        "(null when the labels hold one class, absent when the evaluation predates stored curves)."
    )
    calibration = serializers.SerializerMethodField(
        help_text="Performance evaluations only: reliability bins (10 equal-width score bins on [0, 1])."
    )

    class Meta:
        model = Evaluation
        fields = [*BASE_FIELDS, "roc_curve", "calibration"]

    def get_url(self, obj) -> str:
        return reverse("api:evaluation-detail", args=[obj.pk])

    @extend_schema_field(RocCurveSerializer(allow_null=True, required=False))
    def get_roc_curve(self, obj):
        return (obj.result or {}).get("roc_curve")

    @extend_schema_field(CalibrationBinSerializer(many=True, required=False))
    def get_calibration(self, obj):
        return (obj.result or {}).get("calibration")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        result = instance.result or {}
        for key in ("roc_curve", "calibration"):  # present only where the result records them
            if key not in result:
                data.pop(key, None)
        for key, value in result.items():
            if key == "input":
                data["input"] = value
            elif key not in data:
                data[key] = value
        return data


def resolve_model_version(value) -> ModelVersion:
    """The model version a request names by its id (an integer, or its digits in a form field)."""
    if value is None or value == "":
        raise serializers.ValidationError("is required")
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise serializers.ValidationError("must be a model version id (an integer)")
    version = ModelVersion.objects.select_related("model").filter(pk=int(value)).first()
    if version is None:
        raise serializers.ValidationError(f"model version {value} does not exist")
    return version


def _at(index: int, error) -> list:
    """An error for item ``index`` of a list field (reported as ``field[index]...``)."""
    return [{} for _ in range(index)] + [error]


def _plain_scalar(value) -> bool:
    return value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


@extend_schema_field(OpenApiTypes.INT)
class ModelVersionField(serializers.Field):
    default_error_messages = {"required": "is required", "null": "is required"}

    def to_internal_value(self, data) -> ModelVersion:
        version = resolve_model_version(data)
        if isinstance(self.parent, EvaluationCreateSerializer):
            self.parent.version = version  # the refusal's target names the version even when another field is bad
        return version

    def to_representation(self, value):
        return value.pk


class KindField(serializers.ChoiceField):
    def to_internal_value(self, data) -> str:
        if data not in EvaluationKind.values:
            raise serializers.ValidationError(
                f"unknown evaluation kind {data!r} (expected one of: {', '.join(EvaluationKind.values)})"
            )
        return str(data)


class JSONValue(serializers.JSONField):
    """A JSON value: as sent in a JSON body; JSON-decoded from a multipart form field."""

    def to_internal_value(self, data):
        if self.context.get("form") and isinstance(data, str):
            try:
                return json.loads(data)
            except ValueError as exc:
                raise serializers.ValidationError(f"is not valid JSON ({exc})") from exc
        return data


class UploadField(serializers.FileField):
    """An uploaded file, taken as it is: its contents are checked when it is read."""

    def to_internal_value(self, data):
        if not hasattr(data, "read"):
            raise serializers.ValidationError("upload files as multipart/form-data")
        return data


class RequestSerializer(serializers.Serializer):
    """Decoding shared by the evaluation requests: a JSON object or a form, no unknown fields, no NUL
    characters; the first error is refused as a ValidationFailed naming its field
    (``ValidationFailed`` via ``refuse_first_error``), audited by the view's refusal."""

    def to_internal_value(self, data):
        if not hasattr(data, "keys"):
            raise serializers.ValidationError({"body": ["must be a JSON object"]})
        allowed = list(self.fields)
        unknown = sorted(set(data.keys()) - set(allowed))
        if unknown:
            raise serializers.ValidationError({unknown[0]: [f"unknown field (expected one of: {', '.join(allowed)})"]})
        form = self.context.get("form")
        values = {}
        for name in allowed:
            if name not in data:
                continue
            value = data.get(name) if form else data[name]
            if isinstance(value, str) and "\x00" in value:
                raise serializers.ValidationError({name: ["text contains a NUL character (U+0000)"]})
            values[name] = value
        return super().to_internal_value(values)


def refuse_first_error(serializer: serializers.Serializer) -> dict:
    """The serializer's validated data, or its first error raised as ValidationFailed
    (``"<field>: <reason>"``, the field dotted as in ``data.y_true`` or ``thresholds[0].metric``)."""
    if serializer.is_valid():
        return serializer.validated_data
    field, reasons = next(iter(flatten_errors(serializer.errors).items()))
    raise ValidationFailed(f"{field}: {reasons[0]}", field=field)


def request_data(request) -> tuple[object, dict]:
    """The request's fields and the serializer context: uploaded files join the form fields; a file
    sent in a JSON body is refused."""
    form = not request.content_type.startswith("application/json")
    body = request.data
    if form and hasattr(body, "keys"):
        merged = {name: body.get(name) for name in body.keys()}
        merged.update({name: request.FILES[name] for name in getattr(request, "FILES", {})})
        return merged, {"form": True}
    return body, {"form": False}


class EvaluationCreateSerializer(RequestSerializer):
    """``POST /api/v1/evaluations/`` (JSON, or multipart with ``file``): the shape of the request,
    checked here. What the data say (columns, values, the reference sample, the kernels' parameters)
    is checked by the service when it reads them."""

    model_version = ModelVersionField(help_text="The model version's id.")
    kind = KindField(
        choices=EvaluationKind.choices,
        error_messages={
            "required": f"is required (one of: {', '.join(EvaluationKind.values)})",
            "null": f"is required (one of: {', '.join(EvaluationKind.values)})",
        },
    )
    dataset = serializers.CharField(
        help_text="A label such as holdout-2026-10.",
        max_length=200,
        error_messages={
            **dict.fromkeys(("required", "null", "blank", "invalid"), "is required: a label such as holdout-2026-10"),
            "max_length": "must be at most 200 characters",
        },
    )
    thresholds = JSONValue(
        required=False,
        allow_null=True,
        help_text='[{"metric", "comparator", "threshold"}]; JSON-encoded in multipart.',
    )
    params = JSONValue(
        required=False,
        allow_null=True,
        help_text="Kind parameters (threshold, min_group_size, categorical, n_boot, ...); JSON-encoded in multipart.",
    )
    # Named like Serializer.data (typed on the class by the stubs; DRF's metaclass moves fields off it).
    data = JSONValue(  # type: ignore[assignment]
        required=False,
        allow_null=True,
        help_text="Inline data (see docs/api-guide.md); for reported: {metric: number}.",
    )
    file = UploadField(required=False, help_text="CSV or Parquet table (multipart).")
    file_format = serializers.ChoiceField(
        choices=list(FILE_FORMATS),
        required=False,
        allow_null=True,
        allow_blank=True,
        error_messages={"invalid_choice": "must be 'csv' or 'parquet'"},
        help_text="Inferred from the file name when omitted.",
    )
    columns = JSONValue(
        required=False, allow_null=True, help_text="Column mapping for a file; JSON-encoded in multipart."
    )
    input_uri = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=4096,
        error_messages={"max_length": "at most 4096 characters", "blank": "must be an absolute path or a file:// URI"},
        help_text="A CSV or Parquet table referenced by absolute path or file:// URI instead of uploaded, under "
        "a directory the setting EVALUATION_INPUT_ROOTS allows; read in place by the worker, which takes its "
        "SHA-256 and refuses it if it changed since it was referenced (always queued: 202).",
    )

    version: ModelVersion | None = None

    def _kind(self) -> str | None:
        kind = self.initial_data.get("kind") if hasattr(self.initial_data, "get") else None
        return kind if kind in EvaluationKind.values else None

    def validate_params(self, params) -> dict:
        kind = self._kind()
        if params is None:
            return {}
        if not isinstance(params, Mapping):
            raise serializers.ValidationError("must be an object")
        params = dict(params)
        for key, value in params.items():
            if not isinstance(key, str) or not NAME_RE.match(key):
                raise serializers.ValidationError(
                    f"parameter names must be 1-64 letters, digits or _ . : - (got {key!r})"
                )
            if kind == EvaluationKind.REPORTED:
                if not _plain_scalar(value) or (isinstance(value, str) and len(value) > 1000):
                    raise serializers.ValidationError(
                        {
                            key: "reported evaluations take plain values (strings up to 1000 characters, "
                            "numbers, booleans)"
                        }
                    )
            elif kind is not None and key not in PARAMS_BY_KIND[kind]:
                raise serializers.ValidationError(
                    {key: f"unknown parameter for {kind} (expected one of: {', '.join(PARAMS_BY_KIND[kind])})"}
                )
        if kind == EvaluationKind.FAIRNESS and "min_group_size" in params:
            v = params["min_group_size"]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise serializers.ValidationError({"min_group_size": "must be a non-negative integer"})
        if kind == EvaluationKind.FAIRNESS and "favourable_outcome" in params:
            if params["favourable_outcome"] not in (0, 1) or isinstance(params["favourable_outcome"], bool):
                raise serializers.ValidationError(
                    {"favourable_outcome": "must be 0 or 1 (the predicted label that benefits the person)"}
                )
        return params

    def validate_thresholds(self, thresholds) -> list[dict]:
        """Structure and metric names, checked before any data is read (so a queued evaluation never
        fails on a typo). Per-feature drift names (``psi:<feature>``) are checked against the data."""
        kind = self._kind()
        if thresholds is None:
            return []
        if not isinstance(thresholds, list):
            raise serializers.ValidationError("must be a list of {metric, comparator, threshold}")
        if len(thresholds) > MAX_THRESHOLDS:
            raise serializers.ValidationError(f"at most {MAX_THRESHOLDS} thresholds")
        known = [n for n in checks_core.metric_names(kind) if ":" not in n] if kind in COMPUTED_KINDS else []
        out = []
        for i, t in enumerate(thresholds):
            if not isinstance(t, Mapping):
                raise serializers.ValidationError(_at(i, ["must be an object {metric, comparator, threshold}"]))
            for key in t:
                if key not in ("metric", "comparator", "threshold"):
                    raise serializers.ValidationError(
                        _at(i, {key: "unknown field (expected metric, comparator, threshold)"})
                    )
            name = t.get("metric")
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise serializers.ValidationError(_at(i, {"metric": "must be a metric name"}))
            comparator = t.get("comparator")
            if comparator not in checks_core.VALID_COMPARATORS:
                raise serializers.ValidationError(
                    _at(i, {"comparator": f"must be one of {', '.join(checks_core.VALID_COMPARATORS)}"})
                )
            if "threshold" not in t:
                raise serializers.ValidationError(_at(i, {"threshold": "is required"}))
            try:
                value = checks_core.Threshold.parse_value(t["threshold"], "threshold")
            except ValidationFailed:
                raise serializers.ValidationError(_at(i, {"threshold": "must be a finite number"})) from None
            if kind in COMPUTED_KINDS and name not in known:
                stat, sep, feature = name.partition(":")
                if not (kind == EvaluationKind.DRIFT and sep and feature and stat in checks_core.DRIFT_FEATURE_STATS):
                    raise serializers.ValidationError(
                        _at(
                            i,
                            {
                                "metric": f"unknown metric {name!r} for {kind} "
                                f"(known: {', '.join(checks_core.metric_names(kind))})"
                            },
                        )
                    )
            threshold = checks_core.Threshold(name, comparator, value)
            out.append({"metric": name, "comparator": comparator, "threshold": threshold.as_number(t["threshold"])})
        return out

    def validate(self, attrs: dict) -> dict:
        kind, data, file = attrs["kind"], attrs.get("data"), attrs.get("file")
        if kind == EvaluationKind.REPORTED:
            attrs["data"] = self._reported(data, file, attrs.get("thresholds") or [])
            return attrs
        columns, file_format = attrs.get("columns"), attrs.get("file_format")
        if attrs.get("input_uri") is not None:  # a table referenced by path (services.paths checks the path)
            if data is not None or file is not None:
                raise serializers.ValidationError(
                    {"input_uri": "give the input one way: inline data, an uploaded file, or input_uri"}
                )
            if columns is None:
                raise serializers.ValidationError(
                    {"columns": "is required with input_uri: a JSON object mapping roles to column names"}
                )
            if not isinstance(columns, Mapping):
                raise serializers.ValidationError({"columns": "must be an object mapping roles to column names"})
            return attrs
        if data is not None and file is not None:
            raise serializers.ValidationError({"file": "give the data inline (data) or as a file, not both"})
        if data is None and file is None:
            raise serializers.ValidationError(
                {"data": "is required: inline JSON data, or upload a CSV or Parquet file with its columns"}
            )
        if file is None:
            if columns is not None or file_format not in (None, ""):
                name = "columns" if columns is not None else "file_format"
                raise serializers.ValidationError({name: "only used with an uploaded file"})
        elif columns is None:
            raise serializers.ValidationError(
                {"columns": "is required with a file: a JSON object mapping roles to column names"}
            )
        elif not isinstance(columns, Mapping):
            raise serializers.ValidationError({"columns": "must be an object mapping roles to column names"})
        return attrs

    @staticmethod
    def _reported(data, file, thresholds: list[dict]) -> dict:
        if file is not None:
            raise serializers.ValidationError(
                {"file": "reported metrics are sent inline as data {metric: number}, not as a file"}
            )
        if data is None:
            raise serializers.ValidationError({"data": "is required: a dictionary of metric names to numbers"})
        if not isinstance(data, Mapping) or not data:
            raise serializers.ValidationError({"data": "must be a non-empty dictionary of metric names to numbers"})
        if len(data) > MAX_REPORTED_METRICS:
            raise serializers.ValidationError({"data": f"at most {MAX_REPORTED_METRICS} metrics"})
        for name, value in data.items():
            if not isinstance(name, str) or not NAME_RE.match(name):
                raise serializers.ValidationError(
                    {"data": f"metric names must be 1-64 letters, digits or _ . : - (got {name!r})"}
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise serializers.ValidationError({"data": {name: "must be a finite number"}})
        for i, t in enumerate(thresholds):
            if t["metric"] not in data:
                # checks.evaluate_checks cannot name the known metrics of a "reported" result, so unknown
                # names are refused here.
                raise serializers.ValidationError(
                    {
                        "thresholds": _at(
                            i,
                            {
                                "metric": f"unknown metric {t['metric']!r}: not in the reported data "
                                f"(reported: {', '.join(sorted(data))})"
                            },
                        )
                    }
                )
        return dict(data)


class ReferenceSampleSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model_version_id", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReferenceSample
        fields = ["id", "model_version", "file_format", "sha256", "columns", "rows", "created_by", "created_at"]


class ReferenceSampleCreateSerializer(RequestSerializer):
    """``POST /api/v1/versions/{id}/reference/`` (multipart): the shape of the request, checked here;
    the table itself is checked by the service when it parses it as a reference."""

    file = UploadField(
        help_text="CSV or Parquet table of the reference sample.",
        error_messages={
            "required": "is required: a CSV or Parquet table",
            "null": "is required: a CSV or Parquet table",
        },
    )
    file_format = serializers.ChoiceField(
        choices=list(FILE_FORMATS),
        required=False,
        allow_null=True,
        allow_blank=True,
        error_messages={"invalid_choice": "must be 'csv' or 'parquet'"},
    )
    columns = JSONValue(
        help_text='{"features": [...], "categorical": [...]} (JSON-encoded).',
        error_messages={
            # DRF formats these messages: braces are doubled
            "required": 'is required: {{"features": [...], "categorical": [...]}}',
            "null": 'is required: {{"features": [...], "categorical": [...]}}',
        },
    )

    def validate_columns(self, columns) -> dict:
        if not isinstance(columns, Mapping):
            raise serializers.ValidationError("must be an object")
        return dict(columns)

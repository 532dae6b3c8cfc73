"""Evaluations over the API: the response shape, and the request documentation (the request itself is
decoded by ``decode_create_request`` and validated, with audited refusals, by the service)."""

from __future__ import annotations

import json

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.common.errors import ValidationFailed
from governance.evaluations.models import Evaluation, EvaluationKind, ReferenceSample

CREATE_FIELDS = ("model_version", "kind", "dataset", "thresholds", "params", "data", "file", "file_format", "columns")
JSON_FORM_FIELDS = ("thresholds", "params", "data", "columns")
REFERENCE_FIELDS = ("file", "file_format", "columns")
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
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
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


class EvaluationCreateSerializer(serializers.Serializer):
    """Documentation of ``POST /api/v1/evaluations/`` (JSON, or multipart with ``file``)."""

    model_version = serializers.IntegerField(help_text="The model version's id.")
    kind = serializers.ChoiceField(choices=EvaluationKind.choices)
    dataset = serializers.CharField(max_length=200, help_text="A label such as holdout-2026-10.")
    thresholds = serializers.JSONField(
        required=False, help_text='[{"metric", "comparator", "threshold"}]; JSON-encoded in multipart.'
    )
    params = serializers.JSONField(
        required=False,
        help_text="Kind parameters (threshold, min_group_size, categorical, n_boot, ...); JSON-encoded in multipart.",
    )
    data = serializers.JSONField(
        required=False, help_text="Inline data (see docs/api-guide.md); for reported: {metric: number}."
    )
    file = serializers.FileField(required=False, help_text="CSV or Parquet table (multipart).")
    file_format = serializers.ChoiceField(
        choices=["csv", "parquet"], required=False, help_text="Inferred from the file name when omitted."
    )
    columns = serializers.JSONField(required=False, help_text="Column mapping for a file; JSON-encoded in multipart.")


class ReferenceSampleSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model_version_id", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReferenceSample
        fields = ["id", "model_version", "file_format", "sha256", "columns", "rows", "created_by", "created_at"]


class ReferenceSampleCreateSerializer(serializers.Serializer):
    """Documentation of ``POST /api/v1/versions/{id}/reference/`` (multipart)."""

    file = serializers.FileField(help_text="CSV or Parquet table of the reference sample.")
    file_format = serializers.ChoiceField(choices=["csv", "parquet"], required=False)
    columns = serializers.JSONField(help_text='{"features": [...], "categorical": [...]} (JSON-encoded).')


def decode_request(request, allowed: tuple[str, ...]) -> dict:
    """The request's fields as Python values: JSON bodies as they are; form fields JSON-decoded where
    structured. Raises ValidationFailed naming the field (the caller audits the refusal)."""
    form = not request.content_type.startswith("application/json")
    body = request.data
    if not hasattr(body, "keys"):
        raise ValidationFailed("body: must be a JSON object", field="body")
    unknown = sorted(set(body.keys()) - set(allowed))
    if unknown:
        raise ValidationFailed(f"{unknown[0]}: unknown field (expected one of: {', '.join(allowed)})", field=unknown[0])
    out = {}
    for name in allowed:
        if name == "file":
            if name in getattr(request, "FILES", {}):
                out["file"] = request.FILES["file"]
            elif name in body and not form:
                raise ValidationFailed("file: upload files as multipart/form-data", field="file")
            continue
        if name not in body:
            continue
        value = body.get(name) if form else body[name]
        if form and name in JSON_FORM_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValidationFailed(f"{name}: is not valid JSON ({exc})", field=name) from exc
        if isinstance(value, str) and "\x00" in value:
            raise ValidationFailed(f"{name}: text contains a NUL character (U+0000)", field=name)
        out[name] = value
    return out

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from governance.accounts.models import User
from governance.registry import selectors as registry_selectors
from governance.registry.models import (
    AnnexIIIArea,
    EuAiActCategory,
    ModelStatus,
    ModelVersion,
    RegisteredModel,
    RiskTier,
)


def check_recordable_keys(value, path: str = "") -> None:
    """Keys the audit log can record (1-64 ASCII letters, digits, ``_ . : -``), or a 400 naming the key."""
    from audit.services import KEY_RE

    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not KEY_RE.match(key):
                name = f"{path}.{key}" if path else str(key)
                raise serializers.ValidationError({name: ["keys must be 1-64 ASCII letters, digits or _ . : -"]})
            check_recordable_keys(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_recordable_keys(item, f"{path}[{index}]")


class LookupField(serializers.SlugRelatedField):
    """A related object named by a text field; a name holding NUL (U+0000, which PostgreSQL cannot
    compare) is refused as invalid instead of reaching the query (multipart bodies are not checked by
    the JSON parser)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            raise serializers.ValidationError("text contains a NUL character (U+0000)")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming them, instead of silently ignoring them."""

    unknown_field_message = "unknown field"

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {})) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({unknown[0]: [self.unknown_field_message]})
        return attrs


class RegisteredModelSerializer(serializers.ModelSerializer):
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    versions_url = serializers.SerializerMethodField()
    production_version = serializers.SerializerMethodField()
    regimes_in_effect = serializers.SerializerMethodField(
        help_text="governing_regimes, or the installation's DEFAULT_GOVERNING_REGIMES when the model names none."
    )

    class Meta:
        model = RegisteredModel
        fields = [
            "id",
            "name",
            "title",
            "purpose",
            "owner",
            "business_unit",
            "eu_ai_act_category",
            "annex_iii_area",
            "risk_tier",
            "governing_regimes",
            "regimes_in_effect",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "production_version",
            "versions_url",
        ]

    def get_regimes_in_effect(self, obj) -> list[str]:
        return registry_selectors.governing_regimes(obj)

    def get_versions_url(self, obj) -> str:
        return f"/api/v1/versions/?model={obj.name}"

    def get_production_version(self, obj) -> str | None:
        version = next((v for v in obj.versions.all() if v.stage == "production"), None)
        return version.version if version else None


class RegisteredModelCreateSerializer(StrictSerializer):
    name = serializers.RegexField(
        r"^[a-z0-9][a-z0-9._-]{0,99}$",
        max_length=100,
        error_messages={
            "invalid": "must be 1-100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
        },
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    purpose = serializers.CharField(max_length=20000)
    business_unit = serializers.CharField(max_length=120)
    eu_ai_act_category = serializers.ChoiceField(choices=EuAiActCategory.choices)
    annex_iii_area = serializers.ChoiceField(choices=AnnexIIIArea.choices, required=False, default="none")
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    governing_regimes = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=16,
        help_text="Outline ids (sr11-7, eu-ai-act, pra-ss1-23); empty or absent: DEFAULT_GOVERNING_REGIMES.",
    )
    owner = LookupField(slug_field="username", queryset=User.objects.filter(is_active=True), required=False)


class RegisteredModelUpdateSerializer(StrictSerializer):
    unknown_field_message = "this field cannot be changed"

    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    purpose = serializers.CharField(max_length=20000, required=False)
    business_unit = serializers.CharField(max_length=120, required=False)
    eu_ai_act_category = serializers.ChoiceField(choices=EuAiActCategory.choices, required=False)
    annex_iii_area = serializers.ChoiceField(choices=AnnexIIIArea.choices, required=False)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False)
    governing_regimes = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=16,
        help_text="Outline ids; [] returns the model to DEFAULT_GOVERNING_REGIMES. Risk officers only.",
    )
    status = serializers.ChoiceField(choices=ModelStatus.choices, required=False)
    owner = LookupField(slug_field="username", queryset=User.objects.filter(is_active=True), required=False)


SHA256_FIELD: dict[str, Any] = {  # RegexField keyword arguments
    "regex": r"^[0-9a-f]{64}$",
    "error_messages": {"invalid": "must be 64 lowercase hexadecimal characters (a SHA-256 digest)"},
}


class ModelVersionSerializer(serializers.ModelSerializer):
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    model_id = serializers.IntegerField(read_only=True)
    registered_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "model_id",
            "version",
            "description",
            "artifact_uri",
            "artifact_sha256",
            "training_data_ref",
            "training_data_sha256",
            "code_commit",
            "framework",
            "parameters",
            "stage",
            "stage_changed_at",
            "registered_by",
            "registered_at",
        ]


class ModelVersionCreateSerializer(StrictSerializer):
    model = LookupField(
        slug_field="name",
        queryset=RegisteredModel.objects.all(),
        error_messages={"does_not_exist": "no registered model named {value}"},
        help_text="The registered model's name.",
    )
    version = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
        error_messages={
            "invalid": "must be 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit"
        },
    )
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    artifact_uri = serializers.CharField(max_length=500)
    artifact_sha256 = serializers.RegexField(**SHA256_FIELD)
    training_data_ref = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    training_data_sha256 = serializers.RegexField(required=False, allow_blank=True, default="", **SHA256_FIELD)
    code_commit = serializers.RegexField(
        r"^[0-9a-f]{7,64}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "must be a git commit id: 7 to 64 lowercase hex"},
    )
    framework = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    parameters = serializers.DictField(required=False, default=dict)

    def validate_parameters(self, value):
        check_recordable_keys(value)
        return value


class ModelVersionUpdateSerializer(StrictSerializer):
    unknown_field_message = "this field cannot be changed"

    """Limited update: the description, or a lineage field that was never set."""

    description = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    artifact_uri = serializers.CharField(max_length=500, required=False)
    artifact_sha256 = serializers.RegexField(required=False, **SHA256_FIELD)
    training_data_ref = serializers.CharField(max_length=500, required=False)
    training_data_sha256 = serializers.RegexField(required=False, **SHA256_FIELD)
    code_commit = serializers.RegexField(
        r"^[0-9a-f]{7,64}$",
        required=False,
        error_messages={"invalid": "must be a git commit id: 7 to 64 lowercase hex"},
    )
    framework = serializers.CharField(max_length=100, required=False)
    parameters = serializers.DictField(required=False)
    stage = serializers.CharField(required=False, help_text="Refused: stages change only through promotions.")

    def validate_parameters(self, value):
        check_recordable_keys(value)
        return value

"""The model inventory: registered models and their versions with lineage."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet

SHA256_RE = r"^[0-9a-f]{64}$"
sha256_validator = RegexValidator(SHA256_RE, "must be 64 lowercase hexadecimal characters (a SHA-256 digest)")
commit_validator = RegexValidator(
    r"^[0-9a-f]{7,64}$", "must be a git commit id: 7 to 64 lowercase hexadecimal characters"
)
name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,99}$",
    "must be 1-100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
)


class EuAiActCategory(models.TextChoices):
    PROHIBITED = "prohibited", "Prohibited practice (Art. 5)"
    HIGH = "high", "High-risk (Art. 6, Annex III)"
    LIMITED = "limited", "Limited risk (transparency, Art. 50)"
    MINIMAL = "minimal", "Minimal risk"


class AnnexIIIArea(models.TextChoices):
    NONE = "none", "Not an Annex III use"
    BIOMETRICS = "1_biometrics", "1. Biometrics"
    CRITICAL_INFRASTRUCTURE = "2_critical_infrastructure", "2. Critical infrastructure"
    EDUCATION = "3_education", "3. Education and vocational training"
    EMPLOYMENT = "4_employment", "4. Employment and workers management"
    ESSENTIAL_SERVICES = (
        "5_essential_services",
        "5. Access to essential private and public services (incl. credit scoring)",
    )
    LAW_ENFORCEMENT = "6_law_enforcement", "6. Law enforcement"
    MIGRATION = "7_migration", "7. Migration, asylum and border control"
    JUSTICE = "8_justice", "8. Administration of justice and democratic processes"


class RiskTier(models.TextChoices):
    """SR 11-7 materiality tier."""

    HIGH = "tier_1", "Tier 1 (high materiality)"
    MEDIUM = "tier_2", "Tier 2 (medium materiality)"
    LOW = "tier_3", "Tier 3 (low materiality)"


class ModelStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


class Stage(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


LINEAGE_FIELDS = (
    "artifact_uri",
    "artifact_sha256",
    "training_data_ref",
    "training_data_sha256",
    "code_commit",
    "framework",
    "parameters",
)


class RegisteredModel(models.Model):
    """A model in the inventory, with its SR 11-7 risk tier and EU AI Act classification."""

    name = models.CharField(max_length=100, unique=True, validators=[name_validator])
    title = models.CharField(max_length=200, blank=True)
    purpose = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_models")
    business_unit = models.CharField(max_length=120)
    eu_ai_act_category = models.CharField(max_length=16, choices=EuAiActCategory.choices)
    annex_iii_area = models.CharField(max_length=32, choices=AnnexIIIArea.choices, default=AnnexIIIArea.NONE)
    risk_tier = models.CharField("SR 11-7 risk tier", max_length=8, choices=RiskTier.choices)
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(eu_ai_act_category__in=EuAiActCategory.values), name="model_eu_category_valid"
            ),
            models.CheckConstraint(condition=models.Q(risk_tier__in=RiskTier.values), name="model_risk_tier_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class StageWriteRefused(Exception):
    """The stage is written only by ``registry.services.model_version_stage_change``."""


class ModelVersionQuerySet(GovernedQuerySet):
    def update(self, **kwargs):
        if "stage" in kwargs:
            raise StageWriteRefused("stage is changed only through the promotion workflow")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        if "stage" in fields:
            raise StageWriteRefused("stage is changed only through the promotion workflow")
        return super().bulk_update(objs, fields, batch_size=batch_size)


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=64, validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")])
    description = models.TextField(blank=True)
    artifact_uri = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64, validators=[sha256_validator])
    training_data_ref = models.CharField(max_length=500, blank=True)
    training_data_sha256 = models.CharField(max_length=64, blank=True, validators=[sha256_validator])
    code_commit = models.CharField(max_length=64, blank=True, validators=[commit_validator])
    framework = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.DEVELOPMENT, editable=False)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_at = models.DateTimeField(default=timezone.now)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model__name", "-registered_at"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="version_unique_per_model"),
            models.UniqueConstraint(
                fields=["model"], condition=models.Q(stage="production"), name="one_production_version_per_model"
            ),
            models.CheckConstraint(condition=models.Q(artifact_sha256__regex=SHA256_RE), name="artifact_sha256_hex"),
            models.CheckConstraint(
                condition=models.Q(training_data_sha256="") | models.Q(training_data_sha256__regex=SHA256_RE),
                name="training_data_sha256_hex",
            ),
            models.CheckConstraint(condition=models.Q(stage__in=Stage.values), name="version_stage_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"

    def save(self, *args, **kwargs):
        stored = getattr(self, "_stored_stage", None)
        allowed = getattr(self, "_stage_write_allowed", False)
        if self._state.adding and self.stage != Stage.DEVELOPMENT and not allowed:
            raise StageWriteRefused("a new version starts in development; stages change through the workflow")
        if not self._state.adding and stored is not None and self.stage != stored and not allowed:
            raise StageWriteRefused("stage is changed only through the promotion workflow")
        super().save(*args, **kwargs)
        self._stored_stage = self.stage
        self._stage_write_allowed = False

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_stage = instance.__dict__.get("stage")
        return instance

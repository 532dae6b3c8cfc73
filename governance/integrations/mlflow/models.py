"""The MLflow bridge: links to MLflow registered models, imported versions with their lineage,
review flags raised by the bridge, webhook deliveries received, and governed alias writes.

Credentials for a tracking server never live here: a link stores the URI (refused when it embeds
user info) and MLflow's own client reads ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` /
``_TOKEN`` from the environment.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet, governed_queryset
from governance.registry.models import ModelVersion, RegisteredModel

alias_validator = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", "must be an MLflow alias: letters, digits, '_' or '-', not starting with a digit"
)


class OutOfBandPolicy(models.TextChoices):
    RESTORE = "restore", "Restore the governed alias and flag"
    FLAG = "flag", "Flag only"


class SyncStatus(models.TextChoices):
    NEVER = "never", "Never synced"
    OK = "ok", "OK"
    ERROR = "error", "Error (retrying)"


# Bookkeeping columns of a link (sync progress, not governance state): written without an audit event.
LINK_BOOKKEEPING_FIELDS = ("last_sync_at", "last_sync_status", "last_sync_error", "consecutive_failures")


class MlflowLink(models.Model):
    """A registered model here, linked to one registered model in an MLflow registry."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.PROTECT, related_name="mlflow_link")
    tracking_uri = models.CharField(max_length=300, help_text="e.g. https://mlflow.example.com (no credentials).")
    mlflow_name = models.CharField("MLflow registered model name", max_length=256)
    governed_alias = models.CharField(max_length=64, default="champion", validators=[alias_validator])
    stage_aliases = models.JSONField(
        default=dict, blank=True, help_text='Optional alias per stage here, e.g. {"staging": "challenger"}.'
    )
    out_of_band = models.CharField(max_length=16, choices=OutOfBandPolicy.choices, default=OutOfBandPolicy.RESTORE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # empty when a system job (the demo seed) made the link
    created_at = models.DateTimeField(default=timezone.now)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.NEVER)
    last_sync_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    objects = governed_queryset(*LINK_BOOKKEEPING_FIELDS).as_manager()

    class Meta:
        ordering = ["model__name"]
        verbose_name = "MLflow link"
        constraints = [
            models.UniqueConstraint(fields=["tracking_uri", "mlflow_name"], name="mlflow_link_unique_target"),
            models.CheckConstraint(condition=models.Q(out_of_band__in=OutOfBandPolicy.values), name="mlflow_oob_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} -> {self.mlflow_name} @ {self.tracking_uri}"

    def governed_aliases(self) -> dict[str, str]:
        """{alias: stage here}: the governed alias follows production; stage aliases follow their stage."""
        aliases = {alias: stage for stage, alias in (self.stage_aliases or {}).items()}
        aliases[self.governed_alias] = "production"
        return aliases


class HashStatus(models.TextChoices):
    HASHED = "hashed", "Hashed"
    NO_ARTIFACTS = "no_artifacts", "No artifacts"
    TOO_LARGE = "too_large", "Artifacts larger than MLFLOW_MAX_ARTIFACT_BYTES"


class MlflowVersionImport(models.Model):
    """One MLflow model version imported as a model version here, with the lineage read from MLflow.

    Immutable once written, except the two columns that record a later change seen in MLflow."""

    link = models.ForeignKey(MlflowLink, on_delete=models.PROTECT, related_name="imports")
    model_version = models.OneToOneField(ModelVersion, on_delete=models.PROTECT, related_name="mlflow_import")
    mlflow_version = models.CharField(max_length=32)
    run_id = models.CharField(max_length=64, blank=True)
    source_uri = models.CharField(max_length=1000)
    download_uri = models.CharField(max_length=1000, blank=True)
    git_commit = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    datasets = models.JSONField(default=list, blank=True)
    artifact_files = models.JSONField(default=list, blank=True, help_text="[{path, size, sha256}]")
    artifact_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the artifact manifest")
    hash_status = models.CharField(max_length=16, choices=HashStatus.choices)
    hash_missing_reason = models.TextField(blank=True)
    mlflow_created_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField(default=timezone.now)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    artifact_changed_at = models.DateTimeField(null=True, blank=True)
    latest_artifact_sha256 = models.CharField(max_length=64, blank=True)

    objects = governed_queryset("last_verified_at").as_manager()

    class Meta:
        ordering = ["link", "-imported_at"]
        verbose_name = "MLflow version import"
        constraints = [
            models.UniqueConstraint(fields=["link", "mlflow_version"], name="mlflow_import_once"),
            models.CheckConstraint(condition=models.Q(hash_status__in=HashStatus.values), name="mlflow_hash_status"),
        ]

    def __str__(self) -> str:
        return f"{self.link.mlflow_name} v{self.mlflow_version} -> {self.model_version}"


class FlagKind(models.TextChoices):
    ARTIFACT_MISSING = "artifact_missing", "Artifact hash missing"
    ARTIFACT_CHANGED = "artifact_changed", "Artifact changed in MLflow after import"
    ALIAS_OUT_OF_BAND = "alias_out_of_band", "Governed alias changed outside the workflow"
    IMPORT_REFUSED = "import_refused", "MLflow version could not be imported"


class MlflowFlag(models.Model):
    """A review flag the bridge raises on a model (owner and risk officers are notified)."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="mlflow_flags")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="mlflow_flags"
    )
    kind = models.CharField(max_length=32, choices=FlagKind.choices)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "MLflow review flag"

    def __str__(self) -> str:
        return f"{self.model.name}: {self.summary}"


class DeliveryStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (will be covered by the next sync)"


class MlflowDelivery(models.Model):
    """A signed webhook delivery from MLflow; its id is kept to refuse replays."""

    delivery_id = models.CharField(max_length=100, unique=True)
    entity = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    mlflow_name = models.CharField(max_length=256)
    payload = models.JSONField(default=dict)
    signed_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.ACCEPTED)
    result = models.JSONField(default=dict, blank=True)

    objects = governed_queryset("status", "result").as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "MLflow webhook delivery"
        verbose_name_plural = "MLflow webhook deliveries"

    def __str__(self) -> str:
        return f"{self.entity}.{self.action} {self.mlflow_name} ({self.delivery_id})"


class AliasWriteStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying (MLflow unavailable)"
    DONE = "done", "Done"
    SUPERSEDED = "superseded", "Superseded by a later write"


class MlflowAliasWrite(models.Model):
    """A governed alias write to MLflow (set to a version, or delete), retried until MLflow accepts it.

    Done writes are the history of which MLflow version held each governed alias."""

    link = models.ForeignKey(MlflowLink, on_delete=models.PROTECT, related_name="alias_writes")
    alias = models.CharField(max_length=64)
    mlflow_version = models.CharField(max_length=32, blank=True, help_text="Empty: delete the alias.")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="mlflow_alias_writes"
    )
    promotion_request_id = models.BigIntegerField(null=True, blank=True)
    approvals = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=AliasWriteStatus.choices, default=AliasWriteStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response = models.JSONField(default=dict, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = governed_queryset("attempts", "last_error", "next_attempt_at").as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "MLflow alias write"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="mlflow_alias_write_due")]

    def __str__(self) -> str:
        target = f"-> v{self.mlflow_version}" if self.mlflow_version else "(delete)"
        return f"@{self.alias} {target} on {self.link.mlflow_name} [{self.status}]"

"""Evaluations of a model version: fairness, drift and performance, computed or reported."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet, governed_queryset
from governance.registry.models import SHA256_RE, ModelVersion


class EvaluationKind(models.TextChoices):
    FAIRNESS = "fairness", "Fairness"
    DRIFT = "drift", "Drift"
    PERFORMANCE = "performance", "Performance"
    REPORTED = "reported", "Reported metrics"


class EvaluationSource(models.TextChoices):
    COMPUTED = "computed", "Computed by the service from raw data"
    REPORTED = "reported", "Reported by the caller, not recomputed"


class EvaluationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


FINISHED = (EvaluationStatus.DONE, EvaluationStatus.FAILED)


class EvaluationFrozen(Exception):
    """A finished evaluation is evidence and never changes."""


class Evaluation(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="evaluations")
    kind = models.CharField(max_length=16, choices=EvaluationKind.choices)
    dataset = models.CharField(max_length=200, help_text="A label such as holdout-2026-10.")
    source = models.CharField(max_length=16, choices=EvaluationSource.choices)
    status = models.CharField(max_length=16, choices=EvaluationStatus.choices, default=EvaluationStatus.QUEUED)
    failure_reason = models.TextField(blank=True)
    thresholds = models.JSONField(default=list, blank=True)
    params = models.JSONField(default=dict, blank=True)
    library_versions = models.JSONField(default=dict, blank=True)
    input_sha256 = models.CharField(max_length=64, blank=True)
    input_rows = models.BigIntegerField(null=True, blank=True)
    input_file = models.FileField(upload_to="evaluation-inputs/%Y/%m/", blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Flat {metric name: number} used by gates.")
    result = models.JSONField(default=dict, blank=True, help_text="The full result (by_group, features, ...).")
    checks = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(
        default=dict,
        blank=True,
        help_text="While a worker computes it: stage, rows_read, rows_total, percent, updated_at (bookkeeping).",
    )

    # progress is bookkeeping written while the evaluation runs (not evidence: never audited, and frozen
    # with the rest once the evaluation is finished)
    objects = governed_queryset("progress").as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model_version", "kind", "dataset", "status"], name="evaluation_lookup_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=EvaluationKind.values), name="evaluation_kind_valid"),
            models.CheckConstraint(
                condition=models.Q(input_sha256="") | models.Q(input_sha256__regex=SHA256_RE),
                name="evaluation_input_sha256_hex",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="reported") | models.Q(source="reported"),
                name="reported_kind_is_never_computed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dataset} of {self.model_version} ({self.status})"

    def save(self, *args, **kwargs):
        if not self._state.adding and getattr(self, "_stored_status", None) in FINISHED:
            raise EvaluationFrozen(f"evaluation {self.pk} is {self._stored_status} and cannot change")
        super().save(*args, **kwargs)
        self._stored_status = self.status

    @property
    def progress_text(self) -> str:
        """How far a running evaluation is, for people: "42.0% · 42,000,000 of 100,000,000 rows read ·
        stage"; empty when it is not running or reported nothing yet."""
        p = self.progress or {}
        if self.status != EvaluationStatus.RUNNING or not p:
            return ""
        parts = [f"{float(p.get('percent') or 0):.1f}%"]
        if p.get("rows_read") is not None:
            total = p.get("rows_total")
            of = f" of {int(total):,}" if total else ""
            parts.append(f"{int(p['rows_read']):,}{of} rows read")
        if p.get("stage"):
            parts.append(str(p["stage"]))
        return " · ".join(parts)

    @property
    def passed(self) -> bool | None:
        if self.status != EvaluationStatus.DONE:
            return None
        return all(check.get("passed") for check in self.checks)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_status = instance.__dict__.get("status")
        return instance


class ReferenceSample(models.Model):
    """A version's registered reference sample for drift: stored as a file with its SHA-256."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="reference_samples")
    file = models.FileField(upload_to="reference-samples/%Y/%m/")
    file_format = models.CharField(max_length=16)
    sha256 = models.CharField(max_length=64)
    columns = models.JSONField(default=dict, blank=True)
    rows = models.BigIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"reference sample {self.sha256[:12]} of {self.model_version}"

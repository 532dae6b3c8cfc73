"""Narratives written by people, and documentation-pack jobs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet
from governance.registry.models import ModelVersion, RegisteredModel
from governance.reports.outlines import available_regimes, regime_choices


class NarrativeEntry(models.Model):
    """One edit of a narrative field. Append-only: the latest entry as of a time is the text then,
    which lets a pack regenerated for an earlier point show exactly what was written by then."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="narratives")
    model_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="narratives",
        help_text="Empty for model-wide narratives.",
    )
    key = models.CharField(max_length=64)
    text = models.TextField(blank=True, help_text="Empty text withdraws the narrative (NOT PROVIDED again).")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_role = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["key", "-created_at", "-id"]
        indexes = [models.Index(fields=["model", "model_version", "key", "created_at"], name="narrative_lookup_idx")]
        verbose_name_plural = "narrative entries"

    def __str__(self) -> str:
        scope = self.model_version.version if self.model_version is not None else "model"
        return f"{self.key} ({self.model.name} {scope})"


class _Regimes:
    """The regimes are the outlines (``governance/reports/outlines/*.json``): adding a regime is adding
    its outline file. ``Regime.values`` and ``Regime.choices`` read them."""

    @property
    def values(self) -> list[str]:
        return available_regimes()

    @property
    def choices(self) -> list[tuple[str, str]]:
        return regime_choices()


Regime = _Regimes()


class PackStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDERING = "rendering", "Rendering"
    SIGNING = "signing", "Signing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class DocumentationPack(models.Model):
    """A generation job: a view of the record as of one audit seq, rendered and signed.

    ``progress`` and ``status`` while rendering are bookkeeping; the request, completion,
    failure and each download are audited.
    """

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="documentation_packs")
    regime = models.CharField(max_length=16, choices=regime_choices)
    as_of_seq = models.BigIntegerField()
    as_of_ts = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=PackStatus.choices, default=PackStatus.QUEUED)
    progress = models.CharField(max_length=300, blank=True)
    failure_reason = models.TextField(blank=True)
    pack_id = models.CharField(max_length=32, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    bundle_sha256 = models.CharField(max_length=64, blank=True)
    outline_version = models.CharField(max_length=16, blank=True)
    generator_version = models.CharField(max_length=32, blank=True)
    regulatory_text = models.CharField(max_length=300, blank=True)
    pdf = models.FileField(upload_to="packs/%Y/%m/", blank=True)
    bundle = models.FileField(upload_to="packs/%Y/%m/", blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_regime_display()} pack of {self.model_version} as of seq {self.as_of_seq}"

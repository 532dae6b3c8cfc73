"""Ongoing model risk management: validations and their findings, revalidation intervals and flags,
and the EU AI Act serious-incident register. Rows change only through ``oversight.services``
(audited); nothing is ever deleted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet
from governance.oversight.rules import INCIDENT_CATEGORIES
from governance.registry.models import ModelVersion, RegisteredModel


class Conclusion(models.TextChoices):
    FIT = "fit for use", "Fit for use"
    FIT_WITH_CONDITIONS = "fit with conditions", "Fit with conditions"
    NOT_FIT = "not fit", "Not fit"


class Validation(models.Model):
    """An independent validation of one model version (SR 11-7 effective challenge)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="validations")
    scope = models.TextField()
    validator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_on = models.DateField()
    completed_on = models.DateField(null=True, blank=True)
    conclusion = models.CharField(max_length=32, choices=Conclusion.choices, blank=True)
    summary = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(conclusion="") | models.Q(conclusion__in=Conclusion.values),
                name="validation_conclusion_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(completed_on__isnull=True, conclusion="")
                | models.Q(completed_on__isnull=False) & ~models.Q(conclusion=""),
                name="validation_completed_with_conclusion",
            ),
        ]

    def __str__(self) -> str:
        return f"validation {self.pk} of {self.model_version}"

    @property
    def is_completed(self) -> bool:
        return self.completed_on is not None


class Severity(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    REMEDIATION_PROPOSED = "remediation proposed", "Remediation proposed"
    CLOSED = "closed", "Closed"
    RISK_ACCEPTED = "risk accepted", "Risk accepted"


class Finding(models.Model):
    validation = models.ForeignKey(Validation, on_delete=models.PROTECT, related_name="findings")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    description = models.TextField()
    evidence_evaluations = models.JSONField(default=list, blank=True, help_text="Evaluation ids cited.")
    evidence_audit_seqs = models.JSONField(default=list, blank=True, help_text="Audit log sequence numbers cited.")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    status = models.CharField(max_length=24, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    remediation = models.TextField(blank=True)
    remediation_proposed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closure_note = models.TextField(blank=True)
    risk_accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    risk_accepted_at = models.DateTimeField(null=True, blank=True)
    risk_acceptance_justification = models.TextField(blank=True)
    risk_accepted_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(severity__in=Severity.values), name="finding_severity_valid"),
            models.CheckConstraint(condition=models.Q(status__in=FindingStatus.values), name="finding_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="risk accepted") | models.Q(risk_accepted_until__isnull=False),
                name="finding_risk_acceptance_expires",
            ),
        ]

    def __str__(self) -> str:
        return f"finding {self.pk} ({self.severity}, {self.status})"

    def is_unresolved(self, today) -> bool:
        """Open, remediation proposed, or a risk acceptance that has expired."""
        if self.status == FindingStatus.CLOSED:
            return False
        if self.status == FindingStatus.RISK_ACCEPTED:
            return self.risk_accepted_until < today
        return True


class RevalidationInterval(models.Model):
    """A risk officer's per-model revalidation interval, replacing the tier's default."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.PROTECT, related_name="revalidation_interval")
    months = models.PositiveIntegerField()
    reason = models.TextField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.model.name}: every {self.months} months"


class RevalidationFlag(models.Model):
    """A production version whose revalidation is overdue (raised for tier-1 models by the daily job)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="revalidation_flags")
    due_on = models.DateField()
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_revalidation_flag_per_version",
            )
        ]

    def __str__(self) -> str:
        return f"revalidation of {self.model_version} overdue since {self.due_on}"


class SeriousIncident(models.Model):
    """An EU AI Act serious incident (Art. 3(49)) and its Art. 73 reporting deadline."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="serious_incidents")
    description = models.TextField(help_text="What happened.")
    occurred_at = models.DateTimeField(null=True, blank=True)
    aware_at = models.DateTimeField(help_text="When the provider became aware of the incident.")
    affected_persons = models.TextField()
    causal_link = models.TextField(help_text="The link between the AI system and the incident.")
    category = models.CharField(max_length=48, choices=[(c, c) for c in INCIDENT_CATEGORIES])
    reporting_deadline = models.DateTimeField()
    deadline_rule = models.CharField(max_length=32, help_text="The Art. 73 paragraph the deadline comes from.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-aware_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(category__in=INCIDENT_CATEGORIES), name="incident_category_valid")
        ]

    def __str__(self) -> str:
        return f"incident {self.pk} ({self.model_version})"


class ReportKind(models.TextChoices):
    INITIAL = "initial", "Initial report"
    FOLLOW_UP = "follow_up", "Follow-up report"


class IncidentReport(models.Model):
    """A report of a serious incident to the market surveillance authority (Art. 73(1), 73(5))."""

    incident = models.ForeignKey(SeriousIncident, on_delete=models.PROTECT, related_name="reports")
    kind = models.CharField(max_length=16, choices=ReportKind.choices)
    submitted_at = models.DateTimeField()
    authority = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, blank=True)
    summary = models.TextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"], condition=models.Q(kind="initial"), name="one_initial_report_per_incident"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} report of incident {self.incident_id}"


class MonitoringKind(models.TextChoices):
    DRIFT = "drift", "Drift of new data against the reference sample"
    PERFORMANCE = "performance", "Performance once labels arrive"


class MonitoringSchedule(models.Model):
    """Scheduled monitoring of a production version: an evaluation of ``kind`` is expected every
    ``cadence_days`` (due at ``starts_at + k * cadence``), posted by a pipeline, at the latest
    ``grace_hours`` after each due time; a period with nothing arrived is a missed check."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="monitoring_schedules")
    kind = models.CharField(max_length=16, choices=MonitoringKind.choices)
    cadence_days = models.PositiveIntegerField()
    grace_hours = models.PositiveIntegerField(default=24)
    starts_at = models.DateTimeField(help_text="The first check is due one cadence after this.")
    description = models.TextField(blank=True, help_text="What arrives, from where (e.g. the data it is run on).")
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who posts the evaluations (a pipeline's service account, or a person).",
    )
    is_active = models.BooleanField(default=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["model_version", "kind", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=MonitoringKind.values), name="monitoring_kind_valid"),
            models.CheckConstraint(condition=models.Q(cadence_days__gte=1), name="monitoring_cadence_positive"),
            models.UniqueConstraint(
                fields=["model_version", "kind"],
                condition=models.Q(is_active=True),
                name="one_active_schedule_per_version_and_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.model_version} every {self.cadence_days} d"


class MissedCheck(models.Model):
    """A scheduled monitoring evaluation that did not arrive by its due time plus grace (flagged, notified)."""

    schedule = models.ForeignKey(MonitoringSchedule, on_delete=models.PROTECT, related_name="missed_checks")
    due_at = models.DateTimeField()
    grace_until = models.DateTimeField()
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "due_at"], name="one_missed_check_per_period"),
        ]

    def __str__(self) -> str:
        return f"missed {self.schedule.kind} check of {self.schedule.model_version} due {self.due_at:%Y-%m-%d %H:%M}"


class PostMarketPlan(models.Model):
    """The EU AI Act post-market monitoring plan of a high-risk model (Art. 72; Annex IV point 9):
    the narrative people write. What is monitored and how often comes from the model's monitoring
    schedules, and the thresholds from its policies; both are printed with it."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.PROTECT, related_name="post_market_plan")
    monitored = models.TextField(help_text="What is monitored and why (data, outputs, performance, drift).")
    data_collection = models.TextField(help_text="How data on the system's performance in use is collected.")
    responsibilities = models.TextField(help_text="Who monitors, reviews and acts; who is told.")
    thresholds = models.TextField(help_text="Thresholds and the actions taken when one is crossed.")
    review_cadence = models.TextField(blank=True, help_text="How often the plan itself is reviewed.")
    revision = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"post-market monitoring plan of {self.model.name} (revision {self.revision})"


PLAN_FIELDS = ("monitored", "data_collection", "responsibilities", "thresholds", "review_cadence")


class PostMarketPlanRevision(models.Model):
    """The whole text of one revision of a post-market monitoring plan, written with it and never changed.
    Its ``post_market_plan.set`` event carries each text's first 2,000 characters and SHA-256 (a plan's
    texts are unbounded; the event must stay within the audit record's size), so a pack as of an earlier
    seq prints the text of that revision from here, checked against the event's digests."""

    plan = models.ForeignKey(PostMarketPlan, on_delete=models.PROTECT, related_name="revisions")
    revision = models.PositiveIntegerField()
    monitored = models.TextField()
    data_collection = models.TextField()
    responsibilities = models.TextField()
    thresholds = models.TextField()
    review_cadence = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "revision"], name="one_row_per_plan_revision")]

    def __str__(self) -> str:
        return f"revision {self.revision} of the {self.plan}"

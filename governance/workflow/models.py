"""Promotion workflow: versioned policies (gates), promotion requests, approvals as electronic
signatures, the recorded stage transitions, and monitoring review flags.

Business rules live in ``services.py``; the models hold data and the invariants the database
can enforce (valid statuses, one open request per version and target stage, one live approval
per approver, one current version of each policy).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.guard import GovernedQuerySet
from governance.registry.models import ModelVersion, RegisteredModel, Stage


class PolicyScope(models.TextChoices):
    TIER_1 = "tier_1", "SR 11-7 tier 1 (high materiality)"
    TIER_2 = "tier_2", "SR 11-7 tier 2 (medium materiality)"
    TIER_3 = "tier_3", "SR 11-7 tier 3 (low materiality)"
    PROHIBITED = "prohibited", "EU AI Act: prohibited practice"
    HIGH = "high", "EU AI Act: high-risk"
    LIMITED = "limited", "EU AI Act: limited risk"
    MINIMAL = "minimal", "EU AI Act: minimal risk"


TARGET_STAGES = (Stage.STAGING, Stage.PRODUCTION)


class PolicyFrozen(Exception):
    """A policy version is never edited: a change is a new version (``services.policy_revise``)."""


POLICY_CONTENT_FIELDS = (
    "scope",
    "target_stage",
    "is_rollback",
    "version",
    "required_kinds",
    "checks",
    "allowed_from_stages",
    "max_evaluation_age_days",
    "require_computed",
    "require_agreement",
    "approvals_required",
    "required_roles",
    "accepted_roles",
    "request_window_days",
    "approval_validity_days",
    "description",
)


class Policy(models.Model):
    scope = models.CharField(
        max_length=16, choices=PolicyScope.choices, help_text="A risk tier, or an EU AI Act category."
    )
    target_stage = models.CharField(max_length=16, choices=[(s.value, s.label) for s in TARGET_STAGES])
    is_rollback = models.BooleanField(default=False, help_text="The policy for re-promoting an earlier version.")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    required_kinds = models.JSONField(
        default=list, blank=True, help_text='Evaluation kinds that must exist, e.g. ["fairness", "drift"].'
    )
    checks = models.JSONField(
        default=list,
        blank=True,
        help_text=(
            'List of {"kind", "metric", "comparator", "threshold"}; threshold is a decimal string, e.g. '
            '{"kind": "fairness", "metric": "demographic_parity_difference", "comparator": "<=", "threshold": "0.1"}.'
        ),
    )
    allowed_from_stages = models.JSONField(
        default=list, blank=True, help_text="Stages a version may be promoted from under this policy."
    )
    max_evaluation_age_days = models.PositiveIntegerField(default=90)
    require_computed = models.BooleanField(
        default=False, help_text="Only evidence computed by the service counts (not reported)."
    )
    require_agreement = models.BooleanField(
        default=False,
        help_text=(
            "Reported and computed agree: where a pipeline reported a gated metric and the service computed it "
            "on the same dataset, they must agree within EVALUATION_DISCREPANCY_TOLERANCE."
        ),
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    required_roles = models.JSONField(default=list, blank=True, help_text="Each must be among the approvers' roles.")
    accepted_roles = models.JSONField(default=list, blank=True, help_text="Roles allowed to sign.")
    request_window_days = models.PositiveIntegerField(default=30, help_text="An open request expires after this.")
    approval_validity_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A signature older than this many days no longer counts and must be renewed before "
        "promotion (empty: signatures do not expire).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["scope", "target_stage", "is_rollback", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "target_stage", "is_rollback", "version"], name="policy_version_unique"
            ),
            models.UniqueConstraint(
                fields=["scope", "target_stage", "is_rollback"],
                condition=models.Q(is_current=True),
                name="policy_one_current_version",
            ),
            models.CheckConstraint(condition=models.Q(scope__in=PolicyScope.values), name="policy_scope_valid"),
            models.CheckConstraint(
                condition=models.Q(target_stage__in=[s.value for s in TARGET_STAGES]), name="policy_target_stage_valid"
            ),
            models.CheckConstraint(condition=models.Q(approvals_required__gte=1), name="policy_needs_an_approval"),
        ]

    def __str__(self) -> str:
        kind = " rollback" if self.is_rollback else ""
        return f"{self.scope} -> {self.target_stage}{kind} v{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            stored = getattr(self, "_stored_content", None)
            if stored is not None and stored != self._content():
                raise PolicyFrozen("a policy version never changes; revise it to create a new version")
        super().save(*args, **kwargs)
        self._stored_content = self._content()

    def _content(self) -> tuple:
        return tuple(repr(getattr(self, name)) for name in POLICY_CONTENT_FIELDS)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        if all(name in instance.__dict__ for name in POLICY_CONTENT_FIELDS):
            instance._stored_content = instance._content()
        return instance


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    PROMOTED = "promoted", "Promoted"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded"


OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.APPROVED)

# The state machine. Anything else is an illegal transition (refused and audited).
TRANSITIONS: dict[str, frozenset[str]] = {
    RequestStatus.PENDING: frozenset(
        {
            RequestStatus.APPROVED,
            RequestStatus.REJECTED,
            RequestStatus.WITHDRAWN,
            RequestStatus.EXPIRED,
            RequestStatus.SUPERSEDED,
        }
    ),
    RequestStatus.APPROVED: frozenset(
        {RequestStatus.PROMOTED, RequestStatus.WITHDRAWN, RequestStatus.EXPIRED, RequestStatus.SUPERSEDED}
    ),
    RequestStatus.PROMOTED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.WITHDRAWN: frozenset(),
    RequestStatus.EXPIRED: frozenset(),
    RequestStatus.SUPERSEDED: frozenset(),
}


class PromotionRequest(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotion_requests")
    from_stage = models.CharField(max_length=16, choices=Stage.choices)
    target_stage = models.CharField(max_length=16, choices=Stage.choices)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    policy = models.ForeignKey(
        Policy,
        on_delete=models.PROTECT,
        related_name="requests",
        help_text="The policy version this request is judged under.",
    )
    is_rollback = models.BooleanField(default=False)
    gate_results = models.JSONField(default=list, blank=True)
    gates_passed = models.BooleanField(default=False)
    gates_evaluated_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    status_reason = models.TextField(blank=True, help_text="Why it was withdrawn, expired or superseded.")
    committee = models.ForeignKey(
        "Committee",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
        help_text="The approval committee this request is signed by (none: any eligible signer).",
    )
    committee_snapshot = models.JSONField(
        default=dict,
        blank=True,
        help_text='The committee as it was when requested: {"id", "name", "quorum", "role_minimums", '
        '"members": [{"user_id", "username", "role"}]}; later membership changes do not touch open requests.',
    )

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=RequestStatus.values), name="request_status_valid"),
            models.CheckConstraint(
                condition=models.Q(target_stage__in=[s.value for s in TARGET_STAGES]), name="request_target_stage_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(from_stage=models.F("target_stage")), name="request_moves_somewhere"
            ),
            models.UniqueConstraint(
                fields=["model_version", "target_stage"],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="one_open_request_per_version_and_stage",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="request_status_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model_version} -> {self.target_stage} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def expires_at(self):
        return self.created_at + dt.timedelta(days=self.policy.request_window_days)


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Approval(models.Model):
    """One electronic signature: who, when, what it means, why, and the evidence it saw."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32, help_text="The role the approver signed in.")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    justification = models.TextField()
    override_justification = models.TextField(blank=True, help_text="Set when a risk officer overrode failing gates.")
    overridden_checks = models.JSONField(default=list, blank=True)
    signature_meaning = models.CharField(max_length=300)
    signed_at = models.DateTimeField(default=timezone.now)
    reauthenticated = models.BooleanField(default=True)
    reauthentication = models.JSONField(
        default=dict,
        blank=True,
        help_text='How the signer re-authenticated: {"method": "password"} or {"method": "oidc_step_up", '
        '"provider", "subject", "auth_time", "step_up_started_at"} (governance/accounts/stepup.py).',
    )
    gate_snapshot = models.JSONField(default=list, blank=True, help_text="The checklist as it was when signed.")
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidated_reason = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(decision__in=Decision.values), name="approval_decision_valid"),
            models.CheckConstraint(condition=~models.Q(justification=""), name="approval_justified"),
            models.UniqueConstraint(
                fields=["request", "approver"],
                condition=models.Q(invalidated_at__isnull=True),
                name="one_live_signature_per_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver} on request {self.request_id}"

    @property
    def is_override(self) -> bool:
        return bool(self.override_justification)

    @property
    def is_valid(self) -> bool:
        return self.invalidated_at is None


class Committee(models.Model):
    """A named approval committee: ``quorum`` (N) approvals out of its M members, with a minimum number
    of approvals per role. Bound either to a policy scope (a risk tier or EU AI Act category) or to one
    model, for one target stage; a model's own committee wins over its scope's."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    scope = models.CharField(max_length=16, choices=PolicyScope.choices, blank=True)
    model = models.ForeignKey(
        RegisteredModel, on_delete=models.PROTECT, null=True, blank=True, related_name="committees"
    )
    target_stage = models.CharField(max_length=16, choices=[(s.value, s.label) for s in TARGET_STAGES])
    quorum = models.PositiveSmallIntegerField(help_text="Approvals required (N).")
    role_minimums = models.JSONField(
        default=dict, blank=True, help_text='Minimum approvals per role, e.g. {"validator": 1, "risk_officer": 1}.'
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quorum__gte=1), name="committee_quorum_positive"),
            models.CheckConstraint(
                condition=(models.Q(model__isnull=True) & ~models.Q(scope=""))
                | (models.Q(model__isnull=False) & models.Q(scope="")),
                name="committee_scope_or_model",
            ),
            models.UniqueConstraint(
                fields=["scope", "target_stage"],
                condition=models.Q(is_active=True, model__isnull=True),
                name="one_active_committee_per_scope",
            ),
            models.UniqueConstraint(
                fields=["model", "target_stage"],
                condition=models.Q(is_active=True, model__isnull=False),
                name="one_active_committee_per_model",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def active_members(self):
        return self.members.filter(removed_at__isnull=True).select_related("user").order_by("user__username")


class CommitteeMember(models.Model):
    """A seat on a committee, in one role. Leaving sets ``removed_at``; seats are never deleted."""

    committee = models.ForeignKey(Committee, on_delete=models.PROTECT, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="committee_seats")
    role = models.CharField(max_length=32, help_text="The role the member signs in on this committee.")
    added_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["committee", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["committee", "user"],
                condition=models.Q(removed_at__isnull=True),
                name="one_active_seat_per_member",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.committee}"


class Recusal(models.Model):
    """A committee member's declared conflict of interest on one request: it excludes them from
    signing it and lowers the committee's size (M) for that request."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="recusals")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32)
    reason = models.TextField(help_text="The declared conflict of interest.")
    declared_at = models.DateTimeField(default=timezone.now)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["declared_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "member"], name="one_recusal_per_member_and_request"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="recusal_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.member} recused from request {self.request_id}"


class StageTransition(models.Model):
    """A recorded stage change: the only source of the point-in-time view."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="stage_transitions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="stage_transitions")
    from_stage = models.CharField(max_length=16, choices=Stage.choices)
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    at = models.DateTimeField(default=timezone.now)
    request = models.ForeignKey(
        PromotionRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="transitions"
    )
    approvers = models.JSONField(default=list, blank=True, help_text="Snapshot of the signatures that moved it.")
    evaluation_ids = models.JSONField(default=list, blank=True)
    is_rollback = models.BooleanField(default=False)
    reason = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["model", "at"], name="transition_model_at_idx")]

    def __str__(self) -> str:
        return f"{self.model_version} {self.from_stage} -> {self.to_stage} at {self.at:%Y-%m-%d %H:%M}"


class ReviewFlag(models.Model):
    """A production version whose new monitoring evaluation breaches its policy."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="review_flags")
    evaluation = models.ForeignKey("evaluations.Evaluation", on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="+")
    breaches = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)

    objects = GovernedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"review of {self.model_version} (evaluation {self.evaluation_id})"

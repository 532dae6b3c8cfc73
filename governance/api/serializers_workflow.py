from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from governance.accounts.models import User
from governance.api.serializers_registry import StrictSerializer
from governance.registry.models import RegisteredModel
from governance.workflow.models import (
    TARGET_STAGES,
    Approval,
    Committee,
    CommitteeMember,
    Policy,
    PolicyScope,
    PromotionRequest,
    Recusal,
)
from governance.workflow.signing import approvals_outstanding


class GateResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    metric = serializers.CharField(allow_blank=True, help_text="Empty for a required kind with no numeric check.")
    comparator = serializers.CharField(help_text="<=, <, >=, >, == or 'exists'.")
    threshold = serializers.CharField(allow_null=True, help_text="Exact decimal string.")
    value = serializers.CharField(allow_null=True, help_text="The metric's value as a decimal string.")
    evaluation_id = serializers.IntegerField(allow_null=True)
    dataset = serializers.CharField(allow_null=True)
    # Named like Field.source (typed on the class by the stubs; DRF's metaclass moves fields off it).
    source = serializers.CharField(allow_null=True, help_text="computed or reported")  # type: ignore[assignment]
    evaluated_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["pass", "fail", "missing", "stale", "not_computed"])
    # kind "agreement" (a policy with require_agreement): value is |computed - reported|, threshold the tolerance
    reported = serializers.CharField(required=False, help_text="agreement rows: the reported value")
    computed = serializers.CharField(required=False, help_text="agreement rows: the computed value")
    reported_evaluation_id = serializers.IntegerField(
        required=False, help_text="agreement rows: the reported evaluation"
    )


class PolicySummarySerializer(serializers.ModelSerializer):
    scope = serializers.CharField(read_only=True, help_text="tier_1|tier_2|tier_3 or prohibited|high|limited|minimal")
    target_stage = serializers.CharField(read_only=True, help_text="staging or production")

    class Meta:
        model = Policy
        fields = [
            "id",
            "scope",
            "target_stage",
            "is_rollback",
            "version",
            "is_current",
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
        ]


class ApprovalSerializer(serializers.ModelSerializer):
    approver: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decision = serializers.CharField(read_only=True, help_text="approve or reject")
    is_override = serializers.BooleanField(read_only=True)

    class Meta:
        model = Approval
        fields = [
            "id",
            "approver",
            "role",
            "decision",
            "justification",
            "override_justification",
            "is_override",
            "overridden_checks",
            "signature_meaning",
            "signed_at",
            "reauthenticated",
            "reauthentication",
            "invalidated_at",
            "invalidated_reason",
        ]


class StaleApprovalSerializer(serializers.Serializer):
    approval_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    signed_at = serializers.DateTimeField()
    window_days = serializers.IntegerField()


class CommitteeStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    members = serializers.IntegerField(help_text="M: seats on the committee when the request was made.")
    recused = serializers.IntegerField(help_text="Members who declared a conflict of interest on this request.")
    eligible = serializers.IntegerField(help_text="M minus recusals.")
    quorum = serializers.IntegerField(help_text="N: approvals required.")
    role_minimums = serializers.DictField(child=serializers.IntegerField())
    roles_owed = serializers.DictField(child=serializers.IntegerField(), help_text="Approvals still owed per role.")
    reachable = serializers.BooleanField(help_text="Whether the members who may still sign can complete the quorum.")


class OutstandingSerializer(serializers.Serializer):
    approvals = serializers.IntegerField(help_text="Approvals still needed.")
    roles = serializers.ListField(
        child=serializers.CharField(), help_text="Roles below their minimum (required roles, committee minimums)."
    )
    given = serializers.IntegerField(help_text="Valid approvals that count (not past the approval window).")
    # Named like Field.required (typed on the class by the stubs; DRF's metaclass moves fields off it).
    required = serializers.IntegerField()  # type: ignore[assignment]
    stale = StaleApprovalSerializer(
        many=True, required=False, help_text="Signatures older than the policy's approval window: renew them."
    )
    committee = CommitteeStateSerializer(required=False, help_text="Present when a committee signs the request.")


class RecusalSerializer(serializers.ModelSerializer):
    member: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Recusal
        fields = ["id", "member", "role", "reason", "declared_at"]
        read_only_fields = fields


class PromotionRequestSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.name", read_only=True)
    model_id = serializers.IntegerField(source="model_version.model_id", read_only=True)
    version = serializers.CharField(source="model_version.version", read_only=True)
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    policy = PolicySummarySerializer(read_only=True)
    gate_results = GateResultSerializer(many=True, read_only=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    outstanding = serializers.SerializerMethodField()
    committee = serializers.JSONField(
        source="committee_snapshot",
        read_only=True,
        help_text='The committee signing it as it was when requested ({} when none): {"id", "name", "quorum", '
        '"role_minimums", "members": [{"user_id", "username", "role"}]}.',
    )
    recusals = RecusalSerializer(many=True, read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    status = serializers.CharField(
        read_only=True, help_text=("pending -> approved -> promoted, or rejected, withdrawn, expired, superseded")
    )
    from_stage = serializers.CharField(read_only=True, help_text="The version's stage when requested.")
    target_stage = serializers.CharField(read_only=True, help_text="staging or production")

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "model",
            "model_id",
            "model_version",
            "version",
            "from_stage",
            "target_stage",
            "status",
            "status_reason",
            "reason",
            "is_rollback",
            "requested_by",
            "created_at",
            "expires_at",
            "decided_at",
            "superseded_by",
            "policy",
            "gates_passed",
            "gates_evaluated_at",
            "gate_results",
            "approvals",
            "outstanding",
            "committee",
            "recusals",
        ]

    @extend_schema_field(OutstandingSerializer)
    def get_outstanding(self, obj) -> dict:
        return approvals_outstanding(
            obj, [a for a in obj.approvals.all() if a.invalidated_at is None and a.decision == "approve"]
        )


class PromotionRequestCreateSerializer(StrictSerializer):
    model_version = serializers.IntegerField(help_text="The model version's id.")
    target_stage = serializers.ChoiceField(choices=[s.value for s in TARGET_STAGES])
    reason = serializers.CharField(max_length=20000, allow_blank=True)
    is_rollback = serializers.BooleanField(
        required=False, default=False, help_text="Re-promote an earlier production version (risk officers)."
    )


class WithdrawSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=20000, allow_blank=True)


class SignatureSerializer(StrictSerializer):
    justification = serializers.CharField(
        max_length=20000, allow_blank=True, help_text="Why you sign; recorded with the signature."
    )
    password = serializers.CharField(
        max_length=4096,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Your own password, re-entered at the moment of signing.",
    )


class ApproveSerializer(SignatureSerializer):
    override_justification = serializers.CharField(
        max_length=20000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Risk officers only, when a gate fails: the separate, explicit reason to override it.",
    )


class HistoryApprovalSerializer(serializers.Serializer):
    approval_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    signed_at = serializers.DateTimeField()
    override = serializers.BooleanField()
    signature_meaning = serializers.CharField()


class HistoryEvaluationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    dataset = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # named like Field.source (see GateResultSerializer)
    finished_at = serializers.DateTimeField()
    metrics = serializers.DictField()


class HistoryEntrySerializer(serializers.Serializer):
    version_id = serializers.IntegerField()
    version = serializers.CharField()
    since = serializers.DateTimeField()
    transition_id = serializers.IntegerField(allow_null=True)
    request_id = serializers.IntegerField(allow_null=True)
    is_rollback = serializers.BooleanField()
    approvals = HistoryApprovalSerializer(many=True)
    evaluations = HistoryEvaluationSerializer(many=True)


class HistoryStagesSerializer(serializers.Serializer):
    development = HistoryEntrySerializer(many=True)
    staging = HistoryEntrySerializer(many=True)
    production = HistoryEntrySerializer(many=True)
    retired = HistoryEntrySerializer(many=True)


class HistoryTransitionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.CharField()
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    at = serializers.DateTimeField()
    request_id = serializers.IntegerField(allow_null=True)
    is_rollback = serializers.BooleanField()
    approvals = HistoryApprovalSerializer(many=True)
    evaluation_ids = serializers.ListField(child=serializers.IntegerField())
    reason = serializers.CharField()


class HistoryModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ModelHistorySerializer(serializers.Serializer):
    model = HistoryModelSerializer()
    at = serializers.DateTimeField()
    stages = HistoryStagesSerializer()
    transitions = HistoryTransitionSerializer(many=True)


class RecuseSerializer(StrictSerializer):
    reason = serializers.CharField(
        max_length=20000, allow_blank=True, help_text="The conflict of interest you declare (recorded, audited)."
    )


class CommitteeMemberSerializer(serializers.ModelSerializer):
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CommitteeMember
        fields = ["user", "role", "added_at", "removed_at"]
        read_only_fields = fields


class CommitteeSerializer(serializers.ModelSerializer):
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    scope = serializers.CharField(read_only=True, help_text="A risk tier or EU AI Act category; empty for a model's")
    target_stage = serializers.CharField(read_only=True, help_text="staging or production")
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    members = serializers.SerializerMethodField()

    class Meta:
        model = Committee
        fields = [
            "id",
            "name",
            "description",
            "scope",
            "model",
            "target_stage",
            "quorum",
            "role_minimums",
            "is_active",
            "members",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CommitteeMemberSerializer(many=True))
    def get_members(self, obj) -> list:
        members = [m for m in obj.members.all() if m.removed_at is None]
        # many=True makes a ListSerializer, whose data is a list; the stubs type it as one object's ReturnDict
        return CommitteeMemberSerializer(members, many=True).data  # type: ignore[return-value]


class CommitteeSeatInputSerializer(StrictSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    role = serializers.CharField()


class CommitteeCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    scope = serializers.ChoiceField(choices=PolicyScope.values, required=False, allow_blank=True, default="")
    model = serializers.PrimaryKeyRelatedField(queryset=RegisteredModel.objects.all(), required=False, allow_null=True)
    target_stage = serializers.ChoiceField(choices=[s.value for s in TARGET_STAGES])
    quorum = serializers.IntegerField(help_text="N: approvals required; at most the number of members.")
    role_minimums = serializers.DictField(child=serializers.IntegerField(), required=False, default=dict)
    members = CommitteeSeatInputSerializer(many=True)


class CommitteeReviseSerializer(StrictSerializer):
    reason = serializers.CharField(allow_blank=True)
    quorum = serializers.IntegerField(required=False)
    role_minimums = serializers.DictField(child=serializers.IntegerField(), required=False)
    members = CommitteeSeatInputSerializer(many=True, required=False)
    is_active = serializers.BooleanField(required=False)

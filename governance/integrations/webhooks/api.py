"""REST API of outbound webhooks (risk officers and administrators): subscriptions, the delivery log,
redelivery, and the event catalogue. Routes are registered in ``governance/api/urls.py``."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import idempotency
from governance.api.views_common import GovernanceViewSet
from governance.common.errors import ValidationFailed
from governance.integrations.webhooks import catalogue, services
from governance.integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


class IsWebhookManager(permissions.BasePermission):
    message = services.MANAGE_REFUSAL

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and services.may_manage(request.user))


# --- serializers --------------------------------------------------------------------------------------------


class SubscriptionSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "events",
            "description",
            "secret_hint",
            "owner",
            "is_active",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_...). Shown in this response only: store it now."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionCreateSerializer(serializers.Serializer):
    url = serializers.CharField(allow_blank=True, max_length=2000, help_text="https:// receiver URL.")
    events = serializers.ListField(
        child=serializers.CharField(), allow_empty=True, help_text="Event names (GET /api/v1/webhooks/events)."
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class SubscriptionUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    events = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class DisableSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=2000)


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField()
    error = serializers.CharField()
    succeeded = serializers.BooleanField()


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event",
            "message_id",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "first_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_response_excerpt",
            "last_error",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempt_log"]
        read_only_fields = fields


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "event", "status"]


# --- views --------------------------------------------------------------------------------------------------


class WebhookEventsView(APIView):
    """The events a subscription can name, with what each means (docs/webhooks.md has the payloads)."""

    permission_classes = [IsWebhookManager]

    @extend_schema(
        responses={
            200: inline_serializer(
                "WebhookEvents",
                {"events": serializers.ListField(child=serializers.DictField())},
            )
        }
    )
    def get(self, request):
        return Response({"events": [{"name": name, "description": text} for name, text in catalogue.EVENTS.items()]})


class WebhookSubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """Outbound webhook subscriptions. Creating or rotating returns the signing secret once."""

    serializer_class = SubscriptionSerializer
    queryset = WebhookSubscription.objects.select_related("owner")
    filterset_fields = ["is_active"]
    ordering_fields = ["created_at"]

    SECRET_ACTIONS = ("create", "rotate_secret")

    def initial(self, request, *args, **kwargs):
        if self.action in self.SECRET_ACTIONS and request.headers.get(idempotency.HEADER) is not None:
            # A replayed response would have to be stored, and this one holds the secret shown once.
            self.format_kwarg = self.get_format_suffix(**kwargs)
            raise ValidationFailed(
                f"{idempotency.HEADER}: not accepted here, the response holds a secret that is never stored; "
                "list the subscriptions to see whether a retried request created one",
                field=idempotency.HEADER,
            )
        super().initial(request, *args, **kwargs)

    def get_permissions(self):
        if self.action in ("create", "partial_update", "disable", "enable", "rotate_secret"):
            return [permissions.IsAuthenticated()]  # the service refuses and audits the denial
        return [IsWebhookManager()]

    @extend_schema(request=SubscriptionCreateSerializer, responses={201: SubscriptionWithSecretSerializer})
    def create(self, request):
        data = SubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub, secret = services.subscription_create(by=self.principal, **data.validated_data)
        sub.secret = secret
        return Response(SubscriptionWithSecretSerializer(sub).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SubscriptionUpdateSerializer, responses={200: SubscriptionSerializer})
    def partial_update(self, request, pk=None):
        sub = self._get(pk)
        data = SubscriptionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub = services.subscription_update(by=self.principal, subscription=sub, data=dict(data.validated_data))
        return Response(SubscriptionSerializer(sub).data)

    @extend_schema(request=DisableSerializer, responses={200: SubscriptionSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        sub = self._get(pk)
        data = DisableSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub = services.subscription_disable(by=self.principal, subscription=sub, reason=data.validated_data["reason"])
        return Response(SubscriptionSerializer(sub).data)

    @extend_schema(request=None, responses={200: SubscriptionSerializer})
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        sub = services.subscription_enable(by=self.principal, subscription=self._get(pk))
        return Response(SubscriptionSerializer(sub).data)

    @extend_schema(request=None, responses={200: SubscriptionWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        sub, secret = services.subscription_rotate_secret(by=self.principal, subscription=self._get(pk))
        sub.secret = secret
        return Response(SubscriptionWithSecretSerializer(sub).data)

    def _get(self, pk):
        from rest_framework.generics import get_object_or_404  # a malformed id is a 404, as on every route

        return get_object_or_404(WebhookSubscription, pk=pk)


class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GovernanceViewSet):
    """The delivery log: one row per event per subscription, with every attempt; redelivery on demand."""

    serializer_class = DeliverySerializer
    queryset = WebhookDelivery.objects.all()
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at", "next_attempt_at"]

    def get_permissions(self):
        if self.action == "redeliver":
            return [permissions.IsAuthenticated()]
        return [IsWebhookManager()]

    def get_serializer_class(self):
        return DeliveryDetailSerializer if self.action == "retrieve" else DeliverySerializer

    def get_queryset(self):
        if self.action == "retrieve":
            return WebhookDelivery.objects.prefetch_related("attempt_log")
        return WebhookDelivery.objects.all()

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        from rest_framework.generics import get_object_or_404

        delivery = get_object_or_404(WebhookDelivery, pk=pk)
        delivery = services.delivery_redeliver(by=self.principal, delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

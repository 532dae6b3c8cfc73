"""API v1 routes. Every route answers with or without its trailing slash, so the paths written in
the docs (``/api/v1/audit/keys``, ``/api/v1/promotions/``) work exactly as written."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from governance.api.views_audit import AuditLogViewSet
from governance.api.views_evaluations import EvaluationViewSet, ReferenceSampleViewSet
from governance.api.views_registry import ModelVersionViewSet, RegisteredModelViewSet
from governance.api.views_reports import ReportViewSet
from governance.api.views_workflow import CommitteeViewSet, ModelHistoryView, PromotionRequestViewSet
from governance.integrations.mlflow import urls as mlflow_urls
from governance.integrations.webhooks.api import WebhookDeliveryViewSet, WebhookEventsView, WebhookSubscriptionViewSet
from governance.oversight.api import (
    FindingViewSet,
    IncidentViewSet,
    MetricSeriesView,
    MissedCheckViewSet,
    MonitoringScheduleViewSet,
    PostMarketPlanViewSet,
    RevalidationIntervalView,
    RevalidationScheduleView,
    ValidationViewSet,
)


class OptionalSlashRouter(DefaultRouter):
    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("models", RegisteredModelViewSet, basename="model")
router.register("versions", ModelVersionViewSet, basename="version")
router.register("promotions", PromotionRequestViewSet, basename="promotion")
router.register("committees", CommitteeViewSet, basename="committee")
router.register("audit", AuditLogViewSet, basename="audit")
router.register("evaluations", EvaluationViewSet, basename="evaluation")
router.register("reports", ReportViewSet, basename="report")
router.register("webhooks/subscriptions", WebhookSubscriptionViewSet, basename="webhook-subscription")
router.register("webhooks/deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("validations", ValidationViewSet, basename="validation")
router.register("findings", FindingViewSet, basename="finding")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("revalidation/intervals", RevalidationIntervalView, basename="revalidation-interval")
router.register("monitoring/schedules", MonitoringScheduleViewSet, basename="monitoring-schedule")
router.register("monitoring/missed-checks", MissedCheckViewSet, basename="missed-check")
router.register("post-market-plans", PostMarketPlanViewSet, basename="post-market-plan")
for prefix, viewset, basename in mlflow_urls.register:
    router.register(prefix, viewset, basename=basename)

app_name = "api"
urlpatterns = [
    re_path(r"^models/(?P<pk>[0-9]+)/history/?$", ModelHistoryView.as_view(), name="model-history"),
    re_path(
        r"^versions/(?P<pk>[0-9]+)/reference/?$",
        ReferenceSampleViewSet.as_view({"get": "list", "post": "create"}),
        name="version-reference",
    ),
    re_path(r"^versions/(?P<pk>[0-9]+)/series/?$", MetricSeriesView.as_view(), name="version-series"),
    re_path(r"^webhooks/events/?$", WebhookEventsView.as_view(), name="webhook-events"),
    re_path(r"^revalidation/schedule/?$", RevalidationScheduleView.as_view(), name="revalidation-schedule"),
    *mlflow_urls.urlpatterns,
    *router.urls,
]

"""API v1 routes. Other apps register their viewsets here, one line each."""

from rest_framework.routers import DefaultRouter

from governance.api.views_registry import ModelVersionViewSet, RegisteredModelViewSet

router = DefaultRouter(trailing_slash=True)
router.register("models", RegisteredModelViewSet, basename="model")
router.register("versions", ModelVersionViewSet, basename="version")

app_name = "api"
urlpatterns = router.urls

"""URL routes. `/health/` is not here: HealthCheckMiddleware answers it before routing."""
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from events.views import EventViewSet

router = DefaultRouter()
router.register("events", EventViewSet)

urlpatterns = [
    path("api/", include(router.urls)),
]

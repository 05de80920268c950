"""URL routes. `/health/` is not here: HealthCheckMiddleware answers it before routing."""
from django.urls import include, path
from events.uploads import UploadView
from events.views import EventViewSet
from rest_framework.routers import DefaultRouter

router = DefaultRouter()
router.register("events", EventViewSet)

urlpatterns = [
    path("api/uploads/", UploadView.as_view()),
    path("api/", include(router.urls)),
]

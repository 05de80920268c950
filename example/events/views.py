from rest_framework import viewsets

from events.models import Event
from events.serializers import EventSerializer


class EventViewSet(viewsets.ModelViewSet):
    """List (paginated, 20 a page), create, retrieve, update and delete events."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer

from django.db import models


class Event(models.Model):
    """Something that happened at a moment in time."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    happened_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-happened_at", "-id"]

    def __str__(self):
        return self.title

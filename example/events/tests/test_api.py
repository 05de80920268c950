from datetime import UTC, datetime, timedelta

from rest_framework import status
from rest_framework.test import APITestCase

from events.models import Event

MOON_LANDING = datetime(1969, 7, 20, 20, 17, tzinfo=UTC)


class EventApiTests(APITestCase):
    def make_event(self, title="Moon landing", **fields):
        return Event.objects.create(title=title, happened_at=fields.pop("happened_at", MOON_LANDING), **fields)

    def test_create(self):
        response = self.client.post(
            "/api/events/", {"title": "Moon landing", "happened_at": "1969-07-20T20:17:00Z"}, format="json"
        )
        self.assertEqual(response.status_code, status.HTTP_201_CREATED, response.data)
        self.assertEqual(response.data["title"], "Moon landing")
        self.assertEqual(response.data["description"], "")
        self.assertIn("created_at", response.data)
        self.assertEqual(Event.objects.get().happened_at, MOON_LANDING)

    def test_create_rejects_missing_fields(self):
        response = self.client.post("/api/events/", {"description": "no title"}, format="json")
        self.assertEqual(response.status_code, status.HTTP_400_BAD_REQUEST)
        self.assertEqual(set(response.data), {"title", "happened_at"})

    def test_retrieve(self):
        event = self.make_event(description="One small step")
        response = self.client.get(f"/api/events/{event.pk}/")
        self.assertEqual(response.status_code, status.HTTP_200_OK)
        self.assertEqual(response.data["description"], "One small step")

    def test_update(self):
        event = self.make_event()
        response = self.client.put(
            f"/api/events/{event.pk}/",
            {"title": "Apollo 11 landing", "description": "Tranquility Base", "happened_at": "1969-07-20T20:17:40Z"},
            format="json",
        )
        self.assertEqual(response.status_code, status.HTTP_200_OK, response.data)
        event.refresh_from_db()
        self.assertEqual((event.title, event.description), ("Apollo 11 landing", "Tranquility Base"))

    def test_partial_update(self):
        event = self.make_event()
        response = self.client.patch(f"/api/events/{event.pk}/", {"description": "Eagle"}, format="json")
        self.assertEqual(response.status_code, status.HTTP_200_OK, response.data)
        event.refresh_from_db()
        self.assertEqual((event.title, event.description), ("Moon landing", "Eagle"))

    def test_delete(self):
        event = self.make_event()
        response = self.client.delete(f"/api/events/{event.pk}/")
        self.assertEqual(response.status_code, status.HTTP_204_NO_CONTENT)
        self.assertFalse(Event.objects.exists())
        self.assertEqual(self.client.get(f"/api/events/{event.pk}/").status_code, status.HTTP_404_NOT_FOUND)

    def test_list_is_paginated_by_20_newest_first(self):
        for day in range(25):
            self.make_event(title=f"day {day}", happened_at=MOON_LANDING + timedelta(days=day))

        first = self.client.get("/api/events/")
        self.assertEqual(first.status_code, status.HTTP_200_OK)
        self.assertEqual(first.data["count"], 25)
        self.assertEqual(len(first.data["results"]), 20)
        self.assertEqual(first.data["results"][0]["title"], "day 24")
        self.assertIsNone(first.data["previous"])
        self.assertIn("page=2", first.data["next"])

        second = self.client.get("/api/events/", {"page": 2})
        self.assertEqual(len(second.data["results"]), 5)
        self.assertIsNone(second.data["next"])

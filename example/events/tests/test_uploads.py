import tempfile
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from rest_framework import status
from rest_framework.test import APITestCase


class UploadTests(APITestCase):
    def setUp(self):
        media = tempfile.TemporaryDirectory()
        self.addCleanup(media.cleanup)
        self.media_root = Path(media.name)
        settings = override_settings(MEDIA_ROOT=self.media_root, MEDIA_URL="/media/")
        settings.enable()
        self.addCleanup(settings.disable)

    def upload(self, name, content):
        return self.client.post("/api/uploads/", {"file": SimpleUploadedFile(name, content)}, format="multipart")

    def test_a_file_is_saved_under_media_root_and_its_url_returned(self):
        response = self.upload("photo.png", b"\x89PNG\r\n\x1a\n bytes")
        self.assertEqual(response.status_code, status.HTTP_201_CREATED, response.data)
        self.assertEqual(response.data, {"name": "uploads/photo.png", "url": "/media/uploads/photo.png"})
        self.assertEqual((self.media_root / "uploads" / "photo.png").read_bytes(), b"\x89PNG\r\n\x1a\n bytes")

    def test_the_same_name_twice_keeps_both_files(self):
        first, second = self.upload("notes.txt", b"one"), self.upload("notes.txt", b"two")
        self.assertEqual(first.status_code, status.HTTP_201_CREATED)
        self.assertNotEqual(first.data["name"], second.data["name"])
        self.assertEqual((self.media_root / first.data["name"]).read_bytes(), b"one")
        self.assertEqual((self.media_root / second.data["name"]).read_bytes(), b"two")

    def test_no_file_is_a_400_naming_the_field(self):
        response = self.client.post("/api/uploads/", {}, format="multipart")
        self.assertEqual(response.status_code, status.HTTP_400_BAD_REQUEST)
        self.assertIn("file", response.data)

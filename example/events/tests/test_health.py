from unittest import mock

from django.db import OperationalError, connection
from django.test import TestCase, override_settings


class HealthTests(TestCase):
    def test_ok_with_version(self):
        with override_settings(APP_VERSION="v42"):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"status": "ok", "database": "ok", "version": "v42"})

    @override_settings(APP_VERSION="unknown")
    def test_503_when_database_unreachable(self):
        with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json(), {"status": "error", "database": "unreachable", "version": "unknown"})

    def test_answers_hosts_not_in_allowed_hosts(self):
        for host in ("127.0.0.1:8000", "app-green-1", "172.18.0.5"):
            with self.subTest(host=host):
                response = self.client.get("/health/", headers={"host": host})
                self.assertEqual(response.status_code, 200)

    def test_other_paths_still_check_the_host(self):
        response = self.client.get("/api/events/", headers={"host": "app-green-1"})
        self.assertEqual(response.status_code, 400)

"""An existing Django REST project on SQLite, not our example, brought aboard: `onehost init`,
the image build, a deploy with the onehost.toml init wrote, the SQLite data moved once, and the
same rows served from the host's PostgreSQL.

The project is made here the way its authors made it: `django-admin startproject shop`, an app
with two related models (an author has books), a DRF API, rows in SQLite. It runs on an
instance of its own, so its database starts empty: named and numbered after the session's test
instance (ONEHOST_TEST_*, tests/host/conftest.py), so two host tiers side by side never share it,
and its image in a repository of the session's own.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from onehost.cli import main
from onehost.local import app_image, instance
from tests.host.conftest import Deployer, Instance, instance_settings, side_instance_settings
from tests.host.fixtures import remove_session_images


def shop_instance_settings(environ=os.environ) -> dict:
    """The shop's instance: the session's test instance's name with -shop, its ports plus 100."""
    return side_instance_settings("shop", 100, environ)


SHOP_INSTANCE_ENV = shop_instance_settings()
# The session's own repository (as APP_REPOSITORY is for the example): onehost.toml names it.
SHOP_REPOSITORY = f"shop-{instance_settings()['ONEHOST_INSTANCE']}"
IMAGE_TAG = "test-v1"
DJANGO_ADMIN = str(Path(sys.executable).with_name("django-admin"))
# The project's own pins: what the example pins for the same packages.
REQUIREMENTS = "Django==5.2.19\nasgiref==3.13.0\nsqlparse==0.6.1\ndjangorestframework==3.18.3\n"

MODELS = '''from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)
    born = models.DateField(null=True)


class Book(models.Model):
    author = models.ForeignKey(Author, related_name="books", on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=6, decimal_places=2)
    in_print = models.BooleanField(default=True)
'''
API = '''from rest_framework import routers, serializers, viewsets

from catalog.models import Author, Book


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Author
        fields = ["id", "name", "born"]


class BookSerializer(serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "author", "title", "price", "in_print"]


class AuthorViewSet(viewsets.ModelViewSet):
    queryset = Author.objects.order_by("id")
    serializer_class = AuthorSerializer


class BookViewSet(viewsets.ModelViewSet):
    queryset = Book.objects.order_by("id")
    serializer_class = BookSerializer


router = routers.DefaultRouter()
router.register("authors", AuthorViewSet)
router.register("books", BookViewSet)
'''
SETTINGS_ADDITIONS = '''
INSTALLED_APPS += ["rest_framework", "catalog"]
REST_FRAMEWORK = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
                  "DEFAULT_AUTHENTICATION_CLASSES": [], "UNAUTHENTICATED_USER": None}
'''
ROWS = '''
from datetime import date
from decimal import Decimal
from catalog.models import Author, Book
ursula = Author.objects.create(id=1, name="Ursula K. Le Guin", born=date(1929, 10, 21))
stanisław = Author.objects.create(id=3, name="Stanisław Lem", born=date(1921, 9, 12))
Book.objects.create(id=1, author=ursula, title="The Dispossessed", price=Decimal("9.99"))
Book.objects.create(id=2, author=stanisław, title="Solaris", price=Decimal("12.50"), in_print=False)
Book.objects.create(id=7, author=stanisław, title="Cyberiada — bajki robotów", price=Decimal("8.00"))
'''


def manage(root: Path, *args: str, stdin: str | None = None) -> None:
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings"}
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=root, env=environ, input=stdin,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def make_project(root: Path) -> Path:
    root.mkdir()
    subprocess.run([DJANGO_ADMIN, "startproject", "shop", str(root)], check=True, timeout=60)
    manage(root, "startapp", "catalog")
    (root / "catalog" / "models.py").write_text(MODELS)
    (root / "catalog" / "api.py").write_text(API)
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS_ADDITIONS)
    urls = root / "shop" / "urls.py"
    urls.write_text(urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
                    .replace("urlpatterns = [", "from catalog.api import router\n\nurlpatterns = [\n"
                                                "    path(\"api/\", include(router.urls)),"))
    (root / "requirements.txt").write_text(REQUIREMENTS)
    manage(root, "makemigrations", "catalog")
    manage(root, "migrate")
    manage(root, "shell", stdin=ROWS)
    return root


def sqlite_rows(database: Path) -> dict[str, list]:
    with sqlite3.connect(database) as connection:
        return {"authors": connection.execute("SELECT id, name, born FROM catalog_author ORDER BY id").fetchall(),
                "books": connection.execute("SELECT id, author_id, title, price, in_print FROM catalog_book "
                                            "ORDER BY id").fetchall()}


class Shop(Instance):
    """The instance serving the project, the project's directory and what the move printed."""

    def __init__(self, config, root: Path, move: subprocess.CompletedProcess):
        super().__init__(config)
        self.root, self.move = root, move


@pytest.fixture(scope="module")
def shop(base_image_names, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("existing") / "shop")
    assert main(["init", str(root), "--app-name", "shop", "--domain", "shop.example.com",
                 "--image", SHOP_REPOSITORY]) == 0
    app_image.build(root, f"{SHOP_REPOSITORY}:{IMAGE_TAG}", base_image=base_image_names["python"])
    environ = {**os.environ, **SHOP_INSTANCE_ENV, "ONEHOST_APP_CONFIG": str(root / "onehost.toml")}
    config = instance.InstanceConfig.from_environment(environ)
    instance.reset(config)
    instance.up(config)
    deployer = Deployer(environ)
    deployer.run({"tag": IMAGE_TAG})
    move = deployer.run({"sqlite": str(root / "db.sqlite3")}, deploy_file="import_sqlite.py")
    yield Shop(config, root, move)
    if not os.environ.get("ONEHOST_KEEP_TEST_INSTANCE"):
        instance.reset(config)
        remove_session_images(SHOP_REPOSITORY)


def test_the_shop_gets_its_own_instance_beside_the_sessions():
    derived = shop_instance_settings({"ONEHOST_TEST_INSTANCE": "onehost-h4", "ONEHOST_TEST_SSH_PORT": "22204",
                                      "ONEHOST_TEST_HTTP_PORT": "28004", "ONEHOST_TEST_HTTPS_PORT": "28404"})
    assert derived == {"ONEHOST_INSTANCE": "onehost-h4-shop", "ONEHOST_SSH_PORT": "22304",
                       "ONEHOST_HTTP_PORT": "28104", "ONEHOST_HTTPS_PORT": "28504"}
    assert shop_instance_settings({})["ONEHOST_INSTANCE"] == "onehost-test-shop"


def test_the_release_runs_the_projects_image_and_reports_healthy(shop):
    status, body = instance.health(shop.config)
    assert status == 200 and body["version"] == IMAGE_TAG and body["database"] == "ok", body
    # The database is the app's own, named after it by onehost.toml.
    assert shop.inner("docker", "exec", "data-postgres-1", "psql", "--username", "shop", "--dbname", "shop",
                      "--tuples-only", "--no-align", "--command", "SELECT 1").stdout.strip() == "1"


def test_the_api_serves_the_rows_moved_from_sqlite(shop):
    expected = sqlite_rows(shop.root / "db.sqlite3")
    status, authors = shop.get("/api/authors/")
    assert status == 200, authors
    assert [(item["id"], item["name"], item["born"]) for item in authors] == [
        (row[0], row[1], row[2]) for row in expected["authors"]]
    status, books = shop.get("/api/books/")
    assert status == 200, books
    assert [(item["id"], item["author"], item["title"], item["price"], item["in_print"]) for item in books] == [
        (row[0], row[1], row[2], f"{float(row[3]):.2f}", bool(row[4])) for row in expected["books"]]


def test_the_move_printed_equal_counts_and_checksums(shop):
    printed = shop.move.stdout + shop.move.stderr
    # table, SQLite rows, PostgreSQL rows, primary keys
    assert re.search(r"catalog_author\s+2\s+2\s+same", printed), printed[-3000:]
    assert re.search(r"catalog_book\s+3\s+3\s+same", printed), printed[-3000:]


def test_rows_made_after_the_move_get_new_ids(shop):
    status, created = shop.request("POST", "/api/books/", {"author": 1, "title": "Lavinia", "price": "10.00"})
    assert status == 201, created
    assert created["id"] > 7  # the sequence was set past the moved ids, so nothing collides


def test_the_projects_static_files_are_served_by_nginx(shop):
    status = subprocess.run(["curl", "--silent", "--output", "/dev/null", "--write-out", "%{http_code}",
                             f"{shop.config.url}/static/admin/css/base.css"],
                            capture_output=True, text=True, timeout=30).stdout
    assert status == "200"


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_app_logs_json_lines_with_nginxs_request_id(shop):
    path = "/api/authors/3/"
    status, author = shop.get(path)
    assert status == 200 and author["name"] == "Stanisław Lem"
    [edge] = [entry for entry in json_lines(shop.inner("docker", "logs", "edge-nginx-1").stdout)
              if entry["uri"] == path]
    [app] = [entry for entry in json_lines(shop.inner("docker", "logs", shop.live_container()).stdout)
             if entry.get("path") == path and entry["logger"].endswith(".requests")]
    assert (app["status"], app["method"], app["request_id"]) == (200, "GET", edge["request_id"]), app
    assert app["duration_ms"] >= 0 and app["level"] == "INFO"

"""The edge's Content-Security-Policy by what a browser does with it: Django's admin and DRF's
browsable API, loaded in headless Chromium through the test instance's nginx, get every
stylesheet, script, image and font they ask for, and nothing is refused; JSON answers keep the
strict policy a JSON API needs.

The example app has no admin: this module deploys a variant of the session's image with
django.contrib.admin (and the sessions and messages it needs) added, and puts test-v1 back after.
"""

import runpy
import urllib.error
import urllib.request

import pytest

from onehost.paths import REPO_ROOT
from tests.host.browser import Browser
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY
from tests.host.test_releases import build

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
ADMIN_IMAGE = f"{APP_REPOSITORY}:test-admin"
STRICT_POLICY = "default-src 'none'; frame-ancestors 'none'"

# Django's admin on top of the example's base settings (read without secrets, so collectstatic
# runs in the build), following the admin's system checks (admin.E403 to E410).
ADMIN_BASE_SETTINGS = '''from .base import *  # noqa: F403
from .base import INSTALLED_APPS, MIDDLEWARE, TEMPLATES


def after(items, anchor, *added):
    at = items.index(anchor) + 1
    return [*items[:at], *added, *items[at:]]


INSTALLED_APPS = ["django.contrib.admin", *INSTALLED_APPS, "django.contrib.sessions", "django.contrib.messages"]
MIDDLEWARE = after(MIDDLEWARE, "django.middleware.security.SecurityMiddleware",
                   "django.contrib.sessions.middleware.SessionMiddleware")
MIDDLEWARE = after(MIDDLEWARE, "django.middleware.csrf.CsrfViewMiddleware",
                   "django.contrib.auth.middleware.AuthenticationMiddleware",
                   "django.contrib.messages.middleware.MessageMiddleware")
TEMPLATES = [{**TEMPLATES[0], "OPTIONS": {"context_processors": [
    *TEMPLATES[0]["OPTIONS"]["context_processors"],
    "django.contrib.auth.context_processors.auth",
    "django.contrib.messages.context_processors.messages",
]}}]
ROOT_URLCONF = "timewarp.admin_urls"
'''
ADMIN_PROD_SETTINGS = '''from .prod import *  # noqa: F403
from .admin_base import INSTALLED_APPS, MIDDLEWARE, ROOT_URLCONF, TEMPLATES  # noqa: F401
'''
ADMIN_URLS = '''from django.contrib import admin
from django.urls import path

from timewarp.urls import urlpatterns as api

urlpatterns = [path("admin/", admin.site.urls), *api]
'''
ADMIN_DOCKERFILE = f"""FROM {APP_IMAGE}
COPY admin_base.py admin_prod.py /app/timewarp/settings/
COPY admin_urls.py /app/timewarp/
USER root
RUN DJANGO_SETTINGS_MODULE=timewarp.settings.admin_base python manage.py collectstatic --noinput \\
    && python -m compileall -q timewarp
USER 10001:10001
ENV DJANGO_SETTINGS_MODULE=timewarp.settings.admin_prod
"""


@pytest.fixture(scope="module")
def admin_release(deployer, test_instance, deployed, tmp_path_factory):
    """The example with its admin, live; test-v1 live again when the module ends."""
    build(ADMIN_IMAGE, ADMIN_DOCKERFILE, tmp_path_factory.mktemp("admin"), {
        "admin_base.py": ADMIN_BASE_SETTINGS, "admin_prod.py": ADMIN_PROD_SETTINGS,
        "admin_urls.py": ADMIN_URLS})
    deployer.run({"image": ADMIN_IMAGE})
    test_instance.wait_for_health()
    yield test_instance
    deployer.run({"image": APP_IMAGE})   # the rest of the session expects test-v1 live
    test_instance.wait_for_health()


@pytest.fixture(scope="module")
def browser():
    with Browser(timeout=30) as chromium:
        yield chromium


def assert_rendered_with_everything_it_asked_for(page) -> None:
    documents = page.responses_of_type("Document")
    assert [(item["status"], item["mimeType"]) for item in documents] == [(200, "text/html")], documents
    assert page.refused_by_csp() == [], page.refused_by_csp()
    # Its own files came (through nginx's /static/), and the page got their CSS rules.
    stylesheets, scripts = page.responses_of_type("Stylesheet"), page.responses_of_type("Script")
    assert stylesheets and scripts, [item["url"] for item in page.responses]
    assert {item["status"] for item in stylesheets + scripts} == {200}, [
        (item["url"], item["status"]) for item in stylesheets + scripts]
    assert page.stylesheet_rules > 0
    # The files themselves (nginx's /static/) carry the strict policy: they are not pages.
    assert {item["headers"].get("Content-Security-Policy") for item in stylesheets + scripts} == {STRICT_POLICY}
    failed = [item for item in page.failures if not item.get("canceled")]
    assert failed == [], failed


def test_the_admin_login_page_gets_its_css_and_scripts(admin_release, browser):
    url = f"{admin_release.config.url}/admin/login/"
    page = browser.load(url)
    assert_rendered_with_everything_it_asked_for(page)


def test_the_admin_login_form_posts_to_itself(admin_release, browser):
    browser.load(f"{admin_release.config.url}/admin/login/")
    # Wrong credentials: Django answers the form again, with its error, styled as before.
    page = browser.submit("#login-form", {"username": "nobody", "password": "not-a-password"})
    assert_rendered_with_everything_it_asked_for(page)


@pytest.mark.parametrize("path", ["/api/events/", "/api/events/?format=api"])
def test_the_browsable_api_gets_its_css_and_scripts(admin_release, browser, path):
    # A browser's Accept header asks for text/html first: DRF answers with its browsable API.
    url = f"{admin_release.config.url}{path}"
    page = browser.load(url)
    assert_rendered_with_everything_it_asked_for(page)


def policies(instance, path: str, accept: str) -> tuple[str, list[str]]:
    request = urllib.request.Request(f"{instance.config.url}{path}", headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            headers = response.headers
    except urllib.error.HTTPError as error:
        headers = error.headers
    return headers.get_content_type(), headers.get_all("Content-Security-Policy")


@pytest.mark.parametrize(("path", "accept", "content_type", "policy"), [
    ("/api/events/", "application/json", "application/json", "strict"),
    ("/health/", "*/*", "application/json", "strict"),
    ("/api/events/999999999/", "application/json", "application/json", "strict"),
    ("/nginx-health", "*/*", "text/plain", "strict"),               # nginx's own answer
    ("/api/events/", "text/html", "text/html", "html"),
    ("/admin/login/", "text/html", "text/html", "html"),
    # The app's HTML error pages too: the browsable API shows a refused form (400) with its CSS.
    ("/no-such-path/", "text/html", "text/html", "html"),
])
def test_each_answer_carries_one_policy_for_its_content_type(admin_release, path, accept, content_type, policy):
    wanted = STRICT_POLICY if policy == "strict" else GROUP_DATA["content_security_policy_html"]
    assert policies(admin_release, path, accept) == (content_type, [wanted])

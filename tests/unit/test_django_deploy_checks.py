"""The example's production settings against Django's deployment checklist (`check --deploy`).

Each test runs Django in a subprocess (the project venv's python, as the example's own suite
runs) with only the environment a deploy gives the app: deploy/plans/release_plan.py's
ALLOWED_HOSTS, DB_* and APP_VERSION, plus the secrets `onehost instance` generates.
"""
import json
import os
import runpy
import subprocess
import sys
import textwrap

import pytest

from onehost.commands import release
from onehost.local.instance import write_app_env
from onehost.paths import REPO_ROOT

pytestmark = pytest.mark.unit

EXAMPLE = REPO_ROOT / "example"
GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
EXPECTED_SILENCED = {"security.W004", "security.W008"}  # HSTS and the HTTPS redirect: nginx's job


def deploy_env(tmp_path, server_names) -> dict[str, str]:
    """app.env as the deploy writes it (release_plan.plan_release), from a generated user env file."""
    user_file = tmp_path / "user.env"
    write_app_env(user_file)
    user_env = release.parse_env_file(user_file.read_text(), str(user_file))
    release.check_app_env(user_env, str(user_file))
    return {
        "ALLOWED_HOSTS": ",".join(server_names),
        "DB_HOST": "postgres", "DB_PORT": "5432",
        "DB_NAME": GROUP_DATA["db_name"], "DB_USER": GROUP_DATA["db_user"],
        "APP_VERSION": "v1",
        **user_env,
    }


def run_django(args, app_env, settings="timewarp.settings.prod"):
    """Run the venv's python in example/ with nothing from this process's environment but PATH."""
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1",
               "DJANGO_SETTINGS_MODULE": settings, **app_env}
    return subprocess.run([sys.executable, *args], cwd=EXAMPLE, env=environ,
                          capture_output=True, text=True, timeout=120)


def run_script(script, app_env):
    """Run `script` after django.setup(); it prints one JSON document, returned parsed."""
    code = "import json, django\ndjango.setup()\n" + textwrap.dedent(script)
    result = run_django(["-c", code], app_env)
    assert result.returncode == 0, f"script failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("server_names", [GROUP_DATA["server_names"], ["api.example.com", "www.example.com"]],
                         ids=["group-data-defaults", "public-names"])
def test_prod_settings_pass_deploy_checks(tmp_path, server_names):
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                        deploy_env(tmp_path, server_names))
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"check --deploy failed:\n{output}"
    assert "WARNINGS" not in output and "ERRORS" not in output, output
    assert "?: (security." not in output, output
    assert "System check identified no issues (2 silenced)." in output, output


def test_silenced_checks_are_exactly_hsts_and_ssl_redirect(tmp_path):
    """Exactly W004 and W008 are silenced, and they are the only warnings the silence hides.
    nginx does both instead: tests/host/test_tls.py::test_http_redirects_to_the_same_path_and_query_on_https
    and ::test_security_headers_and_hsts_on_https_answers."""
    found = run_script("""
        from django.conf import settings
        from django.core import checks
        silenced = list(settings.SILENCED_SYSTEM_CHECKS)
        settings.SILENCED_SYSTEM_CHECKS = []
        hidden = sorted(m.id for m in checks.run_checks(include_deployment_checks=True)
                        if m.level >= checks.WARNING)
        print(json.dumps({"silenced": silenced, "hidden": hidden,
                          "ssl_redirect": settings.SECURE_SSL_REDIRECT, "hsts": settings.SECURE_HSTS_SECONDS}))
    """, deploy_env(tmp_path, ["api.example.com"]))
    assert sorted(found["silenced"]) == sorted(EXPECTED_SILENCED)
    assert len(found["silenced"]) == len(EXPECTED_SILENCED)
    assert set(found["hidden"]) == EXPECTED_SILENCED
    # Django must not redirect: probes and the deploy's checks reach gunicorn over plain HTTP.
    assert found["ssl_redirect"] is False
    assert found["hsts"] == 0


def test_prod_security_settings(tmp_path):
    found = run_script("""
        from django.conf import settings as s
        names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER",
                 "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS", "SECURE_REFERRER_POLICY",
                 "CSRF_TRUSTED_ORIGINS", "DEBUG"]
        print(json.dumps({name: getattr(s, name) for name in names}))
    """, deploy_env(tmp_path, ["api.example.com", "www.example.com"]))
    assert found == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_CONTENT_TYPE_NOSNIFF": True, "X_FRAME_OPTIONS": "DENY",
        "SECURE_REFERRER_POLICY": "strict-origin-when-cross-origin",
        "CSRF_TRUSTED_ORIGINS": ["https://api.example.com", "https://www.example.com"],
        "DEBUG": False,
    }


@pytest.mark.parametrize("allowed_hosts, explicit, expected", [
    (".example.com,*,api.example.com,[::1]", None,
     ["https://*.example.com", "https://api.example.com", "https://[::1]"]),
    ("*", None, []),
    ("api.example.com", "https://app.example.com, https://api.example.com:8443",
     ["https://app.example.com", "https://api.example.com:8443"]),
], ids=["derived", "wildcard-trusts-nothing", "explicit"])
def test_csrf_trusted_origins(tmp_path, allowed_hosts, explicit, expected):
    app_env = {**deploy_env(tmp_path, []), "ALLOWED_HOSTS": allowed_hosts}
    if explicit:
        app_env["CSRF_TRUSTED_ORIGINS"] = explicit
    found = run_script("from django.conf import settings\nprint(json.dumps(settings.CSRF_TRUSTED_ORIGINS))",
                       app_env)
    assert found == expected


def test_plain_http_keeps_working_with_prod_settings(tmp_path):
    """Health probes (no proxy header), HTTP through nginx and HTTPS through nginx: no redirects,
    and the API takes a JSON POST without a CSRF token (DRF views are CSRF-exempt here)."""
    app_env = {
        "SECRET_KEY": deploy_env(tmp_path, [])["SECRET_KEY"],
        "ALLOWED_HOSTS": "api.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    found = run_script("""
        from django.core.management import call_command
        from django.test import Client
        call_command("migrate", verbosity=0)
        client = Client(enforce_csrf_checks=True)
        event = {"title": "Moon landing", "happened_at": "1969-07-20T20:17:00Z"}
        seen = {}
        # The image's HEALTHCHECK: urlopen('http://127.0.0.1:8000/health/'), no proxy headers.
        seen["health"] = client.get("/health/", headers={"host": "127.0.0.1:8000"}).status_code
        for proto in ("http", "https"):
            headers = {"host": "api.example.com", "x-forwarded-proto": proto}
            post = client.post("/api/events/", event, content_type="application/json", headers=headers)
            get = client.get("/api/events/", headers=headers)
            seen[proto] = {
                "post": post.status_code, "get": get.status_code, "location": get.get("Location"),
                "headers": [get.get("X-Frame-Options"), get.get("X-Content-Type-Options"),
                            get.get("Referrer-Policy")],
                "hsts": get.get("Strict-Transport-Security"),
            }
        print(json.dumps(seen))
    """, app_env)
    assert found["health"] == 200
    for proto in ("http", "https"):
        assert found[proto]["post"] == 201, (proto, found)
        assert found[proto]["get"] == 200 and found[proto]["location"] is None, (proto, found)
        assert found[proto]["headers"] == ["DENY", "nosniff", "strict-origin-when-cross-origin"], (proto, found)
        assert found[proto]["hsts"] is None, (proto, found)  # nginx's header, not Django's

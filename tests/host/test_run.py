"""`onehost run`, `shell` and `dbshell` against the test instance, called as a user calls them: the
console script in a subprocess (plain pipes) or in a pseudo-terminal (pexpect), with the
instance's environment. Each test ends with nothing of its runs left on the host: no one-off
container, no watcher, no psql session."""

import http.client
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pexpect
import pytest

from onehost.commands import one_off
from onehost.commands.live import NO_RELEASE_EXIT
from onehost.local.instance import wait_until
from onehost.local.shell import run
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY

# A variant of the test image with a session login (signed-cookie sessions, so no new tables
# and no migrations): the deploy under a run switches to it, and the superuser logs in with it.
LOGIN_IMAGE = f"{APP_REPOSITORY}:test-run-login"
LOGIN_FILES = {
    "login_settings.py": '''from .prod import *  # noqa: F403

MIDDLEWARE = [*MIDDLEWARE, "django.contrib.sessions.middleware.SessionMiddleware",  # noqa: F405
              "django.contrib.auth.middleware.AuthenticationMiddleware"]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
ROOT_URLCONF = "timewarp.login_urls"
LOGIN_REDIRECT_URL = "/accounts/whoami/"
''',
    "login_urls.py": '''from django.contrib.auth.views import LoginView
from django.http import JsonResponse
from django.urls import path

from timewarp.urls import urlpatterns as api


def whoami(request):
    return JsonResponse({"username": request.user.get_username(), "is_superuser": request.user.is_superuser})


urlpatterns = [*api, path("accounts/login/", LoginView.as_view()), path("accounts/whoami/", whoami)]
''',
    "login.html": '<form method="post">{% csrf_token %}{{ form }}</form>\n',
}
LOGIN_DOCKERFILE = f"""FROM {APP_IMAGE}
COPY login_settings.py /app/timewarp/settings/login.py
COPY login_urls.py /app/timewarp/login_urls.py
COPY login.html /app/events/templates/registration/login.html
ENV DJANGO_SETTINGS_MODULE=timewarp.settings.login
"""
NO_COMMAND = "error: no command given: put it after --, e.g. onehost run -- python manage.py migrate --check\n"
NO_RELEASE = ("error: {host} has no release yet: deploy one first "
              "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)\n")


@pytest.fixture(scope="module")
def onehost(instance_environ, deployed):
    """The console script, plain: stdin from /dev/null unless given."""
    def call(*arguments: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "onehost.cli", *arguments], env=instance_environ,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    return call


@pytest.fixture(scope="module")
def in_terminal(instance_environ, deployed):
    """The console script in a pseudo-terminal, as a person at a terminal runs it."""
    def spawn(*arguments: str) -> pexpect.spawn:
        return pexpect.spawn(sys.executable, ["-m", "onehost.cli", *arguments], env=instance_environ,
                             encoding="utf-8", timeout=60, dimensions=(24, 200))
    return spawn


def one_off_containers(instance) -> list[str]:
    """Every container of a run, running or not."""
    return instance.inner("docker", "ps", "--all", "--filter", f"name={one_off.RUN_PREFIX}",
                          "--format", "{{.Names}} {{.State}}").stdout.split("\n")[:-1]


def watchers(instance) -> str:
    # The [h] keeps the pattern from matching this sh's own command line.
    return instance.inner("sh", "-c", "pgrep -af 'onehost-watc[h]' || true").stdout.strip()


def psql_sessions(instance) -> str:
    return instance.psql("select count(*) from pg_stat_activity "
                         f"where application_name like '{one_off.DBSHELL_PREFIX}%'")


def psql_processes(instance) -> list[str]:
    """psql clients in the postgres container, seen from the host (`docker top` needs no ps inside)."""
    top = instance.inner("docker", "top", "data-postgres-1", "-o", "pid,args").stdout
    return [line for line in top.splitlines() if " psql " in f" {line.split(None, 1)[-1]} "]


@pytest.fixture
def leaves_nothing(test_instance):
    """After the test: no container of a run, no watcher, no psql session (a cleanup may take
    the watcher's second to notice)."""
    yield
    wait_until(lambda: not one_off_containers(test_instance) and not watchers(test_instance)
               and psql_sessions(test_instance) == "0" and not psql_processes(test_instance),
               "every one-off container, watcher and psql session to be gone", 20)


# --- plain: pipes and exit codes ---------------------------------------------------------------

def test_plain_run_passes_the_streams_and_the_exit_code(onehost, leaves_nothing):
    result = onehost("run", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert onehost("run", "--", "false").returncode == 1
    assert onehost("run", "--", "true").returncode == 0


def test_plain_run_reads_stdin_and_has_the_releases_environment(onehost, leaves_nothing):
    result = onehost("run", "--env", "GREETING=hello there", "--", "sh", "-c",
                     'read name; echo "$GREETING, $name; db $DB_HOST"', input="ada\n")
    assert (result.returncode, result.stdout) == (0, "hello there, ada; db postgres\n")


def test_plain_shell_runs_a_script_from_stdin(onehost, leaves_nothing):
    script = "from django.conf import settings\nprint(6 * 7, settings.DATABASES['default']['HOST'])\n"
    result = onehost("shell", input=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "42 postgres"


def test_plain_dbshell_runs_sql_from_stdin_and_stops_at_an_error(onehost, leaves_nothing):
    result = onehost("dbshell", "--", "--tuples-only", "--no-align", input="select current_user;\nselect 6 * 7;\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "timewarp\n42\n", "")
    failed = onehost("dbshell", input="select nonsense;\nselect 'not reached';\n")
    assert failed.returncode == 3 and "not reached" not in failed.stdout
    assert 'ERROR:  column "nonsense" does not exist' in failed.stderr


# --- interactive: a pseudo-terminal ------------------------------------------------------------

def test_interactive_run_answers_a_prompt(in_terminal, leaves_nothing):
    session = in_terminal("run", "--", "python", "-c", "print(input('name? ').upper())")
    session.expect_exact("name? ")
    session.sendline("ada")
    session.expect_exact("ADA")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0


def test_interactive_shell_is_a_django_prompt(in_terminal, leaves_nothing):
    session = in_terminal("shell")
    session.expect_exact(">>> ")
    session.sendline("from django.conf import settings; print(settings.ROOT_URLCONF.upper())")
    session.expect_exact("TIMEWARP.")
    session.sendline("exit()")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0


def test_interactive_dbshell_is_a_psql_prompt(in_terminal, leaves_nothing):
    session = in_terminal("dbshell")
    session.expect_exact("timewarp=#")
    session.sendline("select 6 * 7 as answer;")
    session.expect(r"answer\s+-+\s+42")
    session.sendline("\\q")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0


# --- a killed client leaves nothing ------------------------------------------------------------

def running_one_off(instance) -> str:
    return wait_until(lambda: next((line.split()[0] for line in one_off_containers(instance)
                                    if line.endswith(" running")), None), "the one-off container to run", 60)


def test_a_killed_plain_client_leaves_no_container(instance_environ, test_instance, deployed, leaves_nothing):
    client = subprocess.Popen([sys.executable, "-m", "onehost.cli", "run", "--", "sleep", "600"],
                              env=instance_environ, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    running_one_off(test_instance)
    client.kill()   # SIGKILL: the process had become the ssh client
    client.wait(timeout=30)
    wait_until(lambda: not one_off_containers(test_instance), "the one-off container to be removed", 20)


def test_a_killed_terminal_client_leaves_no_container(in_terminal, test_instance, leaves_nothing):
    session = in_terminal("run", "--", "sh", "-c", "echo ready; sleep 600")
    session.expect_exact("ready")
    running_one_off(test_instance)
    session.kill(9)
    session.close(force=True)
    wait_until(lambda: not one_off_containers(test_instance), "the one-off container to be removed", 20)


def test_a_killed_dbshell_ends_its_query(instance_environ, test_instance, deployed, leaves_nothing):
    client = subprocess.Popen([sys.executable, "-m", "onehost.cli", "dbshell"], env=instance_environ,
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    client.stdin.write(b"select pg_sleep(600);\n")
    client.stdin.flush()
    wait_until(lambda: psql_sessions(test_instance) == "1", "the dbshell's query to run", 30)
    client.kill()
    client.wait(timeout=30)
    wait_until(lambda: psql_sessions(test_instance) == "0" and not psql_processes(test_instance),
               "the psql session to end", 20)


# --- the deploy lock ----------------------------------------------------------------------------

def lock_owner(instance) -> dict | None:
    result = instance.inner("cat", "/data/deploy.lock/owner.json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def test_lock_is_held_for_the_run_and_released_after(instance_environ, test_instance, deployed, leaves_nothing):
    client = subprocess.Popen([sys.executable, "-m", "onehost.cli", "run", "--lock", "--", "sh", "-c",
                               'read line; echo "got $line"'], env=instance_environ, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        owner = wait_until(lambda: lock_owner(test_instance), "the run to take the deploy lock", 30)
        assert owner["pid"] == client.pid
        out, err = client.communicate("done\n", timeout=60)
    finally:
        client.kill()
    assert (client.returncode, out) == (0, "got done\n"), err
    assert lock_owner(test_instance) is None


def test_lock_held_by_a_deploy_refuses_the_run(onehost, test_instance, leaves_nothing):
    test_instance.inner("sh", "-c", "mkdir /data/deploy.lock && echo '{\"who\": \"alice\", \"from\": "
                                    "\"laptop\", \"pid\": 4, \"started_at\": \"now\"}' > /data/deploy.lock/owner.json")
    try:
        refused = onehost("run", "--lock", "--", "true")
    finally:
        test_instance.inner("rm", "-rf", "/data/deploy.lock")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: another deploy holds /data/deploy.lock: alice from laptop (pid 4")
    assert refused.stderr.count("\n") == 1
    assert onehost("run", "--", "true").returncode == 0   # without --lock the lock is not its business


# --- bad inputs: one line, nothing on the host -------------------------------------------------

@pytest.mark.parametrize("arguments, code, message", [
    (["run"], 1, NO_COMMAND),
    (["run", "--"], 1, NO_COMMAND),
    (["run", "--host", "web-9", "--", "true"], 1,
     "error: no host named 'web-9' in the inventory (its hosts: {host}); give one of those to --host, "
     "or leave --host out\n"),
    (["run", "--data-dir", "/data/no-such", "--", "true"], NO_RELEASE_EXIT, NO_RELEASE),
    (["run", "--lock", "--data-dir", "/data/no-such", "--", "true"], NO_RELEASE_EXIT, NO_RELEASE),
    (["shell", "--data-dir", "/data/no-such"], NO_RELEASE_EXIT, NO_RELEASE),
    (["dbshell", "--data-dir", "/data/no-such"], NO_RELEASE_EXIT, NO_RELEASE),
], ids=["no-command", "nothing-after-dashes", "unknown-host", "no-release", "no-release-lock",
        "shell-no-release", "dbshell-no-release"])
def test_bad_inputs_are_one_line_and_touch_nothing(onehost, test_instance, leaves_nothing, arguments, code, message):
    result = onehost(*arguments)
    assert (result.returncode, result.stdout, result.stderr) == (
        code, "", message.format(host=test_instance.config.name))
    assert test_instance.inner("test", "-e", "/data/no-such", check=False).returncode != 0
    assert lock_owner(test_instance) is None


# --- a run during a deploy; the superuser it creates logs in ----------------------------------------

@dataclass
class RunUnderDeploy:
    deploy_seconds: float
    deploy_ended_first: bool          # the run was still going when the deploy returned
    colour_before: str
    colour_after: str
    run: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def run_under_deploy(deployer, test_instance, deployed, instance_environ, tmp_path_factory):
    """A run that waits for a file, a deploy of the login variant meanwhile (a colour switch),
    then the file: the run ends after the deploy, on its own terms. The session's release is
    deployed again at the end."""
    context = tmp_path_factory.mktemp("login-image")
    for name, text in LOGIN_FILES.items():
        (context / name).write_text(text)
    (context / "Dockerfile").write_text(LOGIN_DOCKERFILE)
    run(["docker", "build", "--quiet", "--tag", LOGIN_IMAGE, str(context)], capture=True,
        env={**instance_environ, "DOCKER_BUILDKIT": "0"})   # legacy builder: no BuildKit here

    client = subprocess.Popen(
        [sys.executable, "-m", "onehost.cli", "run", "--", "sh", "-c",
         "echo started; until [ -e /tmp/finish ]; do sleep 0.2; done; echo finished"],
        env=instance_environ, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        name = running_one_off(test_instance)
        colour_before = test_instance.live_container()
        started = time.monotonic()
        deployer.run({"image": LOGIN_IMAGE})
        deploy_seconds = time.monotonic() - started
        deploy_ended_first = client.poll() is None
        colour_after = test_instance.live_container()
        finish = test_instance.inner("docker", "exec", name, "touch", "/tmp/finish", check=False)
        out, err = client.communicate(timeout=60)
        assert finish.returncode == 0, f"the run ended early ({client.returncode}): {out}{err}"
        yield RunUnderDeploy(deploy_seconds, deploy_ended_first, colour_before, colour_after,
                             subprocess.CompletedProcess(client.args, client.returncode, out, err))
    finally:
        client.kill()
        status, body = test_instance.get("/health/")
        if status != 200 or body.get("version") != "test-v1":
            deployer.run({"image": APP_IMAGE})   # the rest of the session expects test-v1 live
            test_instance.wait_for_health()


def test_a_run_outlives_a_deploy_that_switches_colours(run_under_deploy, test_instance, leaves_nothing):
    assert run_under_deploy.colour_before != run_under_deploy.colour_after
    assert run_under_deploy.deploy_ended_first, \
        f"the deploy ({run_under_deploy.deploy_seconds:.0f} s) waited for the run"
    assert (run_under_deploy.run.returncode, run_under_deploy.run.stdout) == (0, "started\nfinished\n"), \
        run_under_deploy.run.stderr
    assert test_instance.get("/health/")[1]["version"] == "test-run-login"


class Browser:
    """Cookies and a CSRF token by hand: the app marks its cookies Secure, and the test instance
    answers plain HTTP (http.cookiejar would not send them back)."""

    def __init__(self, url: str):
        self.address = urllib.parse.urlsplit(url).netloc
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        connection = http.client.HTTPConnection(self.address, timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        for header in response.headers.get_all("Set-Cookie") or ():
            self.cookies.update({name: morsel.value for name, morsel in SimpleCookie(header).items()})
        text = response.read().decode()
        connection.close()
        return response.status, dict(response.headers), text

    def log_in(self, username: str, password: str) -> tuple[int, dict, str]:
        status, _, page = self.request("GET", "/accounts/login/")
        assert status == 200, page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request("POST", "/accounts/login/",
                            {"csrfmiddlewaretoken": token, "username": username, "password": password})


def test_createsuperuser_then_a_session_login_through_nginx(run_under_deploy, onehost, test_instance, leaves_nothing):
    username, password = f"ada-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    created = onehost("run", "--env", f"DJANGO_SUPERUSER_USERNAME={username}",
                      "--env", f"DJANGO_SUPERUSER_PASSWORD={password}",
                      "--env", "DJANGO_SUPERUSER_EMAIL=ada@example.com",
                      "--", "python", "manage.py", "createsuperuser", "--noinput")
    assert (created.returncode, created.stdout) == (0, "Superuser created successfully.\n"), created.stderr

    wrong = Browser(test_instance.config.url)
    assert wrong.log_in(username, "not-the-password")[0] == 200   # the form again, no session

    browser = Browser(test_instance.config.url)
    status, headers, _ = browser.log_in(username, password)
    assert (status, headers["Location"]) == (302, "/accounts/whoami/")
    status, _, body = browser.request("GET", "/accounts/whoami/")
    assert (status, json.loads(body)) == (200, {"username": username, "is_superuser": True})

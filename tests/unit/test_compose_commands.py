from onehost.commands import compose_commands as commands


def test_up_waits_for_health():
    assert commands.up("app", "/data/releases/r/compose.yaml", "/data/releases/r/release.env", 90) == [
        "docker", "compose", "--project-name", "app", "--file", "/data/releases/r/compose.yaml",
        "--env-file", "/data/releases/r/release.env",
        "up", "--detach", "--wait", "--wait-timeout", "90", "--remove-orphans"]


def test_run_once_is_a_removed_one_off_without_dependencies():
    assert commands.run_once("app", "c.yaml", None, "app", "python", "manage.py", "migrate") == [
        "docker", "compose", "--project-name", "app", "--file", "c.yaml",
        "run", "--rm", "--no-deps", "app", "python", "manage.py", "migrate"]


def test_reload_checks_configuration_first():
    assert commands.reload_nginx("edge", "e.yaml", "s.env") == [
        "docker", "compose", "--project-name", "edge", "--file", "e.yaml", "--env-file", "s.env",
        "exec", "-T", "nginx", "sh", "-c", "nginx -t -q && nginx -s reload"]


def test_health_check_retries_every_second():
    assert commands.health_check("http://127.0.0.1/health/", "localhost", 30) == [
        "curl", "--fail", "--silent", "--show-error", "--max-time", "5", "--retry", "30",
        "--retry-delay", "1", "--retry-all-errors", "--header", "Host: localhost",
        "http://127.0.0.1/health/"]


def test_load_image_tags_by_id_and_keeps_the_archive():
    assert commands.load_image("/data/images/ab.tar", "sha256:ab", "timewarp:id-ab") == [
        "sh", "-c", "docker load --quiet --input /data/images/ab.tar && docker tag sha256:ab timewarp:id-ab"]


def test_shell_quotes_arguments():
    assert commands.shell(["echo", "a b", "it's"]) == "echo 'a b' 'it'\"'\"'s'"


def test_copy_from_image_runs_nothing_in_the_image():
    assert commands.copy_from_image("timewarp@sha256:abc", "/app/staticfiles", "/data/static") == [
        "sh", "-c",
        'set -e; id=$(docker create "$1"); trap \'docker rm "$id" >/dev/null\' EXIT; '
        'mkdir -p "$3"; docker cp "$id:$2/." "$3/"',
        "copy-from-image", "timewarp@sha256:abc", "/app/staticfiles", "/data/static"]

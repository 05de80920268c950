"""Uploads, by behaviour through the real stack: a file posted to the example app's /api/uploads/
is saved in /data/media and served by nginx at the URL the app answers, as a download that never
runs as the site; it survives a new release and a restart of the host; the SQLite move brings a
project's media files in, checked, and refuses to overwrite one.

Every test makes its own names (a random part), so they pass alone and in any order; the module
leaves the release it found live.
"""

import json
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from onehost.local.instance import wait_until
from onehost.local.shell import run
from tests.host.conftest import APP_IMAGE, APP_REPOSITORY
from tests.host.test_sqlite_import import DATA_TABLES, EVENT_ROWS, EVENTS, run_import, sqlite_file  # noqa: F401

SANDBOX = "default-src 'none'; sandbox"
APP_USER = "10001:10001"   # example/Dockerfile: USER 10001:10001
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def upload(instance, name: str, content: bytes) -> tuple[int, dict | str]:
    """POST `content` as the multipart field `file` named `name`, as a browser form would."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{instance.config.url}/api/uploads/", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def fetch(instance, path: str):
    """(status, headers, body) of a GET through nginx."""
    try:
        with urllib.request.urlopen(f"{instance.config.url}{path}", timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def uploaded(instance, suffix: str, content: bytes) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}{suffix}"
    status, answer = upload(instance, name, content)
    assert status == 201, answer
    assert answer["url"] == f"/media/{answer['name']}"
    return answer["url"]


@pytest.fixture(scope="module")
def live_release(test_instance, deployed):
    current = test_instance.readlink("/data/releases/current")
    yield current
    assert test_instance.readlink("/data/releases/current") == current


def test_an_uploaded_image_is_served_by_nginx_from_the_data_volume(test_instance, live_release):
    url = uploaded(test_instance, ".png", PNG)
    status, headers, body = fetch(test_instance, url)
    assert status == 200 and body == PNG
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert SANDBOX in headers.get_all("Content-Security-Policy")
    assert headers["Content-Disposition"] is None          # an image is shown inline
    # On the host's data volume, the app image's user's, outside every release directory.
    owner = test_instance.inner("stat", "-c", "%u:%g", f"/data{url}").stdout.strip()
    assert owner == APP_USER


@pytest.mark.parametrize("suffix, content", [
    (".html", b"<html><body><script>document.title = 'ran'</script></body></html>"),
    (".svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    (".xml", b"<?xml version='1.0'?><x/>"),
], ids=["html", "svg", "xml"])
def test_an_uploaded_page_is_a_sandboxed_download_not_active_content(test_instance, live_release, suffix,
                                                                     content):
    status, headers, body = fetch(test_instance, uploaded(test_instance, suffix, content))
    assert status == 200 and body == content
    assert headers["Content-Disposition"] == "attachment"
    assert SANDBOX in headers.get_all("Content-Security-Policy")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"               # the site's security headers stay


def test_no_directory_is_listed(test_instance, live_release):
    uploaded(test_instance, ".png", PNG)
    for path in ("/media/", "/media/uploads/"):
        status, _, body = fetch(test_instance, path)
        assert status == 403, (path, body[:200])


def test_media_is_not_rate_limited_like_the_app(test_instance, live_release, deployed):
    """More requests at once than the app's limit lets through (api_rate_limit_burst, 40): all 200."""
    url = uploaded(test_instance, ".png", PNG)
    statuses = [fetch(test_instance, url)[0] for _ in range(80)]
    assert statuses == [200] * 80


def test_uploads_survive_a_new_release_and_a_restart_of_the_host(deployer, test_instance, live_release):
    url = uploaded(test_instance, ".png", PNG)
    other = f"{APP_REPOSITORY}:test-media"
    run(["docker", "tag", APP_IMAGE, other], capture=True)
    try:
        deployer.run({"image": other})
        assert test_instance.get("/health/")[1]["version"] == "test-media"
        status, _, body = fetch(test_instance, url)
        assert status == 200 and body == PNG
        # The new release's app writes there too.
        after_deploy = uploaded(test_instance, ".png", PNG[::-1])

        subprocess.run(["docker", "restart", "--time", "30", test_instance.config.name],
                       capture_output=True, check=True, timeout=120)
        test_instance.wait_for_health(timeout=180)
        wait_until(lambda: fetch(test_instance, url)[0] == 200, f"{url} after the restart", 60)
        assert fetch(test_instance, url)[2] == PNG
        assert fetch(test_instance, after_deploy)[2] == PNG[::-1]
    finally:
        deployer.run({"image": APP_IMAGE})
        test_instance.wait_for_health()
        run(["docker", "image", "rm", other], capture=True, check=False)
    assert fetch(test_instance, url)[2] == PNG


# --- the SQLite move with the project's media files --------------------------------------------

def project_media(root, folder: str) -> dict[str, bytes]:
    files = {f"{folder}/logo.png": PNG, f"{folder}/docs/read me.txt": "Grüße\n".encode()}
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return files


@pytest.fixture
def empty_target(test_instance, live_release):
    test_instance.psql(f"TRUNCATE {', '.join(DATA_TABLES)} CASCADE")


def test_the_sqlite_move_brings_the_media_files_and_verifies_them(deployer, test_instance, empty_target,
                                                                  sqlite_file, tmp_path):  # noqa: F811
    folder = f"imported-{uuid.uuid4().hex[:8]}"
    files = project_media(tmp_path / "media", folder)
    code, output = run_import(deployer, sqlite_file, media=str(tmp_path / "media"))
    assert code == 0, output[-4000:]
    assert "media: 2 file(s) from" in output
    assert "media verified: 2 of 2 file(s) in /data/media, SHA-256 equal to the project's" in output
    assert test_instance.psql(EVENT_ROWS).splitlines() == [f"{i}|{title}" for i, title, _ in EVENTS]
    for name, content in files.items():
        status, _, body = fetch(test_instance, "/media/" + urllib.request.quote(name))
        assert status == 200 and body == content, name
        assert test_instance.inner("stat", "-c", "%u:%g", f"/data/media/{name}").stdout.strip() == APP_USER


def test_a_media_file_that_would_overwrite_another_refuses_the_import(deployer, test_instance, empty_target,
                                                                     sqlite_file, tmp_path):  # noqa: F811
    folder = f"clash-{uuid.uuid4().hex[:8]}"
    project_media(tmp_path / "media", folder)
    test_instance.inner("sh", "-c", f"mkdir -p /data/media/{folder} && printf 'the site' > "
                                    f"/data/media/{folder}/logo.png")
    code, output = run_import(deployer, sqlite_file, media=str(tmp_path / "media"))
    assert code != 0
    assert (f"1 media file(s) already on the host in /data/media have the same name and other content: "
            f"{folder}/logo.png. Nothing was overwritten") in output
    assert test_instance.inner("cat", f"/data/media/{folder}/logo.png").stdout == "the site"
    assert test_instance.inner("test", "-e", f"/data/media/{folder}/docs", check=False).returncode != 0
    assert test_instance.psql(EVENT_ROWS) == ""             # no row imported either

"""Uploads (MEDIA_ROOT): the deploy's command that gives <data_dir>/media to the image's user, the
checksums the SQLite move compares, the import's media steps against a fake host, nginx's /media/
location and the production settings' defaults.

The shell commands are also run here, on real directories with a stand-in `docker`, so what they do
(ownership, what is kept) is checked and not only how they are spelled.
"""

import os
import stat
import subprocess

import pytest

from onehost.commands import media
from onehost.commands.media import MediaUpload
from onehost.commands.sqlite_import import ImportRefused, VerificationFailed
from tests import projects
from tests.unit.test_edge_config import locations, render
from tests.unit.test_init import main, settings_in
from tests.unit.test_sqlite_import import FakeHost, importer

pytestmark = pytest.mark.unit

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")


# --- the deploy's step: the directory belongs to the image's user ------------------------------

def test_the_media_directory_is_on_the_data_volume():
    assert media.media_dir("/data") == "/data/media"
    assert media.media_dir("/srv/data") == "/srv/data/media"


def test_the_image_is_asked_for_its_user_and_the_directory_given_to_it():
    assert media.give_to_image_user("/data/media", "timewarp@sha256:ab", "/data/releases/r1/media-owned") == [
        "sh", "-c",
        'set -e; owner=$5; [ -n "$owner" ] || '
        'owner=$(docker run --rm --network none --entrypoint python3 "$2" -c "$4" | tail -n 1); '
        'case "$owner" in *[!0-9:]*|"") echo "could not read the user image $2 runs as '
        '(python3 -c in it printed: $owner)" >&2; exit 1;; esac; '
        'mkdir -p "$1"; chmod 755 "$1"; uid=${owner%%:*}; gid=${owner##*:}; '
        'find "$1" \\( ! -user "$uid" -o ! -group "$gid" \\) -exec chown -h "$owner" {} +; '
        'echo "$owner" > "$3"; echo "$1 belongs to $owner, the user image $2 runs as"',
        "give-media-dir", "/data/media", "timewarp@sha256:ab", "/data/releases/r1/media-owned",
        "import os; print(f'{os.getuid()}:{os.getgid()}')", ""]


@pytest.mark.parametrize(("config_user", "owner"), [
    ("10001:10001", "10001:10001"), ("", "0:0"), ("app", None), ("10001", None), ("app:app", None),
    (None, None)])
def test_only_a_numeric_user_and_group_need_not_ask_the_image(config_user, owner):
    assert media.numeric_owner(config_user) == owner


def stand_in_docker(bin_dir, printed: str) -> dict:
    """A `docker` that prints `printed` for `docker run` and records its arguments."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "docker"
    script.write_text(f'#!/bin/sh\necho "$@" > "{bin_dir}/args"\necho "{printed}"\n')
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@AS_ROOT
def test_the_directory_and_what_is_in_it_go_to_the_user_the_image_runs_as(tmp_path):
    target, marker = tmp_path / "data" / "media", tmp_path / "media-owned"
    (target / "uploads").mkdir(parents=True)
    (target / "uploads" / "old.png").write_bytes(b"png")
    environ = stand_in_docker(tmp_path / "bin", "4242:4243")
    result = subprocess.run(media.give_to_image_user(str(target), "app:v2", str(marker)), env=environ,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for path in (target, target / "uploads", target / "uploads" / "old.png"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4243), path
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert marker.read_text() == "4242:4243\n"
    assert (tmp_path / "bin" / "args").read_text().split()[:8] == [
        "run", "--rm", "--network", "none", "--entrypoint", "python3", "app:v2", "-c"]


@AS_ROOT
def test_a_known_owner_is_given_the_directory_without_running_the_image(tmp_path):
    target, marker = tmp_path / "media", tmp_path / "media-owned"
    environ = stand_in_docker(tmp_path / "bin", "0:0")
    result = subprocess.run(media.give_to_image_user(str(target), "app:v2", str(marker), "4242:4243"),
                            env=environ, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (target.stat().st_uid, target.stat().st_gid) == (4242, 4243)
    assert marker.read_text() == "4242:4243\n"
    assert not (tmp_path / "bin" / "args").exists()


@AS_ROOT
def test_an_image_that_cannot_say_its_user_stops_the_deploy_and_changes_nothing(tmp_path):
    target, marker = tmp_path / "media", tmp_path / "media-owned"
    environ = stand_in_docker(tmp_path / "bin", "exec: python3: not found")
    result = subprocess.run(media.give_to_image_user(str(target), "app:v2", str(marker)), env=environ,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "could not read the user image app:v2 runs as (python3 -c in it printed: exec: python3: not found)" \
        in result.stderr
    assert not target.exists() and not marker.exists()


@AS_ROOT
def test_only_what_is_not_the_owners_yet_is_changed(tmp_path):
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "b.png").write_bytes(b"b")
    os.chown(tmp_path / "a.png", 4242, 4243)
    before = (tmp_path / "a.png").stat().st_ctime_ns
    assert media.own_tree(str(tmp_path), "4242:4243") == [
        "sh", "-c", 'uid=${2%%:*}; gid=${2##*:}; '
        'find "$1" \\( ! -user "$uid" -o ! -group "$gid" \\) -exec chown -h "$2" {} +',
        "own-tree", str(tmp_path), "4242:4243"]
    subprocess.run(media.own_tree(str(tmp_path), "4242:4243"), check=True, timeout=30)
    assert (tmp_path / "b.png").stat().st_uid == 4242
    assert (tmp_path / "a.png").stat().st_ctime_ns == before     # untouched


# --- checksums ------------------------------------------------------------------------------

def project_media(root):
    files = {"logo.png": b"\x89PNG", "uploads/report 2024.pdf": b"%PDF-1.7", "uploads/é/notes.txt": b"hi\n",
             "odd\nname.txt": b"newline in the name", "back\\slash.txt": b"backslash"}
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return files


def test_the_hosts_checksums_read_as_this_machines(tmp_path):
    files = project_media(tmp_path)
    (tmp_path / "link.png").symlink_to(tmp_path / "logo.png")      # not followed, not listed
    assert media.manifest_command("/data/media") == [
        "sh", "-c", 'cd "$1" 2>/dev/null || exit 0; find . -type f -print0 | xargs -0 -r sha256sum --',
        "media-manifest", "/data/media"]
    output = subprocess.run(media.manifest_command(str(tmp_path)), capture_output=True, text=True,
                            check=True, timeout=30).stdout
    local = media.local_manifest(tmp_path)
    assert sorted(local) == sorted(files)
    assert media.parse_manifest(output) == local
    assert media.local_manifest(tmp_path)["logo.png"] == media.sha256_file(tmp_path / "logo.png")


def test_a_missing_directory_has_no_files():
    output = subprocess.run(media.manifest_command("/nonexistent/media"), capture_output=True, text=True,
                            check=True, timeout=30).stdout
    assert media.parse_manifest(output) == {}


def test_same_name_other_content_is_a_conflict_and_the_rest_is_not():
    project = {"a.png": "1" * 64, "b.png": "2" * 64, "c.png": "3" * 64}
    on_host = {"a.png": "1" * 64, "b.png": "f" * 64, "site-upload.png": "4" * 64}
    assert media.conflicts(project, on_host) == ["b.png"]
    message = media.conflict_message(["b.png"], "/data/media")
    assert message.startswith("1 media file(s) already on the host in /data/media have the same name and "
                              "other content: b.png. Nothing was overwritten")


def test_the_comparison_counts_and_names_missing_and_different_files():
    project = {"a.png": "1" * 64, "b.png": "2" * 64, "c.png": "3" * 64}
    comparison = media.compare_manifests(project, {"a.png": "1" * 64, "b.png": "f" * 64, "x.png": "9" * 64})
    assert comparison == media.MediaComparison(3, 1, ("c.png",), ("b.png",))
    assert not comparison.intact
    assert media.verification_message(comparison, "/data/media") == (
        "MEDIA VERIFICATION FAILED: 1 of 3 media file(s) are in /data/media as in the project's directory; "
        "1 missing: c.png; 1 with other content (SHA-256): b.png. Import again to copy them (files already "
        "there with the same content are kept)")
    assert media.compare_manifests(project, {**project, "x.png": "9" * 64}).intact


def test_the_media_directory_must_exist_when_given(tmp_path):
    assert media.check_media_dir(None) is None
    assert media.check_media_dir(str(tmp_path)) == tmp_path
    with pytest.raises(media.MediaRefused, match="does not exist or is not a directory: give the project's "
                                                 "MEDIA_ROOT with --data media=PATH"):
        media.check_media_dir(str(tmp_path / "nope"))


def test_unpacking_adds_the_projects_files_and_keeps_what_is_there(tmp_path):
    source, target = tmp_path / "project", tmp_path / "host"
    source.mkdir()
    files = project_media(source)
    archive = tmp_path / "media.tar"
    media.write_archive(source, media.local_manifest(source), archive)
    (target / "uploads").mkdir(parents=True)
    (target / "logo.png").write_bytes(files["logo.png"])           # the same file, already there
    (target / "site.png").write_bytes(b"uploaded on the site")
    (target / "uploads").chmod(0o750)
    assert media.extract_archive("/data/imports/x/media.tar", "/data/media") == [
        "tar", "--extract", "--file", "/data/imports/x/media.tar", "--directory", "/data/media",
        "--skip-old-files", "--no-same-owner"]
    subprocess.run(media.extract_archive(str(archive), str(target)), check=True, timeout=30)
    assert media.compare_manifests(media.local_manifest(source), media.local_manifest(target)).intact
    assert (target / "site.png").read_bytes() == b"uploaded on the site"
    assert stat.S_IMODE((target / "uploads").stat().st_mode) == 0o750        # kept as it was
    assert stat.S_IMODE((target / "uploads" / "é" / "notes.txt").stat().st_mode) == 0o644


# --- the SQLite move with media files, against a fake host ------------------------------------

PROJECT = {"logo.png": "1" * 64, "uploads/a.pdf": "2" * 64}
UPLOAD = MediaUpload(source="./media", local_archive="/tmp/m/media.tar",
                     archive="/data/imports/db-0123456789ab/media.tar", target="/data/media",
                     files=tuple(sorted(PROJECT.items())))


class MediaHost(FakeHost):
    """The fake host of the SQLite tests, with a media directory: `before` until the archive is
    unpacked, `after` from then on."""

    def __init__(self, before: dict, after: dict, **options):
        super().__init__(**options)
        self.before, self.after = before, after

    def __call__(self, command):
        answer = super().__call__(command)
        if self.kinds[-1] == "media-manifest":
            files = self.after if "tar" in self.kinds else self.before
            return True, "".join(f"{digest}  ./{name}\n" for name, digest in files.items())
        return answer


def test_the_media_files_are_checked_first_and_moved_after_the_rows_verify():
    fake = MediaHost(before={"site.png": "9" * 64}, after={**PROJECT, "site.png": "9" * 64})
    run, lines = importer(fake, media=UPLOAD)
    run.execute()
    assert fake.kinds == ["uid", "chown", "acquire-lock", "media-manifest", "inspect", "pg_dump", "import",
                          "verify", "mkdir", "tar", "own-tree", "media-manifest", "release-lock"]
    assert "media: 2 file(s) from ./media, none clashing with /data/media" in lines
    assert "media: unpacked into /data/media, given to 10001:10001" in lines
    assert "media verified: 2 of 2 file(s) in /data/media, SHA-256 equal to the project's" in lines


def test_a_file_of_the_same_name_with_other_content_refuses_the_import_before_anything_changes():
    fake = MediaHost(before={"logo.png": "f" * 64}, after={})
    run, lines = importer(fake, media=UPLOAD)
    with pytest.raises(ImportRefused, match=r"have the same name and other content: logo.png\. Nothing was "
                                            r"overwritten and nothing imported"):
        run.execute()
    assert fake.kinds == ["uid", "chown", "acquire-lock", "media-manifest", "rm-staging", "release-lock"]


def test_files_that_do_not_arrive_whole_fail_the_import_naming_them():
    fake = MediaHost(before={}, after={"logo.png": "1" * 64, "uploads/a.pdf": "0" * 64})
    with pytest.raises(VerificationFailed, match=r"MEDIA VERIFICATION FAILED: 1 of 2 media file\(s\) .*"
                                                 r"1 with other content \(SHA-256\): uploads/a.pdf"):
        importer(fake, media=UPLOAD)[0].execute()
    assert fake.kinds[-1] == "release-lock"


def test_verify_only_compares_the_media_files_and_moves_none():
    fake = MediaHost(before={"logo.png": "1" * 64}, after={})
    with pytest.raises(VerificationFailed, match="1 missing: uploads/a.pdf"):
        importer(fake, media=UPLOAD, verify_only=True)[0].execute()
    assert "tar" not in fake.kinds and "acquire-lock" not in fake.kinds


# --- nginx and the app's settings ------------------------------------------------------------

@pytest.mark.parametrize("tls_on", [True, False])
def test_nginx_serves_media_itself_without_the_rate_limit_or_a_listing(tls_on):
    block = locations(render("app-locations.inc", tls_on))["/media/"]
    assert "root /srv;" in block.splitlines() and "autoindex off;" in block.splitlines()
    assert "proxy.inc" not in block and "limit_req" not in block and "proxy_pass" not in block


def test_the_generated_production_settings_put_uploads_in_the_mounted_directory(tmp_path):
    root = projects.startproject(tmp_path / "project")
    assert main(["init", str(root)]) == 0
    code = "print(json.dumps([str(settings.MEDIA_ROOT), settings.MEDIA_URL]))"
    assert settings_in(root, "shop.settings_production", code) == [media.APP_MEDIA_ROOT, media.MEDIA_URL]
    assert settings_in(root, "shop.settings_production", code, {"MEDIA_ROOT": "/srv/up", "MEDIA_URL": "/up/"}) \
        == ["/srv/up", "/up/"]


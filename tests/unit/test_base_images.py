"""Base image recipes become exact command lines; their references follow their inputs."""

import argparse
from pathlib import Path

import pytest

from onehost.cli import base_images as base_images_command
from onehost.local import base_images
from onehost.local.base_images import FileCopy, Recipe
from onehost.local.content_hash import files_under
from onehost.local.shell import CommandFailed

pytestmark = pytest.mark.unit

COMMON_OPTIONS = [
    '--aptopt=APT::Install-Recommends "false"',
    '--aptopt=APT::Install-Suggests "false"',
    '--aptopt=Acquire::Languages "none"',
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/lintian/*",
]
CLEANUP = [
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old',
    '--customize-hook=rm -f "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/log/alternatives.log',
    '--customize-hook=: > "$1/etc/resolv.conf"',
    '--customize-hook=echo localhost > "$1/etc/hostname"',
]


def sample_recipe(**overrides) -> Recipe:
    fields = dict(
        name="sample",
        stands_in_for="sample:1",
        packages=("zsh", "bash", "ca-certificates", "bash"),
        setup_hooks=('echo setup > "$1/setup"',),
        customize_hooks=('touch "$1/done"',),
        files=(FileCopy("entry.sh", "/usr/local/bin/entry.sh", "0755"),),
        changes=("ENV LANG=C.UTF-8", 'CMD ["bash"]'),
    )
    fields.update(overrides)
    return Recipe(**fields)


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "entry.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    (tmp_path / "sample" / "conf").mkdir()
    (tmp_path / "sample" / "conf" / "a.conf").write_text("a = 1\n")
    return tmp_path


def test_mmdebstrap_command_is_exact(images_dir):
    assert base_images.mmdebstrap_command(sample_recipe(), images_dir) == [
        "mmdebstrap", "--variant=minbase", "--format=tar",
        "--include=bash,ca-certificates,zsh",
        *COMMON_OPTIONS,
        '--setup-hook=echo setup > "$1/setup"',
        f"--customize-hook=upload {images_dir}/sample/entry.sh /usr/local/bin/entry.sh",
        '--customize-hook=chmod 0755 "$1/usr/local/bin/entry.sh"',
        '--customize-hook=touch "$1/done"',
        *CLEANUP,
        "trixie", "-",
    ]


def test_mmdebstrap_command_without_hooks_or_files(images_dir):
    recipe = sample_recipe(setup_hooks=(), customize_hooks=(), files=(), suite="bookworm")
    assert base_images.mmdebstrap_command(recipe, images_dir) == [
        "mmdebstrap", "--variant=minbase", "--format=tar",
        "--include=bash,ca-certificates,zsh",
        *COMMON_OPTIONS, *CLEANUP, "bookworm", "-",
    ]


def test_import_command_is_exact():
    assert base_images.import_command(sample_recipe()) == [
        "docker", "import",
        "--change", "ENV LANG=C.UTF-8",
        "--change", 'CMD ["bash"]',
        "--change", "LABEL org.opencontainers.image.title=onehost-base/sample",
        "--message", "onehost-base/sample: stands in for sample:1",
        "-",
    ]


def test_stop_signal_is_set_by_a_one_line_build():
    assert base_images.stop_signal_build(sample_recipe(), "sha256:abc") is None
    args, dockerfile = base_images.stop_signal_build(sample_recipe(stop_signal="SIGINT"), "sha256:abc")
    assert args == ["docker", "build", "--quiet", "-"]
    assert dockerfile == b"FROM sha256:abc\nSTOPSIGNAL SIGINT\n"


def test_postgres_keeps_the_official_contract():
    changes = base_images.import_command(base_images.RECIPES["postgres"])
    assert "PGDATA=/var/lib/postgresql/data" in " ".join(changes)
    assert "ENV PATH=/usr/lib/postgresql/17/bin:" in " ".join(changes)
    assert 'CMD ["postgres"]' in changes
    assert "EXPOSE 5432" in changes
    assert base_images.RECIPES["postgres"].stop_signal == "SIGINT"


def test_reference_format_and_stability(images_dir):
    recipe = sample_recipe()
    first = base_images.reference(recipe, images_dir)
    assert first.startswith("onehost-base/sample:")
    assert len(first.split(":")[1]) == 12
    assert base_images.reference(recipe, images_dir) == first
    assert base_images.reference(sample_recipe(), images_dir) == first


def test_hash_does_not_depend_on_where_the_checkout_is(images_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("other-checkout")
    (elsewhere / "sample" / "conf").mkdir(parents=True)
    (elsewhere / "sample" / "entry.sh").write_bytes((images_dir / "sample" / "entry.sh").read_bytes())
    (elsewhere / "sample" / "conf" / "a.conf").write_bytes((images_dir / "sample" / "conf" / "a.conf").read_bytes())
    assert base_images.recipe_hash(sample_recipe(), elsewhere) == base_images.recipe_hash(sample_recipe(), images_dir)


@pytest.mark.parametrize("change", ["edit", "add", "remove", "rename"])
def test_hash_changes_with_files_under_the_image_dir(images_dir, change):
    before = base_images.recipe_hash(sample_recipe(), images_dir)
    conf = images_dir / "sample" / "conf" / "a.conf"
    if change == "edit":
        conf.write_text("a = 2\n")
    elif change == "add":
        (images_dir / "sample" / "conf" / "b.conf").write_text("")
    elif change == "remove":
        conf.unlink()
    else:
        conf.rename(conf.with_name("c.conf"))
    assert base_images.recipe_hash(sample_recipe(), images_dir) != before


@pytest.mark.parametrize("override", [
    {"packages": ("bash", "ca-certificates", "zsh", "curl")},
    {"setup_hooks": ()},
    {"customize_hooks": ('touch "$1/other"',)},
    {"changes": ("ENV LANG=C.UTF-8", 'CMD ["sh"]')},
    {"suite": "forky"},
    {"stop_signal": "SIGINT"},
    {"files": (FileCopy("entry.sh", "/usr/local/bin/entry.sh", "0700"),)},
])
def test_hash_changes_with_the_recipe(images_dir, override):
    assert (base_images.recipe_hash(sample_recipe(**override), images_dir)
            != base_images.recipe_hash(sample_recipe(), images_dir))


def test_hash_changes_with_the_recipe_format(images_dir, monkeypatch):
    before = base_images.recipe_hash(sample_recipe(), images_dir)
    monkeypatch.setattr(base_images, "RECIPE_FORMAT", base_images.RECIPE_FORMAT + 1)
    assert base_images.recipe_hash(sample_recipe(), images_dir) != before


def test_package_order_does_not_change_the_hash(images_dir):
    shuffled = sample_recipe(packages=("ca-certificates", "zsh", "bash"))
    assert base_images.recipe_hash(shuffled, images_dir) == base_images.recipe_hash(sample_recipe(), images_dir)


def test_every_file_an_image_carries_exists_and_every_file_is_carried():
    for name, recipe in base_images.RECIPES.items():
        image_dir = base_images.IMAGES_DIR / name
        on_disk = {p.relative_to(image_dir).as_posix() for p in files_under([image_dir])}
        assert {copy.source for copy in recipe.files} == on_disk, name


def test_missing_mmdebstrap_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda tool: None)
    with pytest.raises(CommandFailed, match="install it with: apt-get install mmdebstrap"):
        base_images.build(sample_recipe(), "onehost-base/sample:0")


def test_missing_docker_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda tool: None)
    with pytest.raises(CommandFailed, match="apt-get install docker.io"):
        base_images.ensure("python")


def test_unreachable_daemon_is_reported(monkeypatch, tmp_path):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandFailed, match="Docker daemon is not reachable"):
        base_images.ensure("python")


def test_unknown_image_name_is_refused():
    with pytest.raises(CommandFailed, match="unknown base image"):
        base_images.ensure("mysql")


def test_failing_mmdebstrap_raises_with_its_stderr_tail(monkeypatch, tmp_path):
    """A failed debootstrap raises CommandFailed with the tool's own last lines; nothing is tagged."""
    log = tmp_path / "calls"
    for tool, script in {
        "mmdebstrap": "echo 'E: cannot find package nosuchpkg' >&2\nexit 1\n",
        "docker": f'echo "$@" >> {log}\ncat > /dev/null\n'
                  'if [ "$1" = import ]; then echo sha256:abc; fi\n',
    }.items():
        path = tmp_path / tool
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(CommandFailed, match="(?s)mmdebstrap failed.*cannot find package nosuchpkg"):
        base_images.build(sample_recipe(), "onehost-base/sample:0", tmp_path)
    calls = log.read_text().splitlines()
    assert not any(call.startswith("tag") for call in calls)
    assert "image rm sha256:abc" in calls


def test_cli_registers_base_images_with_names_and_force():
    parser = argparse.ArgumentParser()
    base_images_command.register(parser.add_subparsers())
    args = parser.parse_args(["base-images", "--force", "postgres", "nginx"])
    assert args.force is True
    assert args.names == ["postgres", "nginx"]
    assert args.func is not None
    assert parser.parse_args(["base-images"]).names == []

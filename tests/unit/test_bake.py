from onehost import bake
from onehost.content_hash import digest


def test_packer_command_builds_only_the_docker_source(monkeypatch):
    command = bake.packer_command("base:1", "onehost/instance", "abc", "/venv/bin/pyinfra")
    assert command[:4] == ["packer", "build", "-only=docker.local", "-color=false"]
    assert command[4:12] == ["-var", "base_image=base:1", "-var", "image_repository=onehost/instance",
                             "-var", "image_tag=abc", "-var", "pyinfra=/venv/bin/pyinfra"]
    assert command[-1].endswith("/packer")


def test_image_reference_follows_the_bake_inputs(tmp_path):
    for path in bake.BAKE_INPUTS:
        target = tmp_path / path
        if path.endswith(".py"):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("# bake\n")
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / "file").write_text("x")
    first = bake.image_reference("sha256:base", root=tmp_path)
    assert first.startswith("onehost/instance:")
    assert bake.image_reference("sha256:base", root=tmp_path) == first
    assert bake.image_reference("sha256:other", root=tmp_path) != first
    (tmp_path / "deploy" / "tasks" / "file").write_text("y")
    assert bake.image_reference("sha256:base", root=tmp_path) != first


def test_digest_ignores_caches(tmp_path):
    (tmp_path / "a.py").write_text("a")
    before = digest([tmp_path], root=tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.pyc").write_text("junk")
    assert digest([tmp_path], root=tmp_path) == before

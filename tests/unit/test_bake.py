from onehost.local import bake
from onehost.local.content_hash import digest


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


def test_candidate_instance_publishes_no_ports():
    config = bake.candidate_config("onehost/instance-candidate:0123456789ab-42")
    assert config.name == "onehost-candidate-0123456789ab-42"
    command = bake.candidate_run_command(config)
    assert "--publish" not in command and not any(arg.startswith("127.0.0.1:") for arg in command)
    assert command[-2:] == ["onehost/instance-candidate:0123456789ab-42", "/sbin/init"]
    assert f"{config.name}-data:/data" in command


def test_image_suite_command_names_host_image_and_expected_packages():
    command = bake.image_suite_command("docker://c", "img:1", ["nope", "also"], python="/py")
    assert command == ["/py", "-m", "pytest", "tests/host/image", "-p", "no:cacheprovider", "-q",
                       "--image-host", "docker://c", "--image", "img:1",
                       "--image-expect-package", "nope", "--image-expect-package", "also"]


def test_failed_checks_read_from_pytest_summary():
    summary = ("=== short test summary info ===\n"
               "FAILED tests/host/image/test_packages.py::test_package_installed[nope] - AssertionError\n"
               "ERROR tests/host/image/test_docker.py::test_compose_v2\n"
               "1 failed, 1 error, 30 passed\n")
    assert bake.failed_checks(summary) == ["test_package_installed[nope]", "test_compose_v2"]


def test_image_reference_in_another_repository(tmp_path):
    for path in bake.BAKE_INPUTS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(".py"):
            (tmp_path / path).write_text("x")
        else:
            (tmp_path / path).mkdir(exist_ok=True)
    default = bake.image_reference("sha256:base", root=tmp_path)
    other = bake.image_reference("sha256:base", root=tmp_path, repository="onehost/other")
    assert other == "onehost/other:" + default.split(":", 1)[1]

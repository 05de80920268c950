import subprocess
import sys

from onehost.local import bake
from onehost.local.content_hash import digest
from onehost.paths import REPO_ROOT


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


def test_a_changed_image_suite_means_a_new_image(tmp_path):
    """A cached image was gated by the suite of its checkout; a new check gates a new bake."""
    for path in bake.BAKE_INPUTS:
        (tmp_path / path).mkdir(parents=True, exist_ok=True)
    suite = tmp_path / bake.IMAGE_SUITE
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "test_packages.py").write_text("def test_a(): pass\n")
    first = bake.image_reference("sha256:base", root=tmp_path)
    (suite / "test_packages.py").write_text("def test_a(): pass\ndef test_b(): pass\n")
    assert bake.image_reference("sha256:base", root=tmp_path) != first


def collect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_the_image_suite_takes_its_options_from_the_repository_root():
    """The way Packer and the local bake run it: only the suite's folder, options after it."""
    result = collect(bake.IMAGE_SUITE, "--image-host", "docker://none", "--image", "img:1",
                     "--image-expect-package", "nope")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"{bake.IMAGE_SUITE}/test_packages.py::test_package_installed[nope]" in result.stdout.split()


def test_the_host_tier_runs_the_image_suite():
    """pyproject's testpaths with `-m host`, as the host tier selects its tests."""
    result = collect("-m", "host")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    collected = result.stdout.split()
    assert f"{bake.IMAGE_SUITE}/test_docker.py::test_compose_v2" in collected
    assert not any(test.startswith("tests/unit/") for test in collected)


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
    assert command == ["/py", "-m", "pytest", "packer/image_suite", "-p", "no:cacheprovider", "-q",
                       "--image-host", "docker://c", "--image", "img:1",
                       "--image-expect-package", "nope", "--image-expect-package", "also"]


def test_failed_checks_read_from_pytest_summary():
    summary = ("=== short test summary info ===\n"
               "FAILED packer/image_suite/test_packages.py::test_package_installed[nope] - AssertionError\n"
               "ERROR packer/image_suite/test_docker.py::test_compose_v2\n"
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

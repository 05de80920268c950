import pytest

from onehost.instance import InstanceConfig, run_command
from onehost.shell import CommandFailed


def test_ports_and_name_from_environment():
    config = InstanceConfig.from_environment({"ONEHOST_INSTANCE": "t1", "ONEHOST_SSH_PORT": "12222",
                                              "ONEHOST_HTTP_PORT": "18080", "ONEHOST_HTTPS_PORT": "18443"})
    assert (config.name, config.ssh_port, config.http_port, config.https_port) == ("t1", 12222, 18080, 18443)
    assert config.url == "http://127.0.0.1:18080"


@pytest.mark.parametrize("value", ["abc", "0", "70000", ""])
def test_bad_port_is_an_error(value):
    with pytest.raises(CommandFailed, match="ONEHOST_HTTP_PORT=.* is not a TCP port"):
        InstanceConfig.from_environment({"ONEHOST_HTTP_PORT": value})


def test_run_command_runs_systemd_without_privileged():
    command = run_command(InstanceConfig(name="t1", image="img:1"))
    assert "--privileged" not in command
    assert command[-2:] == ["img:1", "/sbin/init"]
    joined = " ".join(command)
    for expected in ("--cap-add ALL --cap-drop SYS_RESOURCE", "--cgroupns=host",
                     "--volume t1-data:/data", "--volume t1-docker:/var/lib/docker",
                     "--publish 127.0.0.1:2222:22", "--publish 127.0.0.1:8080:80",
                     "--publish 127.0.0.1:8443:443", "--stop-signal SIGRTMIN+3"):
        assert expected in joined

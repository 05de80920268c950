import contextlib
import io
import re
import socket
import tarfile
import threading

import pytest

from onehost.commands.cloud_config import user_data
from onehost.local.instance import (
    InstanceConfig,
    cloud_init_problem,
    console_text,
    create_command,
    new_instance_id,
    run_command,
    seed_archive,
    seed_files,
    sshd_answers,
)
from onehost.local.shell import CommandFailed


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


def test_create_command_is_run_command_unstarted_with_a_console():
    config = InstanceConfig(name="t1", image="img:1")
    create, run = create_command(config), run_command(config)
    assert create[:2] == ["docker", "create"] and run[:3] == ["docker", "run", "--detach"]
    assert create[2:] == run[3:]
    assert "--tty" in create  # Docker's /dev/console: what `docker logs` replays
    assert create[-2:] == ["img:1", "/sbin/init"]


def test_seed_files_are_the_nocloud_seed_of_an_ec2_launch():
    keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOa onehost-local"]
    assert seed_files("i-0123456789abcdef0", "onehost-test", keys) == {
        "meta-data": 'instance-id: "i-0123456789abcdef0"\nlocal-hostname: "onehost-test"\n',
        "user-data": user_data(keys),
        "network-config": "network:\n  config: disabled\n",
    }
    assert user_data(keys) == ('#cloud-config\nssh_authorized_keys:\n'
                               '  - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOa onehost-local"\n')


def test_seed_archive_unpacks_into_the_nocloud_seed_dir_for_root_alone():
    files = {"meta-data": "instance-id: i-1\n", "user-data": "#cloud-config\n"}
    with tarfile.open(fileobj=io.BytesIO(seed_archive(files, mtime=1700000000))) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert list(members) == ["var/lib/cloud", "var/lib/cloud/seed", "var/lib/cloud/seed/nocloud",
                                 "var/lib/cloud/seed/nocloud/meta-data",
                                 "var/lib/cloud/seed/nocloud/user-data"]
        assert all(members[name].isdir() and members[name].mode == 0o755 for name in list(members)[:3])
        for name, text in files.items():
            member = members[f"var/lib/cloud/seed/nocloud/{name}"]
            assert member.mode == 0o600 and (member.uid, member.gid) == (0, 0)
            assert archive.extractfile(member).read().decode() == text


def test_each_instance_id_is_new_and_shaped_like_ec2s():
    ids = {new_instance_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(re.fullmatch(r"i-[0-9a-f]{17}", value) for value in ids)


DONE = {"status": "done", "datasource": "nocloud", "errors": [], "recoverable_errors": {},
        "boot_status_code": "enabled-by-generator"}


@pytest.mark.parametrize("report, problem", [
    (DONE, None),
    ({**DONE, "recoverable_errors": {"WARNING": ["a deprecated key"]}}, None),
    ({**DONE, "status": "disabled", "datasource": None, "boot_status_code": "disabled-by-generator"},
     "did not run (disabled-by-generator): it found no datasource, so the instance has no NoCloud seed"),
    ({**DONE, "status": "error", "errors": ["('ssh', KeyError('x'))"]}, "ended error: ('ssh', KeyError('x'))"),
    ({**DONE, "datasource": "ec2"}, "booted from the ec2 datasource, not the NoCloud seed"),
])
def test_cloud_init_problem(report, problem):
    assert cloud_init_problem(report) == problem


def test_console_text_has_plain_line_ends():
    raw = b"[  OK  ] Finished cloud-final.service.\r\r\n-----BEGIN SSH HOST KEY KEYS-----\r\nssh-ed25519 AAAA\r\n"
    assert console_text(raw) == ("[  OK  ] Finished cloud-final.service.\n"
                                 "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAA\n")


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that answers each connection with `behaviour(connection)`."""

    servers = []

    def start(behaviour):
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve():
            with contextlib.suppress(OSError):
                while True:
                    connection, _ = server.accept()
                    with connection:
                        behaviour(connection)
        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1]
    yield start
    for server in servers:
        server.close()


def test_sshd_answers_when_the_port_sends_an_ssh_identification_line(listener):
    port = listener(lambda connection: connection.sendall(b"a banner line\r\nSSH-2.0-OpenSSH_10.0 Debian\r\n"))
    assert sshd_answers(port)


def test_a_port_that_accepts_and_closes_is_not_sshd(listener):
    """What Docker's proxy does on a published port whose container does not listen yet."""
    assert not sshd_answers(listener(lambda connection: None))


def test_a_closed_port_is_not_sshd():
    with socket.create_server(("127.0.0.1", 0)) as spare:
        closed = spare.getsockname()[1]
    assert not sshd_answers(closed, timeout=1)

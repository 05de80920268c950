"""onehost.remote.session: the one SSH stack. Every kind of inventory host becomes the exact `ssh`
command line the console commands run, with the host-key policy and known_hosts the deploys use
(pyinfra's SSH connector, read from its own code), and nothing outside onehost/remote/ builds one."""

import ast
import shutil
import subprocess
from pathlib import Path

import pytest
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.connectors.sshuserclient.client import AcceptNewPolicy, SSHClient, StrictPolicy

from onehost.cli import main
from onehost.commands import reach
from onehost.paths import REPO_ROOT
from onehost.remote import inventory, session
from onehost.remote.session import HostSession
from onehost.remote.ssh_files import SshFiles

INSTANCE = {"InstanceId": "i-0abc", "PublicIpAddress": "203.0.113.10",
            "Tags": [{"Key": f"{reach.HOST_KEY_TAG}ssh-ed25519", "Value": "AAAAC3NzaC1lZDI1NTE5AAAAIKey"}]}


@pytest.fixture
def local_host(monkeypatch, tmp_path):
    monkeypatch.setenv("ONEHOST_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(inventory.docker_cli, "container_state", lambda name: "running")
    monkeypatch.setattr(inventory, "ssh_key", lambda: Path("/keys/local"))
    [host] = inventory.hosts_from_environment({"ONEHOST_SSH_PORT": "12222"})
    return host


def ec2_host(directory: Path, mode: str) -> tuple[str, dict]:
    files = SshFiles(directory, "admin", "/keys/admin")
    data = files.add(reach.host_entry(INSTANCE, mode, "eu-west-1"))
    files.write()
    return "i-0abc", data


def test_the_local_instance_is_reached_with_its_own_known_hosts_accepting_a_new_containers_key(local_host):
    name, data = local_host
    assert HostSession(name, data).command("true") == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "12222", "-i", "/keys/local",
        "-o", f"UserKnownHostsFile={data['ssh_known_hosts_file']}", "-o", "StrictHostKeyChecking=accept-new",
        "admin@127.0.0.1", "sudo sh -c true"]


def test_an_ec2_host_is_reached_through_its_config_trusting_only_the_pinned_keys(tmp_path):
    name, data = ec2_host(tmp_path, "tunnel")
    assert HostSession(name, data).command("true") == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", "/keys/admin",
        "-o", f"UserKnownHostsFile={tmp_path}/known_hosts", "-o", "StrictHostKeyChecking=yes",
        "-F", f"{tmp_path}/ssh_config", "admin@i-0abc", "sudo sh -c true"]


def test_a_static_host_gets_the_policy_the_deploys_use():
    """pyinfra accepts a static host's first key into ~/.ssh/known_hosts (its default); the console
    commands used to leave the policy to ssh, which refuses an unknown key in batch mode."""
    [(name, data)] = inventory.static_hosts("deploy@app.example.com:2200", {})
    assert HostSession(name, data).command("true") == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", "2200",
        "-o", "StrictHostKeyChecking=accept-new", "deploy@app.example.com", "sudo sh -c true"]


def test_the_script_runs_as_root_in_one_quoted_argument():
    assert HostSession("h", {}).command("echo 'a b'; id -u")[-1] == "sudo sh -c 'echo '\"'\"'a b'\"'\"'; id -u'"


def test_every_kind_of_host_gets_the_deploys_policy_and_known_hosts(local_host, tmp_path):
    """What pyinfra's SSH connector makes of the same host data (its data defaults, then its
    ssh_config parsing, pyinfra/connectors/sshuserclient/client.py) against the session's ssh options."""
    policies = {"yes": StrictPolicy, "accept-new": AcceptNewPolicy}
    static = inventory.static_hosts("admin@203.0.113.20", {})[0]
    for name, data in (local_host, ec2_host(tmp_path / "ec2", "public"), static):
        pyinfra_policy = data.get("ssh_strict_host_key_checking") or \
            SSHConnector.data_meta["ssh_strict_host_key_checking"].default
        _, _, _, missing_key_policy, known_hosts_files, *_ = SSHClient().parse_config(
            data.get("ssh_hostname") or name, {}, ssh_config_file=data.get("ssh_config_file"),
            strict_host_key_checking=pyinfra_policy)
        options = HostSession(name, data).command("true")
        assert f"StrictHostKeyChecking={session.host_key_policy(data)}" in options
        assert isinstance(missing_key_policy, policies[session.host_key_policy(data)]), name
        if data.get("ssh_known_hosts_file"):  # pyinfra's ssh_known_hosts_file wins over the config's (connect)
            known_hosts_files = (data["ssh_known_hosts_file"],)
        named = tuple(option.removeprefix("UserKnownHostsFile=") for option in options
                      if option.startswith("UserKnownHostsFile="))
        # Naming none, both read the user's ~/.ssh/known_hosts.
        assert named == known_hosts_files or (not named and known_hosts_files == (
            str(Path("~/.ssh/known_hosts").expanduser()),)), name


@pytest.mark.skipif(not shutil.which("ssh"), reason="needs the OpenSSH client")
def test_openssh_resolves_an_ec2_hosts_session_to_the_pinned_keys_and_the_tunnel(tmp_path):
    """`ssh -G` prints the configuration ssh would use and connects to nothing (ssh(1),
    https://man.openbsd.org/ssh: "-G Causes ssh to print its configuration after evaluating Host
    and Match blocks and exit")."""
    name, data = ec2_host(tmp_path, "tunnel")
    arguments = session.ssh_arguments(name, data)
    resolved = subprocess.run([arguments[0], "-G", *arguments[1:]], capture_output=True, text=True, check=True)
    settings = dict(line.split(" ", 1) for line in resolved.stdout.splitlines())
    assert settings["stricthostkeychecking"] == "true"
    assert settings["userknownhostsfile"] == f"{tmp_path}/known_hosts"
    assert settings["hostkeyalgorithms"] == "ssh-ed25519" and settings["batchmode"] == "yes"
    assert settings["proxycommand"].startswith("aws ec2-instance-connect open-tunnel --instance-id i-0abc")


# --- the console commands reach their hosts through it ----------------------------------

@pytest.fixture
def ran(monkeypatch, local_host):
    """The command lines the console runs against the local instance, each answered with nothing."""
    commands = []

    def fake_run(args, **options):
        commands.append(list(args))
        return subprocess.CompletedProcess(args, 0, stdout=b"", stderr=b"")
    monkeypatch.setattr(session, "run", fake_run)
    monkeypatch.setattr(inventory, "hosts_from_environment", lambda environ: [local_host])
    return commands, HostSession(*local_host)


def test_backups_list_runs_the_backup_tool_through_the_session(ran, capsys):
    commands, local = ran
    assert main(["backups", "list"]) == 0
    assert commands == [local.command("/usr/local/sbin/onehost-backup list")]


def test_releases_reads_the_hosts_layout_through_the_session(ran, capsys):
    commands, local = ran
    assert main(["releases", "--data-dir", "/srv/data"]) == 0
    [command] = commands
    assert command[:-1] == local.command("true")[:-1]
    assert "readlink /srv/data/releases/current" in command[-1] and "/srv/data/history.jsonl" in command[-1]
    assert "onehost-local: releases (newest first)\nno releases" in capsys.readouterr().out


# --- nothing else builds an ssh command line --------------------------------------------

SSH_CLIENTS = {"ssh", "scp", "sftp"}


def ssh_command_lines(path: Path) -> list[int]:
    """Lines where a list or tuple literal starts with an SSH client's name."""
    return [node.lineno for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, (ast.List, ast.Tuple)) and node.elts
            and isinstance(node.elts[0], ast.Constant) and node.elts[0].value in SSH_CLIENTS]


def test_no_module_outside_onehost_remote_builds_an_ssh_command_line():
    found = {}
    for folder in ("onehost", "deploy"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if not relative.startswith("onehost/remote/") and (lines := ssh_command_lines(path)):
                found[relative] = lines
    assert found == {}, f"{found}: reach hosts through onehost.remote.session.HostSession (one host-key policy)"
    assert ssh_command_lines(REPO_ROOT / "onehost/remote/session.py"), "the walk finds ssh command lines"


def test_instance_up_waits_for_a_login_through_the_local_instances_session(ran, monkeypatch):
    """`onehost instance up`: once the container has booted, the wait logs in as a deploy will,
    with the inventory's known_hosts and policy for the local instance, until it succeeds."""
    from onehost.local.instance import InstanceConfig
    from onehost.remote import local_instance

    commands, local = ran
    answers = iter([255, 255, 0])

    def fake_run(args, **options):
        commands.append(list(args))
        return subprocess.CompletedProcess(args, next(answers), stdout=b"", stderr=b"")
    monkeypatch.setattr(session, "run", fake_run)
    local_instance.wait_for_login(InstanceConfig.from_environment({"ONEHOST_SSH_PORT": "12222"}), interval=0)
    assert commands == [local.command("true")] * 3


def test_instance_up_names_what_it_waited_for(ran, monkeypatch):
    from onehost.local.instance import InstanceConfig
    from onehost.remote import local_instance

    monkeypatch.setattr(session, "run", lambda args, **options: subprocess.CompletedProcess(args, 255))
    with pytest.raises(session.CommandFailed, match=r"timed out after 0s waiting for admin to log in to "
                                                    r"onehost-local over SSH \(127.0.0.1:12222\)"):
        local_instance.wait_for_login(InstanceConfig.from_environment({"ONEHOST_SSH_PORT": "12222"}),
                                      timeout=0, interval=0)


STATIC = {"ONEHOST_HOSTS": "deploy@web-1.example.com,deploy@web-2.example.com:2200"}


def test_a_terminal_session_asks_sshd_for_a_pseudo_terminal():
    host = HostSession("web-1", {"ssh_hostname": "203.0.113.7", "ssh_user": "admin"})
    plain, terminal = host.command("true"), host.command("true", terminal=True)
    assert terminal == [plain[0], "-t", "-o", "LogLevel=ERROR", *plain[1:]]


def test_host_names_the_one_session_asked_for():
    assert [s.name for s in session.chosen_sessions(None, STATIC)] == ["web-1.example.com", "web-2.example.com"]
    assert session.one_session("web-2.example.com", STATIC).data["ssh_port"] == 2200


def test_an_unknown_host_is_refused_naming_the_inventorys_hosts():
    with pytest.raises(session.CommandFailed) as refused:
        session.one_session("web-3", STATIC)
    assert str(refused.value) == ("no host named 'web-3' in the inventory (its hosts: web-1.example.com, "
                                  "web-2.example.com); give one of those to --host, or leave --host out")


def test_two_hosts_and_no_host_named_asks_which():
    with pytest.raises(session.CommandFailed, match=r"has 2 hosts \(web-1.example.com, web-2.example.com\): "
                                                    "say which with --host"):
        session.one_session(None, STATIC)

"""`onehost hosts` launch, swap and rollback end to end: the EC2 API is moto's, and each instance
it launches boots for real from the baked image (tests/ec2_standin.py): cloud-init reads the
NoCloud seed made from the RunInstances user-data, gives admin the operator's key and prints the
host keys to the console; the tool pins them from there, reaches the host through a stand-in of
`aws ec2-instance-connect open-tunnel`, and the data volume is a loop device that moves between
instances as EBS volumes do. The example app is deployed to it by its tags, as the delivery
workflow does, and keeps serving its rows across a swap and a rollback."""

import os
import subprocess
from pathlib import Path

import pytest

from onehost.aws import hosts, stack
from onehost.aws.clients import tag_dict
from onehost.cli import main
from onehost.commands import reach
from onehost.local import app_image, instance
from onehost.local.shell import CommandFailed
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import pyinfra_command, pyinfra_executable
from onehost.remote.inventory import LOCAL_IMAGES
from onehost.remote.ssh_files import SshFiles
from tests.aws.conftest import BASE_IMAGES
from tests.aws.test_hosts import register_ami
from tests.ec2_standin import Ec2StandIn
from tests.host.conftest import APP_IMAGE
from tests.moto_server import FAKE_CREDENTIALS, moto_server

PROJECT, ENVIRONMENT, REGION = "timewarp", "production", "eu-west-1"
TAGS = f"project={PROJECT},environment={ENVIRONMENT},role=app"


@pytest.fixture(scope="module")
def aws_environ(tmp_path_factory, base_image_names):
    """moto, fake credentials, and `aws` on PATH being the tunnel's stand-in, for this module."""
    import json
    amis = tmp_path_factory.mktemp("moto") / "amis.json"
    amis.write_text(json.dumps(BASE_IMAGES))
    saved = dict(os.environ)
    with moto_server({"MOTO_AMIS_PATH": str(amis)}) as endpoint:
        os.environ.update({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint,
                           "ONEHOST_STATE_DIR": str(tmp_path_factory.mktemp("state"))})
        for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(key, None)
        try:
            yield endpoint
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="module")
def ec2(aws_environ):
    import boto3
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture(scope="module")
def standin(ec2, tmp_path_factory):
    """The hypervisor, and GetConsoleOutput answered from it (moto's is one fixed text)."""
    with Ec2StandIn(ec2, instance.IMAGE, tmp_path_factory.mktemp("ec2")) as backing, \
            pytest.MonkeyPatch.context() as patch:
        os.environ.update(backing.environ())
        patch.setattr(hosts, "console_text", backing.console_output)
        yield backing
        assert backing.errors == []


@pytest.fixture(scope="module")
def env(ec2, standin):
    import boto3
    outputs = stack.deploy_stack(boto3.client("cloudformation", region_name=REGION), ec2, f"{PROJECT}-{ENVIRONMENT}",
                                 {"Project": PROJECT, "Environment": ENVIRONMENT},
                                 tags={"project": PROJECT, "environment": ENVIRONMENT}, say=lambda line: None,
                                 poll_seconds=0.2, timeout_seconds=60)
    return hosts.environment_from(PROJECT, ENVIRONMENT, outputs)


@pytest.fixture(scope="module")
def amis(ec2):
    """Two AMIs, both the baked image here: what differs on AWS (the OS's patches) does not matter."""
    return {"v1": register_ami(ec2, "v1"), "v2": register_ami(ec2, "v2")}


@pytest.fixture(scope="module")
def ssh_hosts(standin):
    files = SshFiles(standin.workdir / "ssh", instance.ADMIN_USER, str(instance.ssh_key()))
    return hosts.SshHosts(server_name="localhost", tls=False, ready_timeout=40,
                          connection=hosts.instance_connection(files, "tunnel", REGION))


def public_key() -> str:
    return (instance.ssh_key().parent / f"{instance.ssh_key().name}.pub").read_text().strip()


def tag_environ() -> dict:
    return {**os.environ, "ONEHOST_TAGS": TAGS, "AWS_REGION": REGION, "ONEHOST_SSH_KEY": str(instance.ssh_key())}


def onehost_hosts(action: str, *arguments: str) -> str:
    """`onehost hosts ACTION` as an operator runs it; what it printed."""
    import contextlib
    import io
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["hosts", action, "--project", PROJECT, "--environment", ENVIRONMENT, "--region", REGION,
                     "--ssh-key", str(instance.ssh_key()), *arguments])
    assert code == 0, printed.getvalue()
    return printed.getvalue()


def swap(ec2, ssh_hosts, env, image, **options):
    """hosts.swap with a short wait for SSH (the command waits 10 minutes)."""
    options.setdefault("public_keys", (public_key(),))
    return hosts.swap(ec2, ssh_hosts, env, image, say=lambda line: None, check_health=False, **options)


def on(standin, instance_id: str, *command: str) -> str:
    result = standin.inner(instance_id, *command)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def launched(ec2, env, standin, amis):
    printed = onehost_hosts("launch", "--ami", amis["v1"])
    assert "no --server-name: /health/ was not checked" in printed
    return hosts.serving_instance(ec2, env)["InstanceId"]


def test_a_launched_host_has_its_key_from_cloud_init_its_host_keys_pinned_and_the_volume_mounted(
        ec2, env, standin, launched):
    tags = tag_dict(hosts.instance(ec2, launched)["Tags"])
    served = on(standin, launched, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").split()[1]
    assert tags["onehost:ssh-host-key:ssh-ed25519"] == served
    assert public_key() in on(standin, launched, "cat", "/home/admin/.ssh/authorized_keys")
    # A blank volume got its file system and is mounted where the stacks expect it.
    assert on(standin, launched, "findmnt", "--noheadings", "--output", "FSTYPE,LABEL", "/data").split() == [
        "ext4", "onehost-data"]
    [address] = ec2.describe_addresses(AllocationIds=[env.allocation_id])["Addresses"]
    assert address["InstanceId"] == launched


def test_pyinfra_reaches_the_host_through_the_tunnel_by_its_tags(launched):
    result = subprocess.run([pyinfra_executable(), "--yes", "deploy/inventory.py", "exec", "--",
                             "findmnt", "--noheadings", "--output", "TARGET", "/data"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=tag_environ())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"[{launched}] /data" in result.stdout + result.stderr  # pyinfra logs command output on stderr


def test_a_host_key_other_than_the_pinned_one_is_refused(ec2, ssh_hosts, standin, launched):
    """What a connection intercepted on the way would show: another host's key."""
    pinned = [{"Key": f"{reach.HOST_KEY_TAG}{key_type}"} for key_type in reach.PINNED_KEY_TYPES]
    other_host = on(standin, launched, "sh", "-c", "ssh-keygen -q -t ed25519 -N '' -f /tmp/other && "
                                                   "cat /tmp/other.pub && rm /tmp/other /tmp/other.pub").split()[1]
    ec2.delete_tags(Resources=[launched], Tags=pinned)
    ec2.create_tags(Resources=[launched], Tags=[{"Key": f"{reach.HOST_KEY_TAG}ssh-ed25519", "Value": other_host}])
    try:
        with pytest.raises(CommandFailed, match="Host key verification failed"):
            ssh_hosts.run(hosts.instance(ec2, launched), "true", timeout=60)
    finally:
        ec2.delete_tags(Resources=[launched], Tags=pinned)
        hosts.pin_host_keys(ec2, hosts.instance(ec2, launched), read_console=standin.console_output, timeout=10)
    ssh_hosts.run(hosts.instance(ec2, launched), "true", timeout=60)


def test_a_new_host_without_a_login_is_terminated_and_nothing_moves(ec2, ssh_hosts, env, standin, amis, launched):
    ec2.create_key_pair(KeyName="nobody")
    with pytest.raises(CommandFailed, match=r"(?s)never became ready: .*Permission denied \(publickey\)"
                                            r".*Nothing was moved; it was terminated"):
        swap(ec2, ssh_hosts, env, amis["v2"], public_keys=(), key_name="nobody")
    assert hosts.serving_instance(ec2, env)["InstanceId"] == launched
    assert hosts.volume_holder(ec2, env.data_volume_id) == launched
    assert on(standin, launched, "findmnt", "--noheadings", "--output", "TARGET", "/data") == "/data"


@pytest.fixture(scope="module")
def deployed(launched, standin, base_image_names, tmp_path_factory):
    """The example app, shipped from this machine (no registry), deployed to the hosts by tags."""
    app_image.build(REPO_ROOT / "example", APP_IMAGE, base_image=base_image_names["python"])
    env_file = tmp_path_factory.mktemp("app") / "app.env"
    instance.write_app_env(env_file)
    result = subprocess.run(pyinfra_command("deploy.py", {"image": APP_IMAGE, "env_file": str(env_file),
                                                          "tls": "off", **LOCAL_IMAGES}),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=tag_environ())
    tunnels_log = Path(os.environ["ONEHOST_STANDIN_TUNNELS"] + ".log")
    sshd_log = standin.inner(launched, "journalctl", "--unit", "ssh", "--no-pager", "--lines", "20").stdout
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-3000:] + sshd_log
                                    + (tunnels_log.read_text()[-2000:] if tunnels_log.exists() else ""))
    return launched


def api(standin, instance_id: str, *curl: str) -> str:
    """The API through the host's own nginx, as /health/ is checked in a swap."""
    return on(standin, instance_id, "curl", "--fail", "--silent", "--show-error", "--header", "Host: localhost",
              "--header", "Content-Type: application/json", *curl)


def test_a_deployed_app_keeps_its_rows_across_a_swap_and_a_rollback(ec2, env, standin, amis, deployed):
    """The new host has none of the old one's images: it loads the shipped ones from /data."""
    created = api(standin, deployed, "--data", '{"title": "Before the swap", "happened_at": "2026-12-01T12:00:00Z"}',
                  "http://127.0.0.1/api/events/")
    assert "Before the swap" in created

    printed = onehost_hosts("swap", "--ami", amis["v2"], "--server-name", "localhost", "--no-tls")
    assert "downtime:" in printed
    new = hosts.serving_instance(ec2, env)["InstanceId"]
    assert new != deployed
    assert "Before the swap" in api(standin, new, "http://127.0.0.1/api/events/")
    assert hosts.instance(ec2, deployed)["State"]["Name"] == "stopped"
    api(standin, new, "--data", '{"title": "On the new host", "happened_at": "2026-12-02T12:00:00Z"}',
        "http://127.0.0.1/api/events/")

    onehost_hosts("rollback", "--server-name", "localhost", "--no-tls")
    listed = api(standin, deployed, "http://127.0.0.1/api/events/")
    assert "Before the swap" in listed and "On the new host" in listed
    assert hosts.serving_instance(ec2, env)["InstanceId"] == deployed

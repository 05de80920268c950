"""`onehost hosts` against moto: launch, swap, rollback and retire, and a failing new host that
puts everything back. The host side (SSH, mounting, the health check) is a recording stand-in,
and the console is a stand-in's too: moto's instances cannot be reached and its
GetConsoleOutput answers one fixed text."""

from datetime import UTC, datetime, timedelta

import pytest

from onehost.aws import hosts, stack
from onehost.aws.clients import tag_dict
from onehost.cli import main
from onehost.local.shell import CommandFailed

PROJECT, ENVIRONMENT = "timewarp", "production"


CONSOLE = """[   12.3] cloud-init[512]: Cloud-init v. 25.1 running 'modules:final'
<14>Dec  6 05:30:00 ec2: -----BEGIN SSH HOST KEY KEYS-----
<14>Dec  6 05:30:00 ec2: ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBExample= root@host
<14>Dec  6 05:30:00 ec2: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleHostKey root@host
<14>Dec  6 05:30:00 ec2: -----END SSH HOST KEY KEYS-----
"""


def console_with_keys(ec2, instance_id):
    return CONSOLE


class RecordingHosts:
    """Records what a swap asks of the hosts, by instance id; `broken` ones fail their health
    check. `elapsed` is a clock each host step advances by what it takes on a real host (seconds)."""

    STEP_SECONDS = {"wait_ready": 60, "release_data": 12, "take_data": 8, "healthy": 2}

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self.elapsed = 0.0
        self.broken: set[str] = set()
        self.break_new_hosts = False
        self.known: set[str] = set()
        self.new_hosts_never_answer = False

    def wait_ready(self, item):
        address = item["InstanceId"]
        self.calls.append(("wait_ready", address))
        self.elapsed += self.STEP_SECONDS["wait_ready"]
        if self.new_hosts_never_answer and address not in self.known:
            raise CommandFailed(f"{address} did not answer SSH in 600 s: Permission denied (publickey)")
        if self.break_new_hosts and address not in self.known:
            self.broken.add(address)

    def release_data(self, item):
        address = item["InstanceId"]
        self.calls.append(("release_data", address))
        self.elapsed += self.STEP_SECONDS["release_data"]

    def take_data(self, item, volume_id):
        address = item["InstanceId"]
        self.calls.append(("take_data", address))
        self.elapsed += self.STEP_SECONDS["take_data"]

    def healthy(self, item):
        address = item["InstanceId"]
        self.calls.append(("healthy", address))
        self.elapsed += self.STEP_SECONDS["healthy"]
        return address not in self.broken


@pytest.fixture
def env(aws):
    outputs = stack.deploy_stack(aws.client("cloudformation"), aws.client("ec2"), f"{PROJECT}-{ENVIRONMENT}",
                                 {"Project": PROJECT, "Environment": ENVIRONMENT},
                                 tags={"project": PROJECT, "environment": ENVIRONMENT}, say=lambda line: None,
                                 poll_seconds=0.2, timeout_seconds=60)
    return hosts.environment_from(PROJECT, ENVIRONMENT, outputs)


def register_ami(ec2, version: str) -> str:
    image = ec2.register_image(Name=f"onehost-{version}", RootDeviceName="/dev/xvda", Architecture="x86_64",
                               VirtualizationType="hvm",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    ec2.create_tags(Resources=[image], Tags=[{"Key": "onehost:role", "Value": "host"},
                                             {"Key": "onehost:version", "Value": version}])
    return image


@pytest.fixture
def amis(aws):
    ec2 = aws.client("ec2")
    return {"v1": register_ami(ec2, "v1"), "v2": register_ami(ec2, "v2")}


def quiet_swap(aws, recording, env, image, lines=None, **options):
    options.setdefault("read_console", console_with_keys)
    return hosts.swap(aws.client("ec2"), recording, env, image, say=(lines if lines is not None else []).append,
                      **options)


def state(aws, env) -> dict:
    ec2 = aws.client("ec2")
    [address] = ec2.describe_addresses(AllocationIds=[env.allocation_id])["Addresses"]
    return {"address_on": address.get("InstanceId"), "volume_on": hosts.volume_holder(ec2, env.data_volume_id),
            "instances": {item["InstanceId"]: item["State"]["Name"]
                          for item in hosts.environment_instances(aws.client("ec2"), env,
                                                                  states=("running", "stopped", "terminated"))}}


@pytest.fixture
def serving_v1(aws, env, amis):
    recording = RecordingHosts()
    report = quiet_swap(aws, recording, env, amis["v1"])
    recording.known = {report.new_instance}
    recording.calls.clear()
    return report.new_instance, recording


def test_launch_attaches_the_volume_and_address_with_imdsv2_and_the_tags(aws, env, amis):
    recording, lines = RecordingHosts(), []
    report = quiet_swap(aws, recording, env, amis["v1"], lines)
    item = hosts.instance(aws.client("ec2"), report.new_instance)
    assert state(aws, env) == {"address_on": item["InstanceId"], "volume_on": item["InstanceId"],
                               "instances": {item["InstanceId"]: "running"}}
    assert item["MetadataOptions"]["HttpTokens"] == "required"
    assert item["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert item["IamInstanceProfile"]["Arn"] == env.instance_profile_arn
    assert [group["GroupId"] for group in item["SecurityGroups"]] == [env.security_group_id]
    assert item["Placement"]["AvailabilityZone"] == env.availability_zone
    tags = tag_dict(item["Tags"])
    assert {key: tags[key] for key in ("project", "environment", "role", "onehost:image-version")} == {
        "project": PROJECT, "environment": ENVIRONMENT, "role": "app", "onehost:image-version": "v1"}
    # Checked on the instance itself, before the Elastic IP moved to it.
    address = item["InstanceId"]
    assert recording.calls == [("wait_ready", address), ("take_data", address), ("healthy", address)]
    assert report.old_instance is None


def test_a_launch_onto_a_fresh_volume_skips_the_health_check(aws, env, amis):
    recording = RecordingHosts()
    report = quiet_swap(aws, recording, env, amis["v1"], check_health=False)
    assert [call for call, _ in recording.calls] == ["wait_ready", "take_data"]
    assert state(aws, env)["address_on"] == report.new_instance


def test_swap_without_a_server_name_is_refused(aws, env, amis, capsys):
    assert main(["hosts", "swap", "--project", PROJECT, "--ami", amis["v2"]]) == 1
    assert "swap checks the new host's /health/: give --server-name" in capsys.readouterr().err


def test_swap_moves_volume_and_address_and_keeps_the_old_instance_stopped(aws, env, amis, serving_v1):
    old, recording = serving_v1
    lines = []
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    report = quiet_swap(aws, recording, env, amis["v2"], lines, keep_hours=6, clock=lambda: recording.elapsed,
                        now=lambda: now)
    new = report.new_instance
    assert state(aws, env) == {"address_on": new, "volume_on": new, "instances": {old: "stopped", new: "running"}}
    old_tags = tag_dict(hosts.instance(aws.client("ec2"), old)["Tags"])
    assert old_tags[hosts.RETIRE_TAG] == "2026-12-01T18:00:00+00:00"
    new_tags = tag_dict(hosts.instance(aws.client("ec2"), new)["Tags"])
    assert new_tags[hosts.PREVIOUS_IMAGE_TAG] == amis["v1"] and new_tags["onehost:image-version"] == "v2"
    # The old host let go of /data before the new one took it.
    old_address, new_address = old, new
    assert recording.calls == [("wait_ready", new_address), ("release_data", old_address),
                               ("take_data", new_address), ("healthy", new_address)]
    # From stopping the old stacks to the address move: release, take, check (not the launch).
    assert report.downtime_seconds == 12 + 8 + 2
    assert any(line.endswith("(downtime 22.0 s)") for line in lines)


def test_rollback_restarts_the_kept_instance_of_the_previous_ami(aws, env, amis, serving_v1):
    old, recording = serving_v1
    report = quiet_swap(aws, recording, env, amis["v2"])
    recording.known.add(report.new_instance)
    ec2 = aws.client("ec2")
    assert hosts.previous_image(ec2, env) == amis["v1"]
    lines = []
    back = quiet_swap(aws, recording, env, hosts.previous_image(ec2, env), lines, reuse_standby=True)
    assert back.new_instance == old
    assert lines[0] == f"starting kept instance {old} (AMI {amis['v1']})"
    assert state(aws, env) == {"address_on": old, "volume_on": old,
                               "instances": {old: "running", report.new_instance: "stopped"}}
    assert hosts.RETIRE_TAG not in tag_dict(hosts.instance(ec2, old)["Tags"])


def test_a_new_host_that_fails_its_check_puts_everything_back(aws, env, amis, serving_v1):
    old, recording = serving_v1
    recording.break_new_hosts = True
    before = state(aws, env)
    with pytest.raises(CommandFailed) as failed:
        quiet_swap(aws, recording, env, amis["v2"])
    after = state(aws, env)
    [new] = set(after["instances"]) - {old}
    assert str(failed.value) == (f"swap to AMI {amis['v2']} failed: {new} failed its health check. The data volume "
                                 f"and the address are back on {old}, which serves again; {new} was terminated")
    assert after == {**before, "instances": {old: "running", new: "terminated"}}
    assert recording.calls[-2:] == [("take_data", old), ("healthy", old)]


@pytest.mark.parametrize("first", [True, False])
def test_a_new_host_that_never_answers_is_terminated_and_nothing_moves(aws, env, amis, first):
    """Left running, it would carry the environment's tags and the tag inventory would deploy to it."""
    from onehost.remote.inventory import InventoryError, tagged_hosts
    recording = RecordingHosts()
    if not first:
        report = quiet_swap(aws, recording, env, amis["v1"])
        recording.known = {report.new_instance}
    before = state(aws, env)
    recording.new_hosts_never_answer = True
    with pytest.raises(CommandFailed, match=r"never became ready: .*Permission denied \(publickey\)\. "
                                            r"Nothing was moved; it was terminated"):
        quiet_swap(aws, recording, env, amis["v2"])
    after = state(aws, env)
    [new] = set(after["instances"]) - set(before["instances"])
    assert after == {**before, "instances": {**before["instances"], new: "terminated"}}
    try:
        picked = [name for name, _ in tagged_hosts(aws.client("ec2"), {"project": PROJECT,
                                                                       "environment": ENVIRONMENT}, "eu-west-1")]
    except InventoryError:
        picked = []
    assert new not in picked
    assert [call for call, _ in recording.calls][-1] == "wait_ready"  # nothing released, nothing taken


def test_the_command_refuses_a_launch_with_no_login_before_anything_starts(aws, env, amis, capsys, tmp_path):
    assert main(["hosts", "launch", "--project", PROJECT, "--ami", amis["v1"],
                 "--ssh-key", str(tmp_path / "no-such-key")]) == 1
    assert "the new host would have no login" in capsys.readouterr().err
    assert state(aws, env)["instances"] == {}


def test_an_ami_that_does_not_exist_launches_nothing(aws, env, amis, serving_v1):
    before = state(aws, env)
    with pytest.raises(CommandFailed, match="AMI ami-0123456789abcdef0 does not exist in eu-west-1"):
        quiet_swap(aws, serving_v1[1], env, "ami-0123456789abcdef0")
    assert state(aws, env) == before


def test_swapping_to_the_serving_ami_is_refused(aws, env, amis, serving_v1):
    with pytest.raises(CommandFailed, match=f"{serving_v1[0]} already serves AMI {amis['v1']}"):
        quiet_swap(aws, serving_v1[1], env, amis["v1"])


def test_retire_terminates_only_instances_past_their_keep_time(aws, env, amis, serving_v1):
    old, recording = serving_v1
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    quiet_swap(aws, recording, env, amis["v2"], keep_hours=6, now=lambda: now)
    ec2 = aws.client("ec2")
    assert hosts.retire(ec2, env, now + timedelta(hours=5), say=lambda line: None) == []
    assert hosts.retire(ec2, env, now + timedelta(hours=6), say=lambda line: None) == [old]
    assert state(aws, env)["instances"][old] == "terminated"


def test_the_command_lists_the_instances(aws, env, amis, serving_v1, capsys):
    assert main(["hosts", "list", "--project", PROJECT]) == 0
    printed = capsys.readouterr().out
    assert serving_v1[0] in printed and "serving" in printed and "v1" in printed


def test_no_stack_is_a_clear_error(aws, capsys):
    assert main(["hosts", "list", "--project", "nothing"]) == 1
    assert "stack nothing-production does not exist: run `onehost stack deploy` first" in capsys.readouterr().err


def test_no_credentials_is_a_clear_error(aws, monkeypatch, tmp_path, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["hosts", "swap", "--ami", "ami-1", "--server-name", "api.example.com"]) == 1
    assert "error: no AWS credentials" in capsys.readouterr().err


def test_a_launch_pins_the_host_keys_from_the_console_and_the_inventory_trusts_only_them(aws, env, amis):
    from onehost.remote.inventory import tagged_hosts
    report = quiet_swap(aws, RecordingHosts(), env, amis["v1"])
    tags = tag_dict(hosts.instance(aws.client("ec2"), report.new_instance)["Tags"])
    assert tags["onehost:ssh-host-key:ssh-ed25519"] == "AAAAC3NzaC1lZDI1NTE5AAAAIExampleHostKey"
    assert tags["onehost:ssh-host-key:ecdsa-sha2-nistp256"].startswith("AAAAE2VjZHNh")
    [(name, data)] = tagged_hosts(aws.client("ec2"), {"project": PROJECT, "environment": ENVIRONMENT},
                                  "eu-west-1", environ={})
    assert name == data["ssh_hostname"] == report.new_instance
    assert data["ssh_strict_host_key_checking"] == "yes"
    with open(data["ssh_known_hosts_file"]) as known:
        assert known.read() == (
            f"{name} ecdsa-sha2-nistp256 {tags['onehost:ssh-host-key:ecdsa-sha2-nistp256']}\n"
            f"{name} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleHostKey\n")
    with open(data["ssh_config_file"]) as config:
        assert (f"ProxyCommand aws ec2-instance-connect open-tunnel --instance-id {name} --region eu-west-1 "
                f"--max-tunnel-duration 3600"
                in config.read())


def test_a_host_whose_console_never_shows_its_keys_is_terminated(aws, env, amis):
    """moto's own GetConsoleOutput text has no key block: what an AMI without cloud-init shows."""
    before = state(aws, env)
    with pytest.raises(CommandFailed, match=r"never became ready: no SSH host keys on i-\w+'s console after 0 s "
                                            r".*Nothing was moved; it was terminated"):
        quiet_swap(aws, RecordingHosts(), env, amis["v1"], read_console=hosts.console_text, console_timeout=0)
    after = state(aws, env)
    [new] = set(after["instances"]) - set(before["instances"])
    assert after == {**before, "instances": {**before["instances"], new: "terminated"}}


def test_an_instance_without_pinned_keys_is_not_deployed_to(aws, env, amis):
    """An instance launched by other means: the inventory refuses it and names the fix."""
    from onehost.remote.inventory import InventoryError, tagged_hosts
    ec2 = aws.client("ec2")
    ec2.run_instances(ImageId=amis["v1"], MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": "project", "Value": PROJECT},
                                             {"Key": "environment", "Value": ENVIRONMENT}]}])
    with pytest.raises(InventoryError, match=r"has no pinned SSH host key .*onehost hosts pin-keys --instance-id"):
        tagged_hosts(ec2, {"project": PROJECT, "environment": ENVIRONMENT}, "eu-west-1", environ={})


def test_pin_keys_records_the_console_keys_of_running_instances_once(aws, env, amis):
    ec2 = aws.client("ec2")
    [item] = ec2.run_instances(ImageId=amis["v1"], MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": "project", "Value": PROJECT},
                                             {"Key": "environment", "Value": ENVIRONMENT}]}])["Instances"]
    lines = []
    pinned = hosts.pin_environment_keys(ec2, env, say=lines.append, read_console=console_with_keys)
    assert pinned == [item["InstanceId"]]
    assert hosts.pin_environment_keys(ec2, env, say=lines.append, read_console=console_with_keys) == []
    assert lines[-1] == f"{item['InstanceId']}: host keys already pinned"


def test_a_swap_from_a_host_without_pinned_keys_launches_nothing(aws, env, amis, serving_v1):
    old, recording = serving_v1
    ec2 = aws.client("ec2")
    ec2.delete_tags(Resources=[old], Tags=[{"Key": "onehost:ssh-host-key:ssh-ed25519"},
                                           {"Key": "onehost:ssh-host-key:ecdsa-sha2-nistp256"}])
    before = state(aws, env)
    with pytest.raises(CommandFailed, match=f"{old} has no pinned SSH host key: run `onehost hosts pin-keys`"):
        quiet_swap(aws, recording, env, amis["v2"])
    assert state(aws, env) == before

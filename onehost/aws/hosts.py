"""`onehost hosts`: the environment's EC2 instance, launched from an AMI and swapped for another.

    onehost hosts launch --ami AMI        the first host: launch, attach the data volume (a blank
                                          one is formatted), take the Elastic IP
    onehost hosts swap --ami AMI          serve from a new instance of another AMI (OS patches)
    onehost hosts rollback [--ami AMI]    swap back to the AMI served before (or a named one)
    onehost hosts retire                  terminate stopped old instances past their keep time
    onehost hosts list                    the environment's instances
    onehost hosts pin-keys                record host keys from the console of instances without them

The data volume, the Elastic IP, the security group and the instance profile come from the
environment's stack (`onehost stack deploy`). A swap:

    1. launches the new instance (IMDSv2 only, hop limit 1, standard CPU credits), which gets the
       operator's public key from cloud-init; reads the host keys cloud-init prints to its
       console and pins them in its tags (onehost.commands.reach); waits for SSH and the end of its boot;
    2. stops the stacks on the old one and unmounts /data        <- downtime starts
    3. moves the data volume to the new instance, which mounts it and starts the stacks;
    4. checks /health/ through the new host's nginx;
    5. moves the Elastic IP                                       <- downtime ends
    6. stops the old instance and keeps it, for rollback, until its retire-after tag.

A new instance that never answers (1) is terminated: nothing the tag inventory would pick is
left behind. When the new host fails (3 or 4), the volume and the address go back to the old
instance, its stacks start again, and the new instance is terminated. Rollback restarts the kept instance of
the earlier AMI when there is one, and launches a new one from that AMI when not.

Each step is a boto3 call and a waiter; the host side (SSH, the health check) is `SshHosts`,
which reaches instances by id through the Instance Connect Endpoint (or --reach public/private)
and runs the scripts of onehost/commands/data_volume.py; the first boot's user data is
onehost/commands/cloud_config.py's.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from onehost.aws.amis import PREVIOUS_IMAGE_TAG
from onehost.aws.clients import table, tag_dict, tag_list
from onehost.aws.stack import describe, outputs_of, stack_name
from onehost.commands import cloud_config, data_volume, reach
from onehost.commands.compose_commands import edge_health_check
from onehost.commands.host_defaults import DATA_DIR
from onehost.local.shell import CommandFailed
from onehost.remote.session import HostSession
from onehost.remote.ssh_files import SshFiles

RETIRE_TAG = "onehost:retire-after"
STACK_OUTPUTS = ("SecurityGroupId", "InstanceProfileArn", "DataVolumeId", "ElasticIpAllocationId",
                 "AvailabilityZone", "ElasticIp")


@dataclass(frozen=True)
class Environment:
    """One environment's long-lived resources, from its stack's outputs."""
    project: str
    name: str
    security_group_id: str
    instance_profile_arn: str
    data_volume_id: str
    allocation_id: str
    availability_zone: str
    address: str
    subnet_id: str | None = None  # stacks made before SubnetId was an output: the default VPC


@dataclass
class SwapReport:
    new_instance: str
    old_instance: str | None
    downtime_seconds: float | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)


# --- pure ------------------------------------------------------------------------

def environment_from(project: str, name: str, outputs: dict[str, str]) -> Environment:
    missing = [key for key in STACK_OUTPUTS if not outputs.get(key)]
    if missing:
        raise CommandFailed(f"stack {stack_name(project, name)} has no output {', '.join(missing)}: "
                            "run `onehost stack deploy` first")
    return Environment(project=project, name=name, security_group_id=outputs["SecurityGroupId"],
                       instance_profile_arn=outputs["InstanceProfileArn"],
                       data_volume_id=outputs["DataVolumeId"], allocation_id=outputs["ElasticIpAllocationId"],
                       availability_zone=outputs["AvailabilityZone"], address=outputs["ElasticIp"],
                       subnet_id=outputs.get("SubnetId") or None)


def instance_tags(env: Environment, image: dict, previous_image: str | None) -> dict[str, str]:
    """The inventory finds hosts by project, environment and role (ONEHOST_TAGS)."""
    image_tags = tag_dict(image.get("Tags"))
    tags = {"Name": f"{env.project}-{env.name}", "project": env.project, "environment": env.name,
            "role": "app", "onehost:image-id": image["ImageId"],
            "onehost:image-version": image_tags.get("onehost:version", image.get("Name", "-"))}
    if previous_image:
        tags[PREVIOUS_IMAGE_TAG] = previous_image
    return tags


def run_request(env: Environment, image_id: str, instance_type: str, key_name: str | None,
                tags: dict[str, str], public_keys: tuple[str, ...] = (), cpu_credits: str = "standard") -> dict:
    """ec2.run_instances arguments for a host of this environment."""
    request = {
        "ImageId": image_id, "InstanceType": instance_type, "MinCount": 1, "MaxCount": 1,
        "IamInstanceProfile": {"Arn": env.instance_profile_arn},
        "SecurityGroupIds": [env.security_group_id],
        "Placement": {"AvailabilityZone": env.availability_zone},
        # IMDSv2 only, one hop: the role's credentials stay on the host (the agent and the
        # backup run there); a container's request crosses a second hop and gets no answer
        # (EC2 User Guide, "Configure the instance metadata options": hop limit).
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
        # T3 instances launch in Unlimited mode unless told, and surplus credits are billed
        # (EC2 User Guide, "Burstable performance instances": unlimited is the T3 default).
        "CreditSpecification": {"CpuCredits": cpu_credits},
        "UserData": cloud_config.user_data(list(public_keys)),
        "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list(tags)},
                              {"ResourceType": "volume", "Tags": tag_list(tags)}],
    }
    if env.subnet_id:  # the stack's subnet, in the data volume's zone; else the default VPC's
        request["SubnetId"] = env.subnet_id
    if key_name:
        request["KeyName"] = key_name
    return request


def retire_after(now: datetime, keep_hours: float) -> str:
    return (now + timedelta(hours=keep_hours)).replace(microsecond=0).isoformat()


def due_for_retirement(instances: list[dict], now: datetime) -> list[dict]:
    """Stopped instances whose retire-after time has passed."""
    due = []
    for instance in instances:
        stamp = tag_dict(instance.get("Tags")).get(RETIRE_TAG)
        if instance["State"]["Name"] == "stopped" and stamp and datetime.fromisoformat(stamp) <= now:
            due.append(instance)
    return due


# --- the host side ----------------------------------------------------------------------

class SshHosts:
    """What a swap does on the hosts themselves, over SSH as the admin user. A target is what
    `connection` turns into (hostname, the inventory's connection settings): an EC2 instance
    for `onehost hosts` (`instance_connection`), an address with fixed settings otherwise."""

    def __init__(self, server_name: str, tls: bool, ssh_data: dict | None = None, connection=None,
                 ready_timeout: float = 600, health_attempts: int = 60):
        """ssh_data: fixed connection settings (ssh_user, ssh_key, ssh_port, ...) for every target."""
        self.server_name, self.tls = server_name, tls
        self.connection = connection or (lambda target: (target, ssh_data or {}))
        self.last_error = ""
        self.ready_timeout, self.health_attempts = ready_timeout, health_attempts

    def run(self, target, script: str, timeout: float = 300) -> None:
        """The script as root on the host; a failure carries its last lines of stderr."""
        HostSession(*self.connection(target)).run(script, capture=True, timeout=timeout)

    def wait_ready(self, target) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                self.run(target, "systemctl is-system-running --wait >/dev/null || true", timeout=120)
                return
            except CommandFailed as error:
                if time.monotonic() > deadline:
                    raise CommandFailed(f"{name_of(target)} did not answer SSH in {self.ready_timeout:.0f} s: "
                                        f"{error}") from None
                time.sleep(5)

    def release_data(self, target) -> None:
        self.run(target, data_volume.release_data_script())

    def take_data(self, target, volume_id: str) -> None:
        self.run(target, data_volume.take_data_script(volume_id))

    def healthy(self, target) -> bool:
        """/health/ through the host's nginx, retried; why it failed is kept in `last_error`."""
        check = shlex.join(edge_health_check(self.server_name, self.tls, self.health_attempts))
        try:
            self.run(target, check, timeout=self.health_attempts * 7 + 30)
            return True
        except CommandFailed as error:
            self.last_error = str(error).splitlines()[-1]  # curl's reason
            return False


def name_of(target) -> str:
    return target["InstanceId"] if isinstance(target, dict) else str(target)


def instance_connection(files: SshFiles, mode: str, region: str):
    """SshHosts' connection for EC2 instances: by id, with their pinned host keys."""
    def connect(item: dict) -> tuple[str, dict]:
        try:
            data = files.add(reach.host_entry(item, mode, region))
        except reach.ReachError as error:
            raise CommandFailed(str(error)) from None
        files.write()
        return item["InstanceId"], data
    return connect


# --- AWS ---------------------------------------------------------------------------

def load_environment(cfn, project: str, name: str) -> Environment:
    stack = describe(cfn, stack_name(project, name))
    if stack is None:
        raise CommandFailed(f"stack {stack_name(project, name)} does not exist: run `onehost stack deploy` first")
    return environment_from(project, name, outputs_of(stack))


def find_image(ec2, image_id: str) -> dict:
    from botocore.exceptions import ClientError
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as error:
        if "InvalidAMIID" not in str(error):
            raise
        images = []
    if not images or images[0].get("State", "available") != "available":
        raise CommandFailed(f"AMI {image_id} does not exist in {ec2.meta.region_name} (or is not available): "
                            "`onehost amis list` shows the host images; bake one with `packer build packer/`")
    return images[0]


def environment_instances(ec2, env: Environment, states=("pending", "running", "stopping", "stopped")) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:project", "Values": [env.project]}, {"Name": "tag:environment", "Values": [env.name]},
        {"Name": "instance-state-name", "Values": list(states)}])
    return [item for page in pages for reservation in page["Reservations"] for item in reservation["Instances"]]


def instance(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def serving_instance(ec2, env: Environment) -> dict | None:
    """The instance the Elastic IP points at."""
    [address] = ec2.describe_addresses(AllocationIds=[env.allocation_id])["Addresses"]
    return instance(ec2, address["InstanceId"]) if address.get("InstanceId") else None


def console_text(ec2, instance_id: str) -> str:
    """The instance's serial console, as GetConsoleOutput returns it (boto3 decodes the base64).
    `Latest` gives the newest output but only on Nitro instance types (t3 is one); others answer
    UnsupportedOperation and give the buffered output (EC2 API Reference, GetConsoleOutput)."""
    from botocore.exceptions import ClientError
    try:
        return ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "UnsupportedOperation":
            raise
        return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""


def pin_host_keys(ec2, item: dict, read_console=None, timeout: float = 600, interval: float = 5,
                  clock=time.monotonic, sleep=time.sleep) -> dict:
    """The instance with its SSH host keys in its tags: kept when it has them, else read from
    the keys cloud-init prints to the console at first boot (polled until `timeout`)."""
    if reach.pinned_keys(tag_dict(item.get("Tags"))):
        return item
    instance_id = item["InstanceId"]
    read_console = read_console or console_text  # looked up now: the tests' EC2 stand-in replaces it
    deadline = clock() + timeout
    while not (keys := reach.console_host_keys(read_console(ec2, instance_id))):
        if clock() > deadline:
            raise CommandFailed(f"no SSH host keys on {instance_id}'s console after {timeout:.0f} s (cloud-init "
                                f"prints them at first boot, between {reach.BEGIN_KEYS} and its END line): "
                                "is cloud-init in the AMI?")
        sleep(interval)
    ec2.create_tags(Resources=[instance_id], Tags=tag_list(reach.host_key_tags(keys)))
    return instance(ec2, instance_id)


def volume_holder(ec2, volume_id: str) -> str | None:
    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    attached = [item for item in volume.get("Attachments", []) if item["State"] in ("attaching", "attached")]
    return attached[0]["InstanceId"] if attached else None


def move_volume(ec2, volume_id: str, to_instance: str) -> None:
    holder = volume_holder(ec2, volume_id)
    if holder == to_instance:
        return
    if holder:
        ec2.detach_volume(VolumeId=volume_id, InstanceId=holder)
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    ec2.attach_volume(VolumeId=volume_id, InstanceId=to_instance, Device=data_volume.DEVICE)
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": 2, "MaxAttempts": 150})


def move_address(ec2, env: Environment, to_instance: str) -> None:
    ec2.associate_address(AllocationId=env.allocation_id, InstanceId=to_instance, AllowReassociation=True)


def start_instance(ec2, instance_id: str) -> dict:
    ec2.start_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    return instance(ec2, instance_id)


def stop_instance(ec2, instance_id: str) -> None:
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120})


def launch_instance(ec2, env: Environment, image: dict, instance_type: str, key_name: str | None,
                    previous_image: str | None, public_keys: tuple[str, ...] = (),
                    cpu_credits: str = "standard") -> dict:
    request = run_request(env, image["ImageId"], instance_type, key_name,
                          instance_tags(env, image, previous_image), public_keys, cpu_credits)
    instance_id = ec2.run_instances(**request)["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    return instance(ec2, instance_id)


def standby_instance(ec2, env: Environment, image_id: str) -> dict | None:
    """A kept (stopped) instance of this environment launched from `image_id`, newest first."""
    kept = [item for item in environment_instances(ec2, env, states=("stopped",)) if item["ImageId"] == image_id]
    return max(kept, key=lambda item: item["LaunchTime"]) if kept else None


def swap(ec2, hosts, env: Environment, image_id: str, *, instance_type: str = "t3.micro",
         key_name: str | None = None, public_keys: tuple[str, ...] = (), cpu_credits: str = "standard",
         keep_hours: float = 24, reuse_standby: bool = False, check_health: bool = True, say=print,
         read_console=None, console_timeout: float = 600,
         clock=time.monotonic, now=lambda: datetime.now(UTC)) -> SwapReport:
    """Serve from an instance of `image_id`; put everything back if it fails."""
    image = find_image(ec2, image_id)
    old = serving_instance(ec2, env)
    if old and old["ImageId"] == image_id:
        raise CommandFailed(f"{old['InstanceId']} already serves AMI {image_id}: nothing to swap")
    if old and not reach.pinned_keys(tag_dict(old.get("Tags"))):
        # Found out now, not after a new instance is up: the old host must be reached to stop it.
        raise CommandFailed(f"{old['InstanceId']} has no pinned SSH host key: run `onehost hosts pin-keys` "
                            "first (it reads the keys from the instance's console)")
    standby = standby_instance(ec2, env, image_id) if reuse_standby else None
    started = clock()
    if standby:
        say(f"starting kept instance {standby['InstanceId']} (AMI {image_id})")
        new = start_instance(ec2, standby["InstanceId"])
    else:
        say(f"launching an instance of AMI {image_id} ({image.get('Name', '')}) in {env.availability_zone}")
        new = launch_instance(ec2, env, image, instance_type, key_name, old["ImageId"] if old else None,
                              public_keys, cpu_credits)
    report = SwapReport(new_instance=new["InstanceId"], old_instance=old["InstanceId"] if old else None)
    report.steps.append(("new instance running", clock() - started))
    try:
        new = pin_host_keys(ec2, new, read_console, timeout=console_timeout)
        hosts.wait_ready(new)
    except Exception as error:
        # Nothing has moved yet; a launched instance left running would carry the environment's
        # tags, and the tag inventory would deploy to it with /data unmounted.
        abandon(ec2, new["InstanceId"], kept=bool(standby))
        raise CommandFailed(f"{new['InstanceId']} never became ready: {error}. Nothing was moved; it was "
                            + ("stopped again" if standby else "terminated")) from None
    report.steps.append(("new instance answers SSH", clock() - started))
    say(f"{new['InstanceId']} is up and answers SSH with its pinned host key")
    downtime_start = clock()
    try:
        if old:
            say(f"stopping the stacks on {old['InstanceId']} and unmounting {DATA_DIR} (downtime starts)")
            hosts.release_data(old)
        say(f"moving data volume {env.data_volume_id} to {new['InstanceId']}")
        move_volume(ec2, env.data_volume_id, new["InstanceId"])
        hosts.take_data(new, env.data_volume_id)
        if check_health:
            say(f"checking /health/ on {new['InstanceId']}")
            require_healthy(hosts, new)
    except Exception as error:
        put_back(ec2, hosts, env, old, new, kept=bool(standby), say=say)
        where = f"{old['InstanceId']}, which serves again" if old else "nothing (there was no old instance)"
        raise CommandFailed(f"swap to AMI {image_id} failed: {error}. The data volume and the address are "
                            f"back on {where}; {new['InstanceId']} was "
                            + ("stopped again" if standby else "terminated")) from None
    move_address(ec2, env, new["InstanceId"])
    report.downtime_seconds = clock() - downtime_start
    report.steps.append(("serving from the new instance", clock() - started))
    say(f"Elastic IP {env.address} now points at {new['InstanceId']} (downtime {report.downtime_seconds:.1f} s)")
    if old:
        stop_instance(ec2, old["InstanceId"])
        until = retire_after(now(), keep_hours)
        ec2.create_tags(Resources=[old["InstanceId"]], Tags=tag_list({RETIRE_TAG: until}))
        say(f"{old['InstanceId']} is stopped and kept until {until} for rollback "
            "(`onehost hosts rollback`; `onehost hosts retire` terminates it after that)")
    ec2.delete_tags(Resources=[new["InstanceId"]], Tags=[{"Key": RETIRE_TAG}])
    return report


def abandon(ec2, instance_id: str, kept: bool) -> None:
    """A new host that is not used: a kept one is stopped again, a launched one terminated."""
    if kept:
        stop_instance(ec2, instance_id)
    else:
        ec2.terminate_instances(InstanceIds=[instance_id])


def put_back(ec2, hosts, env: Environment, old: dict | None, new: dict, kept: bool, say) -> None:
    """Undo a failed swap: the volume and the address to the old instance, its stacks up again,
    the new instance gone. Each step runs even when one before it failed; what failed is named."""
    failures = []

    def attempt(what, action):
        try:
            action()
        except Exception as error:  # noqa: BLE001 - every undo step runs; failures are reported together
            failures.append(f"{what}: {error}")

    say(f"putting everything back on {old['InstanceId'] if old else 'no instance'}")
    attempt("stop the new host's stacks", lambda: hosts.release_data(new))
    if old:
        attempt("move the data volume back", lambda: move_volume(ec2, env.data_volume_id, old["InstanceId"]))
        attempt("start the old host's stacks", lambda: hosts.take_data(old, env.data_volume_id))
        attempt("point the Elastic IP at the old host", lambda: move_address(ec2, env, old["InstanceId"]))
        attempt("check the old host's /health/", lambda: require_healthy(hosts, old))
    else:
        attempt("detach the data volume", lambda: move_volume_off(ec2, env.data_volume_id))
    attempt("stop the kept instance again" if kept else "terminate the new instance",
            lambda: abandon(ec2, new["InstanceId"], kept))
    if failures:
        raise CommandFailed("the swap failed and putting it back failed too: " + "; ".join(failures)
                            + f". Data volume {env.data_volume_id}, Elastic IP {env.address}: check them "
                              "in the EC2 console")


def require_healthy(hosts, item: dict) -> None:
    if not hosts.healthy(item):
        detail = getattr(hosts, "last_error", "")
        raise CommandFailed(f"{item['InstanceId']} failed its health check" + (f" ({detail})" if detail else ""))


def move_volume_off(ec2, volume_id: str) -> None:
    holder = volume_holder(ec2, volume_id)
    if holder:
        ec2.detach_volume(VolumeId=volume_id, InstanceId=holder)
        ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig={"Delay": 2, "MaxAttempts": 150})


def previous_image(ec2, env: Environment) -> str:
    serving = serving_instance(ec2, env)
    if serving is None:
        raise CommandFailed(f"no instance serves {env.project}-{env.name} (Elastic IP {env.address}): "
                            "launch one with `onehost hosts launch --ami AMI`")
    previous = tag_dict(serving.get("Tags")).get(PREVIOUS_IMAGE_TAG)
    if not previous:
        raise CommandFailed(f"{serving['InstanceId']} records no previous AMI: name one with --ami")
    return previous


def pin_environment_keys(ec2, env: Environment, instance_id: str | None = None, timeout: float = 30,
                         say=print, read_console=None) -> list[str]:
    """Pin the host keys of running instances launched without them (or by other means)."""
    running = environment_instances(ec2, env, states=("running",))
    if instance_id:
        running = [item for item in running if item["InstanceId"] == instance_id]
        if not running:
            raise CommandFailed(f"{instance_id} is not a running instance of {env.project}-{env.name}")
    pinned = []
    for item in running:
        if reach.pinned_keys(tag_dict(item.get("Tags"))):
            say(f"{item['InstanceId']}: host keys already pinned")
            continue
        keys = reach.pinned_keys(tag_dict(pin_host_keys(ec2, item, read_console, timeout=timeout).get("Tags")))
        say(f"{item['InstanceId']}: pinned {', '.join(sorted(keys))} from its console")
        pinned.append(item["InstanceId"])
    return pinned


def retire(ec2, env: Environment, now: datetime, say=print) -> list[str]:
    due = due_for_retirement(environment_instances(ec2, env, states=("stopped",)), now)
    ids = [item["InstanceId"] for item in due]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    say(f"terminated {', '.join(ids)}" if ids else "no stopped instance is past its keep time")
    return ids


def instance_note(item: dict, serving: dict | None) -> str:
    if serving and serving["InstanceId"] == item["InstanceId"]:
        return "serving"
    until = tag_dict(item.get("Tags")).get(RETIRE_TAG)
    return f"kept until {until}" if until else ""


def listing(ec2, env: Environment) -> str:
    serving = serving_instance(ec2, env)
    found = sorted(environment_instances(ec2, env), key=lambda item: item["LaunchTime"], reverse=True)
    if not found:
        return f"no instances of {env.project}-{env.name}"
    rows = [[item["InstanceId"], item["State"]["Name"], item["ImageId"],
             tag_dict(item.get("Tags")).get("onehost:image-version", "-"),
             item["LaunchTime"].strftime("%Y-%m-%d %H:%M"), instance_note(item, serving)] for item in found]
    return table(["INSTANCE", "STATE", "AMI", "VERSION", "LAUNCHED", ""], rows)

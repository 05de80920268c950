"""An EC2 stand-in: each instance moto launches boots for real as a local instance.

moto answers the EC2 API but boots nothing. This backs it, the way a hypervisor would: a thread
watches moto and, for each instance, runs a container of the baked image (the AMI's local
twin), given a NoCloud seed made from what RunInstances was given (its user-data, its id), so
cloud-init delivers the login key and prints the host keys to the console as on EC2. A stopped
instance's container stops, a started one starts, a terminated one is removed. An attached EBS
volume is a sparse file behind a loop device that appears in the instance as Nitro names it
(/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol...), and disappears when detached.

What the tools reach by AWS's own means reaches these instances the same way:
- SSH through `aws ec2-instance-connect open-tunnel` (tests/standin_bin/aws, first on PATH),
  which finds each instance's SSH port in the file `tunnels`;
- the console through `console_output` (moto's GetConsoleOutput answers one fixed text).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from pathlib import Path

from onehost.local import instance as local_instance
from onehost.local.shell import CommandFailed

STANDIN_BIN = Path(__file__).parent / "standin_bin"


def create_command(name: str, image: str) -> list[str]:
    """The local instance's container, as EC2 would have it: no /data of its own (the data volume
    is attached, as a block device), SSH on a free port of 127.0.0.1, and leave to make loop
    devices (major 7), which stand for the attached volumes."""
    config = local_instance.InstanceConfig(name=name, image=image, ssh_port=0, http_port=0, https_port=0)
    options = local_instance.container_options(config)
    data = options.index(f"{config.data_volume}:/data")
    del options[data - 1:data + 1]
    at_image = options.index(image)
    return ["docker", "create", *options[:at_image], "--device-cgroup-rule", "b 7:* rmw", *options[at_image:]]


class Ec2StandIn:
    def __init__(self, ec2, image: str, workdir: Path, prefix: str | None = None):
        # Two test runs on one machine keep to their own containers.
        self.ec2, self.image, self.workdir = ec2, image, workdir
        self.prefix = prefix or f"onehost-ec2-{os.getpid()}"
        self.tunnels = workdir / "tunnels.json"
        self.errors: list[str] = []
        self.ports: dict[str, int] = {}
        self.loops: dict[str, str] = {}          # volume id -> /dev/loopN on this machine
        self.attached: dict[str, str] = {}       # volume id -> instance id it shows in
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.tunnels.write_text("{}")

    # --- what the tests use -----------------------------------------------------

    def environ(self) -> dict:
        """The environment in which `aws ... open-tunnel` is the stand-in's."""
        return {"PATH": f"{STANDIN_BIN}{os.pathsep}{os.environ['PATH']}",
                "ONEHOST_STANDIN_TUNNELS": str(self.tunnels)}

    def container(self, instance_id: str) -> str:
        return f"{self.prefix}-{instance_id}"

    def console_output(self, ec2, instance_id: str) -> str:
        """GetConsoleOutput's stand-in: the container's console is its TTY, which docker logs keeps.
        Before the instance boots there is none yet, and EC2 answers an empty output."""
        try:
            return local_instance.console_output(local_instance.InstanceConfig(name=self.container(instance_id)))
        except CommandFailed:
            return ""

    def inner(self, instance_id: str, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", self.container(instance_id), *command],
                              capture_output=True, text=True, timeout=120)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        for name in self._containers():
            self._remove(name)
        for loop in self.loops.values():
            subprocess.run(["losetup", "--detach", loop], capture_output=True)

    # --- the hypervisor ------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception as error:  # noqa: BLE001 - kept for the test to show; the loop goes on
                self.errors.append(repr(error))
            self._stop.wait(0.3)

    def _containers(self) -> list[str]:
        result = subprocess.run(["docker", "ps", "--all", "--format", "{{.Names}}",
                                 "--filter", f"name=^{self.prefix}-"], capture_output=True, text=True)
        return result.stdout.split()

    def _state(self, name: str) -> str | None:
        result = subprocess.run(["docker", "inspect", "--format", "{{.State.Status}}", name],
                                capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    def reconcile(self) -> None:
        reservations = self.ec2.describe_instances()["Reservations"]
        for item in (item for reservation in reservations for item in reservation["Instances"]):
            self._follow(item["InstanceId"], item["State"]["Name"])
        for volume in self.ec2.describe_volumes()["Volumes"]:
            self._follow_volume(volume)

    def _follow(self, instance_id: str, state: str) -> None:
        name, running = self.container(instance_id), self._state(self.container(instance_id))
        if state in ("pending", "running"):
            if running is None:
                self._create(instance_id)
            if running != "running":
                subprocess.run(["docker", "start", name], check=True, capture_output=True)
                self._publish_port(instance_id)
        elif state in ("stopping", "stopped") and running == "running":
            subprocess.run(["docker", "stop", "--time", "30", name], check=True, capture_output=True)
            self._forget_devices(instance_id)
        elif state in ("shutting-down", "terminated") and running is not None:
            self._remove(name)
            self._forget_devices(instance_id)

    @staticmethod
    def _remove(name: str) -> None:
        """The container and its root disk: the named volume of its Docker engine goes too, as an
        instance's root EBS volume goes with it (DeleteOnTermination)."""
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "--force",
                        local_instance.InstanceConfig(name=name).docker_volume], capture_output=True)

    def _create(self, instance_id: str) -> None:
        """A new instance: its container, and the NoCloud seed of what RunInstances was given."""
        name = self.container(instance_id)
        attribute = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        user_data = base64.b64decode(attribute.get("UserData", {}).get("Value", "")).decode()
        # The host name Docker gives the container (in its /etc/hosts), as EC2's resolves in the VPC.
        seed = {**local_instance.seed_files(instance_id, name, []), "user-data": user_data}
        subprocess.run(create_command(name, self.image), check=True, capture_output=True)
        local_instance.copy_seed(name, seed)

    def _publish_port(self, instance_id: str) -> None:
        port = subprocess.run(["docker", "port", self.container(instance_id), "22/tcp"],
                              capture_output=True, text=True, check=True).stdout.split()[0].rsplit(":", 1)[1]
        self.ports[instance_id] = int(port)
        self.tunnels.write_text(json.dumps(self.ports))

    def _follow_volume(self, volume: dict) -> None:
        volume_id = volume["VolumeId"]
        holders = [item["InstanceId"] for item in volume.get("Attachments", []) if item["State"] == "attached"]
        shown_in = self.attached.get(volume_id)
        if shown_in and shown_in not in holders:
            self._remove_device(volume_id, shown_in)
        if holders and shown_in != holders[0] and self._state(self.container(holders[0])) == "running":
            self._add_device(volume, holders[0])

    def _loop(self, volume: dict) -> str:
        """The volume's loop device on this machine: a sparse file of the volume's size."""
        volume_id = volume["VolumeId"]
        if volume_id not in self.loops:
            backing = self.workdir / f"{volume_id}.img"
            subprocess.run(["truncate", "--size", f"{volume['Size']}G", str(backing)], check=True)
            self.loops[volume_id] = subprocess.run(["losetup", "--find", "--show", str(backing)], check=True,
                                                   capture_output=True, text=True).stdout.strip()
        return self.loops[volume_id]

    def _add_device(self, volume: dict, instance_id: str) -> None:
        loop = self._loop(volume)
        minor = int(loop.removeprefix("/dev/loop"))
        by_id = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume['VolumeId'].replace('-', '')}"
        script = (f"[ -b {loop} ] || mknod {loop} b 7 {minor}; mkdir -p /dev/disk/by-id; "
                  f"ln -sfn {loop} {by_id}")
        result = self.inner(instance_id, "sh", "-c", script)
        if result.returncode == 0:
            self.attached[volume["VolumeId"]] = instance_id

    def _remove_device(self, volume_id: str, instance_id: str) -> None:
        by_id = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"
        self.inner(instance_id, "sh", "-c", f"rm -f {by_id} {self.loops[volume_id]}")
        del self.attached[volume_id]

    def _forget_devices(self, instance_id: str) -> None:
        """A stopped container loses its /dev (a tmpfs): the device shows again when it starts."""
        for volume_id in [volume for volume, holder in self.attached.items() if holder == instance_id]:
            del self.attached[volume_id]


"""The host side of moving the data volume between instances (`onehost hosts swap`): the shell
scripts the old host runs to let go of /data and the new one runs to take it.

Pure builders: onehost/aws/hosts.py runs them over the host session, tests/unit/test_data_volume.py
runs the mount script under sh with the block tools stubbed.
"""

from onehost.commands.host_defaults import DATA_DIR, DATA_VOLUME_FSTYPE, DATA_VOLUME_LABEL

# The device name the swap attaches the volume under (ec2.attach_volume's Device).
DEVICE = "/dev/sdf"
STOP_STACKS = "docker ps --quiet | xargs --no-run-if-empty docker stop --time 30"
START_STACKS = "systemctl restart onehost-stacks.service"


def mount_data_script(volume_id: str, wait_seconds: int = 120, mount_point: str = DATA_DIR,
                      label: str = DATA_VOLUME_LABEL, fstype: str = DATA_VOLUME_FSTYPE,
                      by_id_dir: str = "/dev/disk/by-id") -> str:
    """Mount the data volume unless it is (the baked fstab mounts it at boot): wait for the
    attached volume, give a new (blank) one its file system, mount it by label, and fail unless
    it is mounted (fstab's nofail makes a failed `mount` succeed). Nitro instances name an EBS
    volume by its id; Xen ones by the attachment's device."""
    by_id = f"{by_id_dir}/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"
    xen = DEVICE.replace("/dev/sd", "/dev/xvd")
    return (f"mountpoint -q {mount_point} || {{ dev={by_id}; "
            f"for _ in $(seq 1 {wait_seconds}); do [ -e \"$dev\" ] || [ -e {xen} ] && break; sleep 1; done; "
            f"[ -e \"$dev\" ] || dev={xen}; "
            f"[ -e \"$dev\" ] || {{ echo \"data volume {volume_id} is not attached\" >&2; exit 1; }}; "
            # blkid(8): exit 2 is "nothing could be identified" (a blank volume); any other failure
            # (4: usage or I/O error, 8: ambivalent probe) must never lead to mkfs.
            f"blkid -p -o value -s TYPE \"$dev\" >/dev/null; found=$?; "
            f"if [ $found -eq 2 ]; then mkfs -t {fstype} -q -L {label} \"$dev\"; "
            "elif [ $found -ne 0 ]; then "
            "echo \"cannot read $dev (blkid exit $found): not formatting it\" >&2; exit 1; fi; "
            # udev makes the by-label link; a container runs no udev (and has no udevadm).
            f"{{ ! command -v udevadm >/dev/null || udevadm settle; }}; "
            f"mount {mount_point}; mountpoint -q {mount_point}; }}")


def unmount_data_script(mount_point: str = DATA_DIR) -> str:
    return f"sync && (! mountpoint -q {mount_point} || umount {mount_point})"


def take_data_script(volume_id: str, wait_seconds: int = 120) -> str:
    """The new host: mount the data volume, then start the stacks (as at boot)."""
    return f"{mount_data_script(volume_id, wait_seconds)} && {START_STACKS}"


def release_data_script() -> str:
    """The old host: stop every container (SIGTERM, then 30 s), then let go of the volume."""
    return f"{STOP_STACKS} && {unmount_data_script()}"

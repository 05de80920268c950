"""A moto server for the aws tier: never real AWS, never real credentials.

Its public AMI list is ours (MOTO_AMIS_PATH): moto's own has no current Debian or Ubuntu.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


DEBIAN_OWNER = "136693071363"
UBUNTU_OWNER = "099720109477"


def public_image(ami_id: str, name: str, owner: str, created: str, root_device: str) -> dict:
    """An official base image as moto loads it from MOTO_AMIS_PATH."""
    return {"ami_id": ami_id, "name": name, "description": name, "owner_id": owner,
            "public": True, "virtualization_type": "hvm", "architecture": "x86_64",
            "state": "available", "platform": None, "image_type": "machine", "hypervisor": "xen",
            "root_device_name": root_device, "root_device_type": "ebs", "sriov": "simple",
            "creation_date": created}


DEBIAN_13_LATEST = public_image("ami-0d13a0000000000b2", "debian-13-amd64-20261101-1234",
                                DEBIAN_OWNER, "2026-11-01T12:34:00.000Z", "/dev/xvda")
DEBIAN_13_OLDER = public_image("ami-0d13a0000000000a1", "debian-13-amd64-20261001-1111",
                               DEBIAN_OWNER, "2026-10-01T11:11:00.000Z", "/dev/xvda")
# Newer than both Debian images: the filter, not the date, must keep it out of a Debian bake.
UBUNTU_24_04 = public_image("ami-0b24a0000000000c3",
                            "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261105",
                            UBUNTU_OWNER, "2026-11-05T00:00:00.000Z", "/dev/sda1")
BASE_IMAGES = [DEBIAN_13_OLDER, DEBIAN_13_LATEST, UBUNTU_24_04]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    amis = tmp_path_factory.mktemp("moto") / "amis.json"
    amis.write_text(json.dumps(BASE_IMAGES))
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                               env={**os.environ, "MOTO_AMIS_PATH": str(amis)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto_server did not start on {endpoint}")
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """A boto3 session whose every client talks to the moto server with fake credentials."""
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.session.Session(region_name=os.environ["AWS_DEFAULT_REGION"])

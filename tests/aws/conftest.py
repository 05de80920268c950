"""A moto server for the aws tier: never real AWS, never real credentials.

Its public AMI list is ours (MOTO_AMIS_PATH): moto's own has no current Debian or Ubuntu.
"""

import json
import os
import urllib.request

import boto3
import pytest

from tests.moto_server import FAKE_CREDENTIALS, moto_server

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


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    amis = tmp_path_factory.mktemp("moto") / "amis.json"
    amis.write_text(json.dumps(BASE_IMAGES))
    with moto_server({"MOTO_AMIS_PATH": str(amis)}) as endpoint:
        yield endpoint


@pytest.fixture
def aws(moto_endpoint, monkeypatch, tmp_path):
    """A boto3 session whose every client talks to the moto server with fake credentials. The
    ssh_config and known_hosts files the inventory writes for EC2 hosts go to the test's folder."""
    monkeypatch.setenv("ONEHOST_STATE_DIR", str(tmp_path / "state"))
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.session.Session(region_name=os.environ["AWS_DEFAULT_REGION"])

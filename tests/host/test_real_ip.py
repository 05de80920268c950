"""CloudFlare mode by behaviour: the edge's http settings (00-http.conf, rendered as the deploy
renders it with cloudflare=true) in a throwaway nginx that answers with the client address it
believes. Requests reach it from the Docker bridge's gateway: trusted when the bridge is added to
the ranges, as CloudFlare's addresses are on a real host; not trusted with the shipped list alone.
"""

import json
import runpy
import subprocess
import urllib.request
import uuid

import jinja2
import pytest

from deploy.tasks import edge
from onehost.commands import cloudflare
from onehost.local import base_images
from onehost.local.instance import wait_until
from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))
ECHO_SITE = """server {
    listen 80 default_server;
    location / { default_type text/plain; return 200 "$remote_addr"; }
}
"""
CLIENT = "203.0.113.7"


@pytest.fixture(scope="module")
def nginx_image():
    return base_images.ensure("nginx")


@pytest.fixture(scope="module")
def bridge_subnet():
    networks = json.loads(subprocess.run(["docker", "network", "inspect", "bridge"], check=True,
                                         capture_output=True, text=True).stdout)
    return networks[0]["IPAM"]["Config"][0]["Subnet"]


@pytest.fixture
def believed_address(nginx_image, tmp_path):
    """Start nginx with `ranges` trusted; return what it believes a CF-Connecting-IP request comes from."""
    containers = []

    def start(ranges: tuple[str, ...]) -> str:
        conf = tmp_path / uuid.uuid4().hex
        conf.mkdir()
        environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(edge.NGINX_TEMPLATES)),
                                         undefined=jinja2.StrictUndefined)
        settings = {key: GROUP_DATA[key] for key in edge.SITE_SETTINGS}
        settings.update(cloudflare=True)
        (conf / "00-http.conf").write_text(environment.get_template("http.conf.j2").render(
            cloudflare_ranges=ranges, cloudflare_ranges_taken="2026-11-25", **settings))
        (conf / "site.conf").write_text(ECHO_SITE)
        name = f"onehost-real-ip-{uuid.uuid4().hex[:8]}"
        containers.append(name)
        subprocess.run(["docker", "run", "--detach", "--name", name, "--publish", "127.0.0.1::80",
                        "--volume", f"{conf}:/etc/nginx/conf.d:ro", nginx_image], check=True,
                       capture_output=True)
        port = subprocess.run(["docker", "port", name, "80/tcp"], check=True, capture_output=True,
                              text=True).stdout.split(":")[-1].strip()

        def answer():
            request = urllib.request.Request(f"http://127.0.0.1:{port}/",
                                             headers={"CF-Connecting-IP": CLIENT})
            try:
                with urllib.request.urlopen(request, timeout=3) as response:
                    return response.read().decode()
            except OSError:
                return None
        return wait_until(answer, f"nginx in {name}", 20)

    yield start
    for name in containers:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)


def test_the_client_address_comes_from_cf_connecting_ip_on_trusted_connections(believed_address,
                                                                                bridge_subnet):
    ranges = cloudflare.shipped_ranges().networks + (bridge_subnet,)
    assert believed_address(ranges) == CLIENT


def test_the_header_is_ignored_from_anywhere_else(believed_address):
    # The request comes from the bridge's gateway, which is not one of CloudFlare's ranges.
    believed = believed_address(cloudflare.shipped_ranges().networks)
    assert believed != CLIENT and believed.startswith(("172.", "10.", "192.168."))

"""An ACME server for the TLS tests: Debian's pebble, with pebble-challtestsrv as its DNS.

Both run in one container that shares the network namespace of an instance container, so
for them the instance's nginx is 127.0.0.1:80, and certbot on the instance reaches the ACME
directory at https://localhost:14000/dir. challtestsrv answers every A query with
127.0.0.1: pebble validates HTTP-01 challenges against the instance's own nginx, for real.
Its own challenge servers are off (port 80 is nginx's).

pebble's HTTPS listener has a certificate from a test CA made here (trustme); certbot trusts
it through the deploy's `acme_ca_bundle`. The CA that signs the issued certificates is
pebble's own, new on every start: `issuing_roots()` fetches it from the management port.
"""

import json
import subprocess
from pathlib import Path

import trustme

from onehost.local import base_images
from onehost.local.instance import wait_until

DIRECTORY_URL = "https://localhost:14000/dir"
MANAGEMENT_URL = "https://localhost:15000"
CONFIG = {
    "pebble": {
        "listenAddress": "0.0.0.0:14000",
        "managementListenAddress": "0.0.0.0:15000",
        "certificate": "/acme/listener.pem",
        "privateKey": "/acme/listener-key.pem",
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
        # pebble's default (5 years) breaks Mozilla's certificate lifespan rule.
        "certificateValidityPeriod": 7776000,
    }
}
# Fast and deterministic: no random validation delay, no authorization reuse (every issuance
# is validated again), no randomly rejected nonces.
ENVIRONMENT = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"}
SERVERS = ('pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 127.0.0.1:8053 '
           '-http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8055 & '
           'exec pebble -config /acme/pebble.json -dnsserver 127.0.0.1:8053')


class AcmeServer:
    def __init__(self, instance_name: str, workdir: Path):
        self.instance_name = instance_name
        self.name = f"{instance_name}-acme"
        self.workdir = workdir
        self.listener_ca = trustme.CA()
        workdir.mkdir(parents=True, exist_ok=True)
        self.listener_ca.cert_pem.write_to_path(str(self.ca_bundle))
        listener = self.listener_ca.issue_cert("localhost", "127.0.0.1")
        listener.cert_chain_pems[0].write_to_path(str(workdir / "listener.pem"))
        listener.private_key_pem.write_to_path(str(workdir / "listener-key.pem"))
        (workdir / "pebble.json").write_text(json.dumps(CONFIG))
        self.image = base_images.ensure("acme")

    @property
    def ca_bundle(self) -> Path:
        """The CA of pebble's HTTPS listener: what the deploy's acme_ca_bundle names."""
        return self.workdir / "listener-ca.pem"

    def start(self) -> None:
        self.stop()
        environment = [arg for key, value in ENVIRONMENT.items() for arg in ("--env", f"{key}={value}")]
        subprocess.run(["docker", "run", "--detach", "--name", self.name,
                        "--network", f"container:{self.instance_name}", *environment,
                        "--volume", f"{self.workdir}:/acme:ro", self.image, "sh", "-c", SERVERS],
                       check=True, capture_output=True)
        wait_until(lambda: self._get(f"{DIRECTORY_URL}").returncode == 0, "pebble's directory", 30)

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], capture_output=True)

    def issuing_roots(self) -> str:
        """pebble's root CA (PEM), for clients that check the issued certificates."""
        result = self._get(f"{MANAGEMENT_URL}/roots/0")
        assert result.returncode == 0, result.stderr
        return result.stdout

    def _get(self, url: str) -> subprocess.CompletedProcess:
        # From inside the instance's network namespace (curl is in the instance image).
        return subprocess.run(["docker", "exec", self.instance_name, "curl", "--silent", "--fail",
                               "--insecure", "--max-time", "5", url],
                              capture_output=True, text=True, timeout=30)

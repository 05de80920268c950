"""A moto server on 127.0.0.1 for the tests: never real AWS, never real credentials."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


def write_credentials_file(path: Path) -> Path:
    """An AWS credentials file with the fake keys, as a host off EC2 would be given."""
    path.write_text(f"[default]\naws_access_key_id = {FAKE_CREDENTIALS['AWS_ACCESS_KEY_ID']}\n"
                    f"aws_secret_access_key = {FAKE_CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server(environ: dict | None = None):
    """Start moto_server on a free port; yield its endpoint URL; stop it afterwards."""
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                               env={**os.environ, **(environ or {})},
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
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def reverse_tunnel(ssh_config: str, host: str, port: str) -> subprocess.Popen:
    """`ssh -R`: the host's 127.0.0.1:<port> reaches this machine's 127.0.0.1:<port> (moto)."""
    return subprocess.Popen(["ssh", "-F", ssh_config, "-N", "-o", "ExitOnForwardFailure=yes",
                             "-R", f"{port}:127.0.0.1:{port}", host],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

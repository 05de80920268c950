"""A request the live colour's Gunicorn is busy with for as long as a test wants: it keeps that
colour running through a retire, as a slow client's upload would."""

import subprocess

# Run inside the instance: a POST on the colour's own Gunicorn socket whose body comes one byte
# every two seconds for as long as this script's stdin stays open. "held" is printed once the
# headers are sent.
HOLD_SCRIPT = """
import socket, sys, threading
connection = socket.socket(socket.AF_UNIX)
connection.connect(sys.argv[1])
connection.sendall(b"POST /api/events/ HTTP/1.1\\r\\nHost: localhost\\r\\nX-Forwarded-Proto: https\\r\\n"
                   b"Content-Type: application/json\\r\\nContent-Length: 4096\\r\\n\\r\\n{")
print("held", flush=True)
closed = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), closed.set()), daemon=True).start()
while not closed.wait(2):
    connection.sendall(b" ")
connection.close()
"""


class HeldRequest:
    """A request on the live colour's own Gunicorn socket, its body dribbled: the sync worker
    reading it is busy until the body ends, and Gunicorn's graceful stop waits for busy workers
    ("Workers still alive after the timeout (starting from the receipt of the restart signal) are
    force killed", https://docs.gunicorn.org/en/stable/settings.html#graceful-timeout; 25 s in
    example/gunicorn.conf.py). So the old colour keeps running after the switch until release()
    closes the connection. The request goes to the socket, not through nginx: nginx reads a body
    whole before it passes the request on (proxy_request_buffering,
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_request_buffering), so a body
    dribbled through nginx never reaches Gunicorn."""

    def __init__(self, instance):
        sockets = "/data/stacks/edge/conf.d/sockets"
        colour_socket = f"{sockets}/{instance.readlink(f'{sockets}/live.sock')}"
        self.process = subprocess.Popen(["docker", "exec", "-i", instance.config.name, "python3", "-c",
                                         HOLD_SCRIPT, colour_socket],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline() == "held\n", f"no request held on {colour_socket}"

    def release(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


def running(instance, container: str) -> bool:
    """The container runs (what a held request keeps the retired colour doing)."""
    result = instance.inner("docker", "inspect", "--format", "{{.State.Running}}", container, check=False)
    return result.stdout.strip() == "true"

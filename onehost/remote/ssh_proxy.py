"""A ProxyCommand that never loses bytes under pyinfra.

pyinfra runs on gevent (pyinfra_cli monkey-patches subprocess), which makes the pipe to a
ProxyCommand's stdin cooperative: a write may take only part of what it is given. paramiko's
ProxyCommand.send writes once and reports the whole length sent (paramiko/proxy.py), so the
rest of an SSH packet is dropped and sshd closes the connection; small commands get through,
an image upload (tens of MB) does not. The tunnel to EC2 hosts is a ProxyCommand
(`aws ec2-instance-connect open-tunnel`, onehost.commands.reach), so every write must be whole.
"""

import select

import paramiko.proxy
from paramiko.ssh_exception import ProxyCommandFailure


def send_everything(self, content) -> int:
    """ProxyCommand.send, writing until all of `content` is in the pipe."""
    view = memoryview(content)
    try:
        while view:
            written = self.process.stdin.write(view)
            if written is None:  # a non-blocking pipe that is full: wait until it drains
                select.select([], [self.process.stdin], [])
                continue
            view = view[written:]
    except OSError as error:
        raise ProxyCommandFailure(" ".join(self.cmd), error.strerror) from error
    return len(content)


def install() -> None:
    paramiko.proxy.ProxyCommand.send = send_everything

"""onehost.remote.ssh_proxy: a ProxyCommand's stdin that takes a few bytes per write (as a gevent pipe
does) still gets every byte, in order."""

import paramiko
import pytest

from onehost.remote import ssh_proxy


class TrickleStdin:
    def __init__(self, per_write: int):
        self.per_write, self.received = per_write, bytearray()

    def write(self, data) -> int:
        taken = bytes(data[:self.per_write])
        self.received += taken
        return len(taken)


class BrokenStdin:
    def write(self, data):
        raise BrokenPipeError(32, "Broken pipe")


def proxy_with(stdin) -> paramiko.ProxyCommand:
    proxy = paramiko.ProxyCommand.__new__(paramiko.ProxyCommand)
    proxy.cmd, proxy.process = ["aws", "ec2-instance-connect", "open-tunnel"], type("P", (), {"stdin": stdin})()
    return proxy


def test_a_partial_write_is_finished_not_dropped():
    stdin = TrickleStdin(per_write=7)
    packet = bytes(range(256)) * 40
    assert ssh_proxy.send_everything(proxy_with(stdin), packet) == len(packet)
    assert bytes(stdin.received) == packet


def test_a_dead_tunnel_is_a_proxy_command_failure():
    with pytest.raises(paramiko.ProxyCommandFailure, match="open-tunnel"):
        ssh_proxy.send_everything(proxy_with(BrokenStdin()), b"x")


def test_the_inventory_installs_it():
    import onehost.remote.inventory  # noqa: F401 - pyinfra loads it through deploy/inventory.py
    assert paramiko.proxy.ProxyCommand.send is ssh_proxy.send_everything

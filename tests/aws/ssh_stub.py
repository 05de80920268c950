"""A stand-in for the builder instance's sshd: accepts one public key, runs nothing.

Packer's communicator only needs to log in; the template's provisioners run on this machine
(shell-local), so a test can replace the moto instance's unreachable SSH with this.
"""

import logging
import socket
import threading

import paramiko

# Packer probes the port before it speaks SSH; paramiko would log each probe as an error.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)


class AcceptOneKey(paramiko.ServerInterface):
    def __init__(self, key: paramiko.PKey, commands: list):
        self.key = key
        self.commands = commands

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        if key.get_base64() == self.key.get_base64():
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        self.commands.append(command.decode())
        channel.send_exit_status(0)
        return True


class SSHStub:
    """Listens on 127.0.0.1:<port> in a daemon thread until closed."""

    def __init__(self, client_key: paramiko.PKey):
        self.client_key = client_key
        self.host_key = paramiko.RSAKey.generate(2048)
        self.commands: list[str] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self.transports.append(transport)
            try:
                transport.start_server(server=AcceptOneKey(self.client_key, self.commands))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    def close(self):
        self.sock.close()
        for transport in self.transports:
            transport.close()

"""The load generator against a local HTTP server: counts, versions, failures, the retry contract, bounds."""

import argparse
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from onehost.cli import load
from onehost.local import loadgen
from onehost.local.loadgen import LoadGenerator, LoadResult

pytestmark = pytest.mark.timeout(30)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive unless the client asks for close

    def setup(self):
        super().setup()
        self.state = {"lock": threading.Lock(), "served": False}
        with self.server.lock:
            self.server.connections[self.connection] = self.state

    def finish(self):
        with self.server.lock:
            self.server.connections.pop(self.connection, None)
        super().finish()

    def do_GET(self):
        self.server.gate.wait(5)
        with self.state["lock"]:
            with self.server.lock:
                self.server.requests += 1
                status, version = self.server.status, self.server.version
            body = json.dumps({"status": "ok", "version": version}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.state["served"] = True

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128   # the default 5 drops SYNs under load: a 1 s connect retransmit

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.gate = threading.Event()   # cleared: requests wait before they are answered
        self.gate.set()
        self.connections: dict[socket.socket, dict] = {}
        self.requests, self.status, self.version = 0, 200, "test-v1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/health/"

    def count(self) -> int:
        with self.lock:
            return self.requests

    def close_idle(self) -> int:
        """What a reload does to keep-alive clients: close connections idle after a response."""
        with self.lock:
            connections = list(self.connections.items())
        closed = 0
        for connection, state in connections:
            if state["served"] and state["lock"].acquire(timeout=1):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                    closed += 1
                except OSError:
                    pass
                finally:
                    state["lock"].release()
        return closed


@pytest.fixture
def server():
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.close_idle()
    server.server_close()
    thread.join(5)


@pytest.fixture
def https_server():
    """The same server behind TLS, with a certificate for timewarp.test from a test CA."""
    ca = trustme.CA()
    server = _Server()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("timewarp.test").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    with ca.cert_pem.tempfile() as ca_file:
        yield server, ca_file
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_https_with_a_server_name_connected_elsewhere(https_server):
    # A domain that is not in DNS: the connection goes to 127.0.0.1, SNI and Host stay the name.
    server, ca_file = https_server
    url = f"https://timewarp.test:{server.server_address[1]}/health/"
    result = loadgen.run_load(url, 1, rate=20, persistent_clients=1, connect_to="127.0.0.1",
                              ca_file=ca_file)
    assert result.sent > 0 and result.failed == 0 and result.versions == ["test-v1"]


def test_https_checks_the_certificate(https_server):
    server, _ = https_server
    url = f"https://timewarp.test:{server.server_address[1]}/health/"
    result = loadgen.run_load(url, 0.5, rate=10, connect_to="127.0.0.1")
    assert result.sent > 0 and result.failed == result.sent


def wait_for(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_counts_add_up_and_versions_switch_in_order(server):
    load = LoadGenerator(server.url, rate=100, max_seconds=10, persistent_clients=2).start()
    try:
        wait_for(lambda: server.count() >= 30)
        # Switch once every v1 answer was received, so that the arrival order is v1 then v2
        # even on a busy machine (in a real deploy, old and new answers may interleave).
        server.gate.clear()
        wait_for(lambda: load.snapshot()["sent"] == server.count())
        with server.lock:
            server.version = "test-v2"
        server.gate.set()
        switched = server.count()
        wait_for(lambda: server.count() >= switched + 30)
    finally:
        result = load.stop()
    assert result.versions == ["test-v1", "test-v2"]
    assert result.sent == result.ok + result.failed == server.count()
    assert result.failed == 0 and result.retried == 0 and result.errors == {}
    assert result.statuses == {200: result.sent}
    assert len(result.latencies_ms) == result.sent
    assert 0 < result.percentile(50) <= result.percentile(99)
    assert result.by_kind["fresh"]["sent"] + result.by_kind["persistent"]["sent"] == result.sent
    assert result.by_kind["fresh"]["sent"] > 0 and result.by_kind["persistent"]["sent"] > 0
    assert result.first_seen("test-v1") < result.first_seen("test-v2") < result.seconds
    assert "versions test-v1 -> test-v2" in result.summary()


def test_non_2xx_counts_as_failed(server):
    server.status = 503
    load = LoadGenerator(server.url, rate=200, max_requests=10, persistent_clients=1).start()
    assert load.wait(5)
    result = load.stop()
    assert (result.sent, result.ok, result.failed) == (10, 0, 10)
    assert result.statuses == {503: 10}
    assert result.errors == {"HTTP 503": 10}
    assert result.versions == []   # an answer that failed does not show its version as live
    assert "failed 10" in result.summary()
    # When the failures arrived: within the run, the first no later than the last.
    first, last = result.failures_seen
    assert result.started_at <= first <= last and result.failure_window() == last - first


def test_a_run_without_failures_has_no_failure_window(server):
    load = LoadGenerator(server.url, rate=200, max_requests=5).start()
    assert load.wait(5)
    result = load.stop()
    assert (result.failed, result.failures_seen, result.failure_window()) == (0, None, 0.0)


def close_idle_under_load(server, load, rounds: int):
    """`rounds` times: 15 more requests, then the server closes its idle kept connections (what an
    nginx reload does); 15 more after the last. (connections closed, the load's result)"""
    closed = 0
    try:
        for _ in range(rounds):
            mark = server.count()
            wait_for(lambda mark=mark: server.count() >= mark + 15)
            closed += server.close_idle()
        mark = server.count()
        wait_for(lambda: server.count() >= mark + 15)
    finally:
        result = load.stop()
    return closed, result


def test_persistent_clients_retry_when_a_reload_closes_idle_connections(server):
    load = LoadGenerator(server.url, rate=120, max_seconds=10, persistent_clients=3).start()
    closed, result = close_idle_under_load(server, load, rounds=4)
    assert closed > 0
    assert result.retried > 0
    assert result.by_kind["persistent"]["retried"] == result.retried
    assert result.failed == 0, result.summary()
    assert result.by_kind["persistent"]["failed"] == 0
    # A retried request reached the server twice: once on the closed connection, once anew
    # (or only once, when the close came before the server read it).
    assert result.sent <= server.count() <= result.sent + result.retried


def test_no_retry_clients_count_each_closed_idle_connection_as_a_failure(server):
    """Python's http.client on a kept connection does not retry: what a reload does to it shows."""
    load = LoadGenerator(server.url, rate=120, max_seconds=10, persistent_clients=3,
                         persistent_share=1.0, persistent_retry=False).start()
    closed, result = close_idle_under_load(server, load, rounds=3)
    assert closed > 0
    assert result.retried == 0
    assert result.failed > 0 and result.by_kind["no_retry"]["failed"] == result.failed
    assert result.by_kind["no_retry"]["sent"] == result.sent


def test_a_dead_port_fails_fast(server):
    url = f"http://127.0.0.1:{free_port()}/health/"
    load = LoadGenerator(url, rate=200, max_requests=20, persistent_clients=2, timeout=2).start()
    assert load.wait(5), "a refused connection must not hang the run"
    result = load.stop()
    assert (result.sent, result.ok, result.failed, result.retried) == (20, 0, 20, 0)
    assert result.errors == {"ConnectionRefusedError": 20}
    assert result.versions == [] and result.statuses == {}


def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:   # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        start = time.monotonic()
        load = LoadGenerator(url, rate=50, max_requests=4, timeout=0.3).start()
        assert load.wait(5)
        result = load.stop()
    assert (result.sent, result.failed) == (4, 4)
    assert result.errors == {"timeout": 4}
    assert time.monotonic() - start < 3


def test_max_requests_bounds_the_run(server):
    load = LoadGenerator(server.url, rate=200, max_seconds=60, max_requests=15, persistent_clients=2).start()
    assert load.wait(5)
    result = load.stop()
    assert result.sent == server.count() == 15
    assert result.seconds < 2


@pytest.mark.parametrize("max_requests", [None, 1000])
def test_max_seconds_bounds_the_run(server, max_requests):
    start = time.monotonic()
    load = LoadGenerator(server.url, rate=40, max_seconds=0.3, max_requests=max_requests).start()
    assert load.wait(5)
    result = load.stop()
    assert result.sent == 12   # request i goes out at i/40 s, for i/40 < 0.3
    assert 0.25 < result.seconds < 1.3
    assert time.monotonic() - start < 2


def test_stop_ends_a_long_run_and_the_context_manager_sets_the_result(server):
    with LoadGenerator(server.url, rate=100, max_seconds=300, persistent_clients=1) as load:
        wait_for(lambda: server.count() >= 5)
        start = time.monotonic()
    assert time.monotonic() - start < 2
    assert load.result is not None and load.result.sent >= 5
    assert load.result.failed == 0
    assert load.stop() is load.result


def test_steady_rate_without_drift(server):
    load = LoadGenerator(server.url, rate=50, max_seconds=0.4, persistent_clients=2).start()
    assert load.wait(5)
    result = load.stop()
    assert result.sent == 20 and result.unsent == 0
    assert result.by_kind["fresh"]["sent"] == result.by_kind["persistent"]["sent"] == 10
    assert 0.35 < result.seconds < 1.5
    assert result.percentile(99) < 1000


def test_percentile_and_empty_result():
    result = LoadResult(latencies_ms=[float(value) for value in range(100, 0, -1)])
    assert (result.percentile(50), result.percentile(99), result.percentile(100)) == (50.0, 99.0, 100.0)
    empty = LoadResult()
    assert empty.percentile(99) != empty.percentile(99)   # NaN
    assert "p99 -" in empty.summary()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:80", "https:///health/"])
def test_only_http_and_https_urls(url):
    with pytest.raises(ValueError):
        LoadGenerator(url)


def _cli(argv):
    parser = argparse.ArgumentParser()
    load.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["load", *argv])
    return args.func(args)


def test_cli_prints_the_summary_and_exits_1_on_failures(server, capsys):
    assert _cli([server.url, "--rate", "100", "--seconds", "0.2", "--persistent", "2"]) == 0
    assert "sent 20, failed 0" in capsys.readouterr().out
    server.status = 500
    assert _cli([server.url, "--rate", "100", "--seconds", "0.1", "--host-header", "example.test"]) == 1
    assert "HTTP 500 x10" in capsys.readouterr().out


def test_versions_follow_the_order_requests_were_sent_not_answered():
    """An old nginx worker finishes a request sent before the switch after a new worker has
    answered one sent after it: that is no switch back."""
    from onehost.local.loadgen import _Collector, _Outcome
    collector = _Collector()
    answers = [(1.0, "test-v1"), (3.0, "test-v2"), (2.0, "test-v1"), (4.0, "test-v2")]  # as they arrived
    for sent_at, version in answers:
        collector.add(_Outcome("persistent", True, 200, None, 5.0, version, False, sent_at))
    assert collector.result.versions == ["test-v1", "test-v2"]
    collector.add(_Outcome("fresh", True, 200, None, 5.0, "test-v1", False, 5.0))  # a real switch back
    assert collector.result.versions == ["test-v1", "test-v2", "test-v1"]

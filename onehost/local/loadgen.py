"""A bounded constant-rate HTTP load generator (standard library only).

    onehost load http://127.0.0.1:8080/health/ --rate 50 --seconds 10 --persistent 4

Requests go out at a steady total rate, scheduled by absolute deadlines (no drift), until
`stop()`, `max_seconds` or `max_requests`, whichever comes first. Two kinds of client share
the rate:

- "fresh" clients open a new connection for every request (`Connection: close`), as a
  monitor or a script does;
- `persistent_clients` threads each keep one HTTP/1.1 keep-alive connection and reuse it,
  as browsers and pooled API clients do.

With `persistent_retry=False` the persistent clients never retry (Python's http.client on a
kept connection, many API clients): counted as kind "no_retry", they see every closed idle
connection as a failed request.

Retry contract of the persistent clients (RFC 9112 section 9.3.1, what browsers and urllib3
do): a GET sent on a *reused* connection that fails before any byte of a response arrived
(the server closed the idle connection: RemoteDisconnected, ConnectionResetError,
BrokenPipeError, a closed socket) is retried once on a new connection and counted in
`retried`. Any other failure counts as failed. Such a client sees a server that closes idle
keep-alive connections (an nginx reload does) as `retried`, not as failures; a client that
does not retry would see each of those as a failed request.

Latencies are measured from the moment a request was scheduled, so a stalled server or a
client held up behind a slow request shows in p99 instead of silently lowering the rate.
"""

import bisect
import errno
import http.client
import json
import math
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

KINDS = ("fresh", "persistent", "no_retry")

# Failures of a reused connection that mean "the server closed it before answering".
_CLOSED_ERRNOS = {errno.EBADF, errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET, errno.ECONNABORTED}


def _closed_before_response(error: BaseException) -> bool:
    if isinstance(error, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                          ConnectionAbortedError, ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return True
    if isinstance(error, (socket.timeout, TimeoutError)):
        return False
    return isinstance(error, OSError) and error.errno in _CLOSED_ERRNOS


def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN when there are no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(max(0.0, min(100.0, p)) / 100 * len(ordered))
    return ordered[max(0, rank - 1)]


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    failed: int = 0                   # connection errors + non-2xx responses
    retried: int = 0                  # persistent clients: retried once under the retry contract
    statuses: dict[int, int] = field(default_factory=dict)   # every HTTP response, by status
    # every failure, by kind ("HTTP 502", "ConnectionRefusedError")
    errors: dict[str, int] = field(default_factory=dict)
    # "version" of 2xx JSON bodies in the order their requests were sent, consecutive duplicates collapsed
    versions: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # every sent request, from its scheduled time
    seconds: float = 0.0
    # sent/ok/failed/retried per client kind: {"fresh": {...}, "persistent": {...}}
    by_kind: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: {"sent": 0, "ok": 0, "failed": 0, "retried": 0} for kind in KINDS})
    unsent: int = 0                   # scheduled but never sent (the run stopped first)
    started_at: float = 0.0           # time.monotonic() when the run started
    # version -> (first, last) time.monotonic() a response with it arrived
    version_seen: dict[str, tuple[float, float]] = field(default_factory=dict)
    # (first, last) time.monotonic() a failure arrived; None without failures
    failures_seen: tuple[float, float] | None = None

    def percentile(self, p: float) -> float:
        """Latency percentile in ms (p in 0..100), nearest rank; NaN without requests."""
        return _percentile(self.latencies_ms, p)

    def first_seen(self, version: str) -> float | None:
        """Seconds after the start when the first response with `version` arrived."""
        seen = self.version_seen.get(version)
        return None if seen is None else seen[0] - self.started_at

    def failure_window(self) -> float:
        """Seconds from the first failure to the last one (0.0 without failures)."""
        return 0.0 if self.failures_seen is None else self.failures_seen[1] - self.failures_seen[0]

    def summary(self) -> str:
        def ms(value: float) -> str:
            return "-" if math.isnan(value) else f"{value:.1f} ms"
        parts = [f"sent {self.sent}", f"failed {self.failed}", f"retried {self.retried}",
                 f"p50 {ms(self.percentile(50))}", f"p99 {ms(self.percentile(99))}",
                 f"{self.seconds:.1f} s", f"versions {' -> '.join(self.versions) or '-'}"]
        kinds = [f"{kind} {counts['sent']} sent/{counts['failed']} failed"
                 for kind, counts in self.by_kind.items() if counts["sent"]]
        if len(kinds) > 1:
            parts.append("(" + ", ".join(kinds) + ")")
        if self.errors:
            parts.append("errors: " + ", ".join(f"{kind} x{count}" for kind, count
                                                in sorted(self.errors.items())))
        return ", ".join(parts)


@dataclass
class _Outcome:
    kind: str
    ok: bool
    status: int | None
    error: str | None
    latency_ms: float
    version: str | None
    retried: bool
    sent_at: float = 0.0  # when the answered attempt went out (a retry's, when retried)


class _Collector:
    """The merged result, updated by every client thread under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.result = LoadResult()
        self._answers: list[tuple[float, str]] = []  # (sent_at, version), in sending order

    def add(self, outcome: _Outcome) -> None:
        arrived = time.monotonic()
        with self.lock:
            result, counts = self.result, self.result.by_kind[outcome.kind]
            result.sent += 1
            counts["sent"] += 1
            if outcome.ok:
                result.ok += 1
                counts["ok"] += 1
            else:
                result.failed += 1
                counts["failed"] += 1
                result.errors[outcome.error] = result.errors.get(outcome.error, 0) + 1
                result.failures_seen = ((result.failures_seen or (arrived, arrived))[0], arrived)
            if outcome.retried:
                result.retried += 1
                counts["retried"] += 1
            if outcome.status is not None:
                result.statuses[outcome.status] = result.statuses.get(outcome.status, 0) + 1
            result.latencies_ms.append(outcome.latency_ms)
            if outcome.version is not None:
                # By sending order, not arrival: an old nginx worker finishes a request sent before
                # the switch after a new worker has answered one sent after it.
                bisect.insort(self._answers, (outcome.sent_at, outcome.version))
                result.versions = [version for index, (_, version) in enumerate(self._answers)
                                   if index == 0 or self._answers[index - 1][1] != version]
                first, _ = result.version_seen.get(outcome.version, (arrived, arrived))
                result.version_seen[outcome.version] = (first, arrived)


def _version_of(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    version = document.get("version") if isinstance(document, dict) else None
    return None if version is None else str(version)


def _error_kind(error: BaseException) -> str:
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    return type(error).__name__


def open_connection(host: str, port: int, timeout: float, ssl_context: ssl.SSLContext | None = None,
                    connect_to: str | None = None) -> http.client.HTTPConnection:
    """An HTTP(S) connection for `host` (its Host header and TLS name) whose TCP connection goes to
    `connect_to` when given, like curl --connect-to."""
    if ssl_context:
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    if connect_to:
        connection._create_connection = (lambda target, *args: socket.create_connection(
            (connect_to, target[1]), *args))
    return connection


class LoadGenerator:
    """Constant-rate GETs of one URL from fresh and persistent clients, bounded in time and count."""

    def __init__(self, url: str, rate: float = 50, max_seconds: float = 300,
                 max_requests: int | None = None, persistent_clients: int = 0,
                 host_header: str | None = None, timeout: float = 10,
                 persistent_share: float = 0.5, connect_to: str | None = None,
                 ca_file: str | None = None, persistent_retry: bool = True):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        if rate <= 0 or max_seconds <= 0 or timeout <= 0:
            raise ValueError("rate, max_seconds and timeout must be positive")
        self.url = url
        self.host, self.port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        # HTTPS: the URL's host is the SNI name and the name the certificate must carry.
        self.ssl_context = (ssl.create_default_context(cafile=ca_file) if parts.scheme == "https"
                            else None)
        # Like curl --connect-to: the TCP connection goes here, the URL's host stays in Host and SNI.
        self.connect_to = connect_to
        self.path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self.rate, self.max_seconds, self.timeout = float(rate), float(max_seconds), float(timeout)
        self.max_requests = (max_requests if max_requests is not None
                             else max(1, math.ceil(rate * max_seconds)))
        self.persistent_clients = max(0, int(persistent_clients))
        # False: the persistent clients never retry and count as kind "no_retry".
        self.persistent_retry = persistent_retry
        # Share of the requests the persistent clients send (all of them when there are no
        # fresh clients to speak of; none when there are no persistent clients).
        self.persistent_share = min(1.0, max(0.0, persistent_share)) if self.persistent_clients else 0.0
        self.headers = {"Host": host_header} if host_header else {}
        self.result: LoadResult | None = None
        self._collector = _Collector()
        self._stopping = threading.Event()
        self._dispatched = threading.Event()   # the dispatcher has handed out its last request
        self._threads: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []
        self._fresh_queue: queue.Queue = queue.Queue()
        self._persistent_queues: list[queue.Queue] = [queue.Queue() for _ in range(self.persistent_clients)]
        fresh_rate = self.rate * (1 - self.persistent_share)
        # About one second of fresh requests can be in flight at once.
        self._fresh_workers = 0 if fresh_rate == 0 else max(4, min(64, math.ceil(fresh_rate)))
        self._started_at = 0.0
        self._finished_at: float | None = None
        self._unsent = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "LoadGenerator":
        if self._threads:
            raise RuntimeError("this load generator was already started")
        self._started_at = time.monotonic()
        self._collector.result.started_at = self._started_at
        for index in range(self._fresh_workers):
            self._workers.append(threading.Thread(target=self._fresh_worker, daemon=True,
                                                  name=f"load-fresh-{index}"))
        for index, jobs in enumerate(self._persistent_queues):
            self._workers.append(threading.Thread(target=self._persistent_worker, args=(jobs,),
                                                  daemon=True, name=f"load-persistent-{index}"))
        dispatcher = threading.Thread(target=self._dispatch, daemon=True, name="load-dispatch")
        self._threads = [dispatcher, *self._workers]
        for thread in self._threads:
            thread.start()
        return self

    def done(self) -> bool:
        """True when every request was handed out and answered (or the run was stopped)."""
        return self._dispatched.is_set() and not any(worker.is_alive() for worker in self._workers)

    def snapshot(self) -> dict:
        """Counts so far, while the run goes on: sent, ok, failed, retried, versions."""
        with self._collector.lock:
            result = self._collector.result
            return {"sent": result.sent, "ok": result.ok, "failed": result.failed,
                    "retried": result.retried, "versions": list(result.versions)}

    def wait(self, timeout: float) -> bool:
        """Wait until the run ends by its own bounds; False when `timeout` passed first."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return self.done()

    def stop(self) -> LoadResult:
        """Stop sending, wait (bounded) for requests in flight, return the merged result."""
        if self.result is not None:
            return self.result
        if self._threads:
            if not self.done():
                self._stopping.set()
            # In-flight requests end within their socket timeout (connect, send, read).
            deadline = time.monotonic() + 2 * self.timeout + 2
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        finished = self._finished_at if self._finished_at and self.done() else time.monotonic()
        with self._collector.lock:
            result = self._collector.result
            result.seconds = finished - self._started_at if self._threads else 0.0
            result.unsent = self._unsent + self._drain_queues()
            result.latencies_ms = list(result.latencies_ms)
        self.result = result
        return result

    def __enter__(self) -> "LoadGenerator":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop()
        return False

    # --- scheduling ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand out request i at start + i/rate; persistent slots interleave evenly, round-robin."""
        start, end = self._started_at, self._started_at + self.max_seconds
        next_persistent = 0
        try:
            for index in range(self.max_requests):
                due = start + index / self.rate
                if due >= end:
                    break
                # Every wait is bounded: by the next deadline and by max_seconds.
                if self._stopping.wait(max(0.0, due - time.monotonic())):
                    break
                job = due
                share = self.persistent_share
                if math.floor((index + 1) * share) > math.floor(index * share):
                    self._persistent_queues[next_persistent].put(job)
                    next_persistent = (next_persistent + 1) % self.persistent_clients
                else:
                    self._fresh_queue.put(job)
        finally:
            for _ in range(self._fresh_workers):
                self._fresh_queue.put(None)
            for jobs in self._persistent_queues:
                jobs.put(None)
            self._dispatched.set()

    def _next_job(self, jobs: queue.Queue) -> float | None:
        """The scheduled time of the next request; None when this client is to end."""
        while not self._stopping.is_set():
            try:
                return jobs.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _drain_queues(self) -> int:
        unsent = 0
        for jobs in (self._fresh_queue, *self._persistent_queues):
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                unsent += job is not None
        return unsent

    def _finish_worker(self) -> None:
        self._finished_at = time.monotonic()

    # --- clients ---------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        return open_connection(self.host, self.port, self.timeout, self.ssl_context, self.connect_to)

    def _exchange(self, connection: http.client.HTTPConnection,
                  headers: dict[str, str]) -> tuple[int, bytes]:
        connection.request("GET", self.path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    def _outcome(self, kind: str, scheduled: float, sent_at: float, status: int | None, body: bytes,
                 error: BaseException | None, retried: bool) -> _Outcome:
        latency = (time.monotonic() - scheduled) * 1000
        if error is not None:
            return _Outcome(kind, False, None, _error_kind(error), latency, None, retried, sent_at)
        ok = 200 <= status < 300
        # Only answers that served count for versions: a 503 of a new release is not "v2 live".
        return _Outcome(kind, ok, status, None if ok else f"HTTP {status}", latency,
                        _version_of(body) if ok else None, retried, sent_at)

    def _fresh_worker(self) -> None:
        headers = {**self.headers, "Connection": "close"}
        try:
            while (scheduled := self._next_job(self._fresh_queue)) is not None:
                connection = self._connection()
                status, body, error = None, b"", None
                sent_at = time.monotonic()
                try:
                    status, body = self._exchange(connection, headers)
                except (OSError, http.client.HTTPException) as failure:
                    error = failure
                finally:
                    connection.close()
                self._collector.add(self._outcome("fresh", scheduled, sent_at, status, body, error, False))
        finally:
            self._finish_worker()

    def _persistent_worker(self, jobs: queue.Queue) -> None:
        kind = "persistent" if self.persistent_retry else "no_retry"
        connection = self._connection()
        try:
            while (scheduled := self._next_job(jobs)) is not None:
                status, body, error, retried = None, b"", None, False
                reused = connection.sock is not None
                sent_at = time.monotonic()
                try:
                    status, body = self._exchange(connection, self.headers)
                except (OSError, http.client.HTTPException) as failure:
                    connection.close()
                    if self.persistent_retry and reused and _closed_before_response(failure):
                        retried = True
                        sent_at = time.monotonic()
                        try:
                            status, body = self._exchange(connection, self.headers)
                        except (OSError, http.client.HTTPException) as second:
                            connection.close()
                            error = second
                    else:
                        error = failure
                self._collector.add(self._outcome(kind, scheduled, sent_at, status, body, error, retried))
        finally:
            connection.close()
            self._finish_worker()


def run_load(url: str, seconds: float, **options) -> LoadResult:
    """Run a load for `seconds` (or until its request bound) and return the result."""
    load = LoadGenerator(url, max_seconds=seconds, **options).start()
    try:
        load.wait(seconds + 2 * load.timeout + 2)
    except KeyboardInterrupt:
        pass
    return load.stop()

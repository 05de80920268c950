"""Headless Chromium for the host tier: load a page the way a browser does and report what it
refused. Driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`): Chromium reads
commands on its file descriptor 3 and writes answers and events on 4, one JSON message each,
ended by a NUL byte (chromium/chromium components/devtools/devtools_pipe/devtools_pipe.h,
content/browser/devtools/devtools_pipe_handler.cc). No port to pick or leak, no client package.

Debian's `chromium-headless-shell` (scripts/bootstrap.sh installs it) or `chromium`.
"""

import fcntl
import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

EXECUTABLES = ("chromium-headless-shell", "chromium")


def executable() -> str | None:
    return next((path for path in map(shutil.which, EXECUTABLES) if path), None)


def launch_command(path: str, profile_dir: str, as_root: bool) -> list[str]:
    """Chromium with no window, no first-run work and no network of its own besides the page's."""
    command = [path, "--headless", "--remote-debugging-pipe", f"--user-data-dir={profile_dir}",
               "--no-first-run", "--no-default-browser-check", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    # Chromium refuses to start as root with its sandbox on (the development machine runs as root).
    return [*command, "--no-sandbox"] if as_root else command


@dataclass
class PageLoad:
    """What one navigation did: each response and failure, and every console and log message."""
    responses: list[dict] = field(default_factory=list)    # Network.Response, with its request type
    failures: list[dict] = field(default_factory=list)     # Network.loadingFailed (blockedReason: "csp")
    messages: list[dict] = field(default_factory=list)     # Log.LogEntry and console API calls
    stylesheet_rules: int = 0                               # CSS rules the document got, all sheets

    def refused_by_csp(self) -> list[str]:
        """Chromium's own words for each thing the Content-Security-Policy refused: blocked loads
        (blockedReason "csp") and its console messages ("Refused to load/apply/execute ...
        because it violates the following Content Security Policy directive")."""
        blocked = [f"{item['url']}: blocked ({item.get('blockedReason')})" for item in self.failures
                   if item.get("blockedReason") == "csp"]
        said = [item["text"] for item in self.messages
                if "Content Security Policy" in item["text"] or item["text"].startswith("Refused to")]
        return blocked + said

    def responses_of_type(self, resource_type: str) -> list[dict]:
        return [item for item in self.responses if item["type"] == resource_type]


class Browser:
    """One headless Chromium with one page; every wait is bounded by `timeout` seconds."""

    def __init__(self, timeout: float = 30):
        self.timeout = timeout
        self.next_id = 0
        self.events: list[dict] = []
        self.buffer = b""

    def __enter__(self):
        path = executable()
        if path is None:
            raise RuntimeError(f"no headless Chromium: install one of {', '.join(EXECUTABLES)} "
                               "(apt-get install chromium-headless-shell; scripts/bootstrap.sh does)")
        self.profile = tempfile.TemporaryDirectory(prefix="onehost-chromium-")
        # Its own log in a file: a pipe nobody reads would fill and stall it.
        self.log = open(os.path.join(self.profile.name, "chromium.log"), "w+b")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()
        # Chromium's ends go to its descriptors 3 and 4, by way of numbers above both so that
        # neither dup2 overwrites the other; pass_fds keeps 3 and 4 open through the exec.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_read, from_browser_write)]
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)

        def wire_pipes():
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)
        self.process = subprocess.Popen(
            launch_command(path, self.profile.name, os.geteuid() == 0),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
            preexec_fn=wire_pipes, pass_fds=(3, 4))
        for fd in ends:
            os.close(fd)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.from_browser, selectors.EVENT_READ)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Log", "Runtime"):
                self.send(f"{domain}.enable", session=self.session)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.selector.close()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.log.close()
        self.profile.cleanup()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(timeout=left):
                raise TimeoutError(f"Chromium said nothing for {self.timeout} s")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                self.log.seek(0)
                raise RuntimeError("Chromium closed its DevTools pipe: "
                                   + self.log.read().decode(errors="replace")[-2000:])
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """A command's result; events that arrive meanwhile are kept for `load`."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") != self.next_id:
                self.events.append(answer)
            elif "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            else:
                return answer.get("result", {})

    def _next_event(self, deadline: float) -> dict:
        return self.events.pop(0) if self.events else self._read_message(deadline)

    def load(self, url: str, headers: dict | None = None, settle: float = 0.5) -> PageLoad:
        """Navigate, wait for the load event, then until no request has been in flight for
        `settle` s (images and fonts that stylesheets ask for come after the load event)."""
        if headers:
            self.send("Network.setExtraHTTPHeaders", {"headers": headers}, session=self.session)
        self.events.clear()
        result = self.send("Page.navigate", {"url": url}, session=self.session)
        if result.get("errorText"):
            raise RuntimeError(f"{url}: {result['errorText']}")
        return self._wait_for_page(url, settle)

    def submit(self, form_selector: str, fields: dict[str, str], settle: float = 0.5) -> PageLoad:
        """Fill in a form of the page, submit it as a click on its button would, and wait for
        the page it leads to as `load` does."""
        self.events.clear()
        script = (f"const form = document.querySelector({json.dumps(form_selector)});"
                  f"for (const [name, value] of Object.entries({json.dumps(fields)}))"
                  " form.elements[name].value = value;"
                  "form.requestSubmit();")
        answer = self.send("Runtime.evaluate", {"expression": script}, session=self.session)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"submitting {form_selector}: {answer['exceptionDetails']}")
        return self._wait_for_page(form_selector, settle)

    def _wait_for_page(self, what: str, settle: float) -> PageLoad:
        url, page = what, PageLoad()
        deadline, loaded, in_flight, requests = time.monotonic() + self.timeout, False, set(), {}
        while True:
            settled = loaded and not in_flight
            try:
                event = self._next_event(min(deadline, time.monotonic() + settle) if settled else deadline)
            except TimeoutError:
                if settled and time.monotonic() < deadline:
                    break
                raise TimeoutError(f"{url} did not finish loading within {self.timeout} s "
                                   f"(load event: {loaded}, requests in flight: {len(in_flight)}, "
                                   f"refused: {page.refused_by_csp()})") from None
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                in_flight.add(params["requestId"])
                requests[params["requestId"]] = params["request"]["url"]
            elif method == "Network.responseReceived":
                page.responses.append({**params["response"], "type": params.get("type")})
            elif method == "Network.loadingFinished":
                in_flight.discard(params["requestId"])
            elif method == "Network.loadingFailed":
                in_flight.discard(params["requestId"])
                page.failures.append({**params, "url": requests.get(params["requestId"])})
            elif method == "Log.entryAdded":
                page.messages.append(params["entry"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
                page.messages.append({"level": params["type"], "text": text})
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                page.messages.append({"level": "error", "text": details.get("exception", {}).get(
                    "description", details.get("text", ""))})
            elif method == "Page.loadEventFired":
                loaded = True
        rules = self.send("Runtime.evaluate", {
            "expression": "[...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0)",
            "returnByValue": True}, session=self.session)
        page.stylesheet_rules = rules["result"].get("value", 0)
        return page

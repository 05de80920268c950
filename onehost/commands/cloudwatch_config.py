"""The CloudWatch agent's configuration: rendered from group_data, checked before it ships.

Pure functions: `render` builds the agent's JSON document from settings, `problems` lists
what a document lacks of what the host promises (memory, CPU and disk metrics for `/` and
`/data`, the log files, one log group with its retention, every line a metric filter counts).
The bake renders and validates it on every target; only AWS targets install the agent itself.

What the containers' logs ship (`container_log_filters`): CloudWatch Logs bills every byte
ingested past 5 GB a month (https://aws.amazon.com/cloudwatch/pricing/, free tier), and each
request writes an nginx access line and an app line. With "errors" the agent ships warnings,
errors, 5xx answers, every line a metric filter counts and the lines of a sample of requests
(picked by the last hex digits of their request id, so nginx's and the app's lines of one
request go together); every line stays on the host in Docker's json-file logs.
"""

import re

# Our JSON, the source the agent is given. Not the agent's own etc/amazon-cloudwatch-agent.json:
# `amazon-cloudwatch-agent-ctl -a fetch-config` deletes that path once it has translated the
# config (packaging/dependencies/amazon-cloudwatch-agent-ctl: cwa_config, `rm -f "${JSON}"`).
CONFIG_PATH = "/etc/onehost/cloudwatch-agent.json"
AGENT_ETC = "/opt/aws/amazon-cloudwatch-agent/etc"
# What the agent keeps and runs from: the config-downloader copies a `file:PATH` source to
# amazon-cloudwatch-agent.d/file_<basename of PATH> (cmd/config-downloader/downloader.go), and
# config-translator writes the TOML the agent's systemd unit starts with.
AGENT_TOML = f"{AGENT_ETC}/amazon-cloudwatch-agent.toml"
PACKAGE_URL = ("https://s3.amazonaws.com/amazoncloudwatch-agent/debian/{arch}/latest/"
               "amazon-cloudwatch-agent.deb")
# `uname -m` to the package's architecture.
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

# The log stream (a key of cloudwatch_log_files) that holds every container's json-file log.
CONTAINERS_STREAM = "containers"
CONTAINER_LOG_MODES = ("errors", "all")
# The request id nginx makes ($request_id: 16 random bytes as 32 lowercase hex digits,
# https://nginx.org/en/docs/http/ngx_http_core_module.html#var_request_id), which the app logs too.
REQUEST_ID_HEX_DIGITS = 32

# Lines "errors" ships whatever their source, as regular expressions the agent's Go regexp
# (RE2 syntax) and Python's re read alike. Inside Docker's json-file wrapper the line's own
# JSON is a string, so its quotes arrive as \" (hence the optional backslashes).
ERROR_LINE_PATTERNS = {
    # Python's logging (the app's JSON "level", gunicorn's "[ERROR]") and PostgreSQL ("FATAL:").
    "levels": r"\b(?:WARNING|ERROR|CRITICAL|FATAL|PANIC)\b",
    # nginx's error log from [error] up; its [warn] lines are mostly limit_req refusals, one a
    # refused request (limit_req_log_level warn), which stay on the host.
    "nginx errors": r"\[(?:error|crit|alert|emerg)\]",
    # A 5xx answer in nginx's access line ("status":502) or the app's request line ("status": 500).
    "5xx answers": r'status\\?": ?5[0-9]{2}\b',
}

REQUIRED_METRICS = {
    "mem": {"mem_used_percent"},
    "disk": {"used_percent"},
    "cpu": {"cpu_usage_active"},
}


def kept_config_path(source: str = CONFIG_PATH) -> str:
    """Where fetch-config leaves its copy of `source`: the downloader's file_ name, with its
    escapes of '/', ' ' and ':' in the base name."""
    name = source.rsplit("/", 1)[-1]
    for character in "/ :":
        name = name.replace(character, "_")
    return f"{AGENT_ETC}/amazon-cloudwatch-agent.d/file_{name}"


def package_url(machine: str) -> str:
    try:
        return PACKAGE_URL.format(arch=ARCHITECTURES[machine])
    except KeyError:
        raise ValueError(f"no CloudWatch agent package for architecture {machine!r}") from None


def literal(term: str) -> str:
    """`term` as a regular expression matching itself: printable ASCII, the metacharacters of
    both syntaxes escaped with a backslash (Go and Python take an escaped punctuation mark as
    itself)."""
    if not term or not all(" " <= character <= "~" for character in term):
        raise ValueError(f"counted term {term!r} must be non-empty printable ASCII")
    return "".join("\\" + character if character in "\\.+*?()|[]{}^$" else character
                   for character in term)


def request_sample_pattern(sample: int) -> str:
    """Lines of one request in `sample` (a power of 16): those whose request id ends in k zero
    digits, 16**k == sample. Request ids are random, so that is 1 in `sample`."""
    zeros = 0
    while 16 ** zeros < sample:
        zeros += 1
    if sample < 1 or 16 ** zeros != sample or zeros > REQUEST_ID_HEX_DIGITS:
        raise ValueError(f"cloudwatch_request_sample={sample!r}: use 0 (no sample) or a power of 16 "
                         "(1, 16, 256, 4096): requests are picked by the last hex digits of their id")
    digits = f"[0-9a-f]{{{REQUEST_ID_HEX_DIGITS - zeros}}}" + "0" * zeros
    return r'request_id\\?": ?\\?"' + digits + r'\\?"'


def shipped_lines_expression(*, sample: int, counted_terms: list[str]) -> str:
    """One regular expression for the lines "errors" ships: the error patterns, each counted
    term as a literal (a line a metric filter counts holds its term, so it always matches) and,
    unless `sample` is 0, the request sample."""
    if not counted_terms:
        raise ValueError("cloudwatch_counted_terms is empty: list the terms of the stack's metric "
                         "filters (deploy/aws/stack.yaml), or the lines they count are not shipped")
    alternatives = list(ERROR_LINE_PATTERNS.values()) + [literal(term) for term in counted_terms]
    if sample:
        alternatives.append(request_sample_pattern(sample))
    return "|".join(alternatives)


def container_log_filters(mode: str, *, sample: int, counted_terms: list[str]) -> list[dict]:
    """The agent's `filters` for the containers' stream: none with "all", one include filter
    with "errors" (the agent ANDs several filters, so one expression holds every alternative)."""
    if mode == "all":
        return []
    if mode != "errors":
        raise ValueError(f"cloudwatch_container_logs={mode!r}: use one of {', '.join(CONTAINER_LOG_MODES)}")
    return [{"type": "include",
             "expression": shipped_lines_expression(sample=sample, counted_terms=counted_terms)}]


def agent_publishes(filters: list[dict], message: str) -> bool:
    r"""Whether the agent ships one log event: every filter must pass it; an include filter
    passes a message its expression matches anywhere, an exclude filter one it does not
    (amazon-cloudwatch-agent plugins/inputs/logfile/logfilter.go LogFilter.ShouldPublish,
    regexp MatchString; fileconfig.go shouldPublishHelper). Faithful for expressions that
    `re2_subset_problem` accepts; re.ASCII gives \b Go's ASCII word boundary."""
    for log_filter in filters:
        matched = re.search(log_filter["expression"], message, re.ASCII) is not None
        if matched != (log_filter["type"] == "include"):
            return False
    return True


_ESCAPES_BOTH_READ = set("\\.+*?()|[]{}^$-/\"':#=@,;<>!%&~` _b")
_PARSED_OK = {"LITERAL", "NOT_LITERAL", "ANY", "IN", "RANGE", "NEGATE", "BRANCH", "SUBPATTERN",
              "MAX_REPEAT", "MIN_REPEAT", "MAXREPEAT", "AT", "AT_BEGINNING", "AT_BOUNDARY",
              "AT_NON_BOUNDARY"}


def re2_subset_problem(expression: str) -> str | None:
    r"""Why Go's regexp (the agent's) and Python's re might read `expression` differently, or
    None. Allowed: literals, escaped punctuation, classes of literals and ranges, groups,
    alternation, repeats, ^ and \b. Not: \d \s \w (Unicode in Python, ASCII in Go), $ (Python
    also matches before a final newline), flags such as (?i) (Unicode case folding in Go),
    lookarounds and backreferences (not in RE2)."""
    if re.search(r"\(\?(?!:)", expression.replace("\\\\", "").replace("\\(", "")):
        return "only (?:...) groups are read alike by Go's regexp and Python's re"
    escaped = False
    for character in expression:
        if escaped:
            if character not in _ESCAPES_BOTH_READ:
                return f"escape \\{character} may differ between Go's regexp and Python's re"
            escaped = False
        elif character == "\\":
            escaped = True
    try:
        parsed = re._parser.parse(expression)
    except re.error as error:
        return f"not a regular expression: {error}"

    def walk(node) -> str | None:
        if isinstance(node, re._parser.SubPattern):
            node = node.data
        if isinstance(node, (list, tuple)):
            for item in node:
                found = walk(item)
                if found:
                    return found
        elif type(node).__name__ == "_NamedIntConstant" and str(node) not in _PARSED_OK:
            return f"{node} is not read alike by Go's regexp and Python's re"
        return None

    return walk(list(parsed))


def render(*, namespace: str, log_group: str, retention_days: int, disks: list[str],
           log_files: dict[str, str], interval_seconds: int = 60,
           log_filters: dict[str, list[dict]] | None = None) -> dict:
    """The agent configuration: host metrics in `namespace`, each log file its own stream,
    `log_filters` (stream -> the agent's `filters`) on the streams named there.

    No instance or host dimension: the stack's alarms name the metrics by their dimensions, and
    must go on watching after a swap to a new instance. Few measurements: CloudWatch bills each
    custom metric past the free tier's ten (these four plus the backup and log-filter metrics)."""
    log_filters = {stream: filters for stream, filters in (log_filters or {}).items() if filters}
    unknown = sorted(set(log_filters) - set(log_files))
    if unknown:
        raise ValueError(f"log filters for {', '.join(unknown)}, which cloudwatch_log_files does not collect")
    return {
        "agent": {"metrics_collection_interval": interval_seconds, "run_as_user": "root",
                  "omit_hostname": True},
        "metrics": {
            "namespace": namespace,
            "metrics_collected": {
                "cpu": {"measurement": ["cpu_usage_active"], "totalcpu": True},
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent"], "resources": list(disks), "drop_device": True},
            },
        },
        "logs": {
            "logs_collected": {"files": {"collect_list": [
                {"file_path": path, "log_group_name": log_group,
                 "log_stream_name": f"{{instance_id}}/{stream}", "retention_in_days": retention_days,
                 # A glob matches many files (one a container): without this the agent follows
                 # only the newest one.
                 **({"publish_multi_logs": True} if "*" in path else {}),
                 # The agent's `filters` (CloudWatch agent configuration file, logs section:
                 # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html).
                 **({"filters": log_filters[stream]} if stream in log_filters else {})}
                for stream, path in log_files.items()
            ]}},
        },
    }


def render_from(data) -> dict:
    """render() with the bake's group_data keys (`data` is pyinfra's host.data or a dict)."""
    get = data.get
    filters = container_log_filters(get("cloudwatch_container_logs"),
                                    sample=get("cloudwatch_request_sample"),
                                    counted_terms=get("cloudwatch_counted_terms"))
    return render(namespace=get("cloudwatch_namespace"), log_group=get("cloudwatch_log_group"),
                  retention_days=get("cloudwatch_log_retention_days"),
                  disks=get("cloudwatch_disks"), log_files=get("cloudwatch_log_files"),
                  log_filters={CONTAINERS_STREAM: filters})


def _measurements(section: dict) -> set[str]:
    names = set()
    for item in section.get("measurement", []):
        names.add(item["name"] if isinstance(item, dict) else item)
    return names


def problems(config: dict, *, log_group: str, disks: list[str], log_files: list[str],
             retention_days: int = 7, counted_terms: list[str] = ()) -> list[str]:
    """What the configuration lacks; an empty list means it keeps every promise."""
    found = []
    collected = config.get("metrics", {}).get("metrics_collected", {})
    for section, required in REQUIRED_METRICS.items():
        names = _measurements(collected.get(section, {}))
        # The agent takes both spellings: "used_percent" and "mem_used_percent".
        names |= {f"{section}_{name}" for name in names}
        for metric in sorted(required):
            if metric not in names and f"{section}_{metric}" not in names:
                found.append(f"metric {section}_{metric.removeprefix(section + '_')} is not collected")
    resources = collected.get("disk", {}).get("resources", [])
    if "*" not in resources:
        found += [f"disk {disk} is not measured" for disk in disks if disk not in resources]
    entries = config.get("logs", {}).get("logs_collected", {}).get("files", {}).get("collect_list", [])
    paths = {entry.get("file_path") for entry in entries}
    found += [f"log file {path} is not collected" for path in log_files if path not in paths]
    for entry in entries:
        path = entry.get("file_path")
        if entry.get("log_group_name") != log_group:
            found.append(f"log file {path} goes to log group {entry.get('log_group_name')!r}, "
                         f"not {log_group!r}")
        if entry.get("retention_in_days") != retention_days:
            found.append(f"log file {path} has retention {entry.get('retention_in_days')!r}, "
                         f"not {retention_days} days")
        if "*" in str(path) and not entry.get("publish_multi_logs"):
            found.append(f"log file pattern {path} follows only its newest match (set publish_multi_logs)")
        found += _filter_problems(path, entry.get("filters", []), counted_terms)
    if not entries:
        found.append("no log files are collected")
    dimensions = set(config.get("metrics", {}).get("append_dimensions", {}))
    if dimensions:
        found.append(f"metrics carry {', '.join(sorted(dimensions))}: the stack's alarms would lose "
                     "them after a swap")
    if not config.get("agent", {}).get("omit_hostname"):
        found.append("metrics carry the host name (set omit_hostname): the stack's alarms would lose "
                     "them after a swap")
    return found


def _filter_problems(path: str, filters: list[dict], counted_terms) -> list[str]:
    found = []
    for log_filter in filters:
        if log_filter.get("type") not in ("include", "exclude"):
            found.append(f"log file {path} has a filter of type {log_filter.get('type')!r} "
                         "(the agent takes include or exclude)")
            return found
        problem = re2_subset_problem(str(log_filter.get("expression", "")))
        if problem:
            found.append(f"log file {path} has filter {log_filter.get('expression')!r}: {problem}")
            return found
    found += [f"log file {path} drops lines holding {term!r}, which a metric filter counts"
              for term in counted_terms if not agent_publishes(filters, term)]
    return found


def problems_for(config: dict, data) -> list[str]:
    """problems() against the bake's group_data."""
    return problems(config, log_group=data.get("cloudwatch_log_group"),
                    disks=data.get("cloudwatch_disks"),
                    log_files=list(data.get("cloudwatch_log_files").values()),
                    retention_days=data.get("cloudwatch_log_retention_days"),
                    counted_terms=data.get("cloudwatch_counted_terms") or [])

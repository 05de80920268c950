"""The CloudWatch agent's configuration: rendered from group_data, checked before it ships.

Pure functions: `render` builds the agent's JSON document from settings, `problems` lists
what a document lacks of what the host promises (memory, CPU and disk metrics for `/` and
`/data`, the log files, one log group with its retention). The bake renders and validates it
on every target; only AWS targets install the agent itself.
"""

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


def render(*, namespace: str, log_group: str, retention_days: int, disks: list[str],
           log_files: dict[str, str], interval_seconds: int = 60) -> dict:
    """The agent configuration: host metrics in `namespace`, each log file its own stream.

    No instance or host dimension: the stack's alarms name the metrics by their dimensions, and
    must go on watching after a swap to a new instance. Few measurements: CloudWatch bills each
    custom metric past the free tier's ten (these four plus the backup and log-filter metrics)."""
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
                 **({"publish_multi_logs": True} if "*" in path else {})}
                for stream, path in log_files.items()
            ]}},
        },
    }


def render_from(data) -> dict:
    """render() with the bake's group_data keys (`data` is pyinfra's host.data or a dict)."""
    get = data.get
    return render(namespace=get("cloudwatch_namespace"), log_group=get("cloudwatch_log_group"),
                  retention_days=get("cloudwatch_log_retention_days"),
                  disks=get("cloudwatch_disks"), log_files=get("cloudwatch_log_files"))


def _measurements(section: dict) -> set[str]:
    names = set()
    for item in section.get("measurement", []):
        names.add(item["name"] if isinstance(item, dict) else item)
    return names


def problems(config: dict, *, log_group: str, disks: list[str], log_files: list[str],
             retention_days: int = 7) -> list[str]:
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


def problems_for(config: dict, data) -> list[str]:
    """problems() against the bake's group_data."""
    return problems(config, log_group=data.get("cloudwatch_log_group"),
                    disks=data.get("cloudwatch_disks"),
                    log_files=list(data.get("cloudwatch_log_files").values()),
                    retention_days=data.get("cloudwatch_log_retention_days"))

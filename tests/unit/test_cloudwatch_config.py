import copy
import runpy

import pytest

from onehost.commands import cloudwatch_config
from onehost.paths import REPO_ROOT

GROUP_DATA = runpy.run_path(str(REPO_ROOT / "deploy" / "group_data" / "all.py"))


@pytest.fixture
def config():
    return cloudwatch_config.render_from(GROUP_DATA)


def test_rendered_config_keeps_every_promise(config):
    assert cloudwatch_config.problems_for(config, GROUP_DATA) == []
    collected = config["metrics"]["metrics_collected"]
    assert "mem_used_percent" in collected["mem"]["measurement"]
    assert collected["disk"]["resources"] == ["/", "/data"]
    entries = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert {entry["log_group_name"] for entry in entries} == {GROUP_DATA["cloudwatch_log_group"]}
    assert {entry["retention_in_days"] for entry in entries} == {7}
    assert "/var/log/syslog" in {entry["file_path"] for entry in entries}


def test_missing_metrics_are_named(config):
    broken = copy.deepcopy(config)
    del broken["metrics"]["metrics_collected"]["mem"]
    broken["metrics"]["metrics_collected"]["cpu"]["measurement"] = ["cpu_usage_idle"]
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        "metric mem_used_percent is not collected", "metric cpu_usage_active is not collected"]


def test_both_spellings_of_a_measurement_count(config):
    short = copy.deepcopy(config)
    short["metrics"]["metrics_collected"]["mem"]["measurement"] = [{"name": "used_percent"}]
    short["metrics"]["metrics_collected"]["disk"]["measurement"] = ["disk_used_percent"]
    assert cloudwatch_config.problems_for(short, GROUP_DATA) == []


def test_missing_disk_log_file_group_and_retention_are_named(config):
    broken = copy.deepcopy(config)
    broken["metrics"]["metrics_collected"]["disk"]["resources"] = ["/"]
    entries = broken["logs"]["logs_collected"]["files"]["collect_list"]
    entries[:] = [entry for entry in entries if entry["file_path"] != "/var/log/syslog"]
    entries[0]["log_group_name"] = "other"
    entries[0]["retention_in_days"] = 30
    path = entries[0]["file_path"]
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        "disk /data is not measured",
        "log file /var/log/syslog is not collected",
        f"log file {path} goes to log group 'other', not '{GROUP_DATA['cloudwatch_log_group']}'",
        f"log file {path} has retention 30, not 7 days",
    ]


def test_an_empty_config_fails_everything():
    found = cloudwatch_config.problems({}, log_group="g", disks=["/"], log_files=["/var/log/syslog"])
    assert "no log files are collected" in found and "disk / is not measured" in found


def test_package_url_follows_the_architecture():
    assert cloudwatch_config.package_url("x86_64").endswith("/debian/amd64/latest/amazon-cloudwatch-agent.deb")
    assert "/debian/arm64/" in cloudwatch_config.package_url("aarch64")
    with pytest.raises(ValueError):
        cloudwatch_config.package_url("riscv64")


def test_container_logs_follow_every_container(config):
    [containers] = [entry for entry in config["logs"]["logs_collected"]["files"]["collect_list"]
                    if "*" in entry["file_path"]]
    assert containers["publish_multi_logs"] is True
    broken = copy.deepcopy(config)
    for entry in broken["logs"]["logs_collected"]["files"]["collect_list"]:
        entry.pop("publish_multi_logs", None)
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        f"log file pattern {containers['file_path']} follows only its newest match (set publish_multi_logs)"]


def test_metrics_outlive_the_instance(config):
    """The stack's alarms name metrics by dimensions; an instance id or host name would change."""
    broken = copy.deepcopy(config)
    broken["metrics"]["append_dimensions"] = {"InstanceId": "${aws:InstanceId}"}
    broken["agent"]["omit_hostname"] = False
    assert cloudwatch_config.problems_for(broken, GROUP_DATA) == [
        "metrics carry InstanceId: the stack's alarms would lose them after a swap",
        "metrics carry the host name (set omit_hostname): the stack's alarms would lose them after a swap"]


def test_the_kept_copy_is_named_as_the_agents_downloader_names_it():
    assert cloudwatch_config.kept_config_path("/etc/onehost/cloudwatch-agent.json") == (
        "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/file_cloudwatch-agent.json")
    assert cloudwatch_config.kept_config_path("/x/my agent:v1.json").endswith("/file_my_agent_v1.json")


def test_our_config_is_not_the_path_fetch_config_deletes():
    assert cloudwatch_config.CONFIG_PATH != f"{cloudwatch_config.AGENT_ETC}/amazon-cloudwatch-agent.json"
    assert not cloudwatch_config.CONFIG_PATH.startswith(cloudwatch_config.AGENT_ETC)

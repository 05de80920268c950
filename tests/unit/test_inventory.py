import pytest
from pyinfra.api.exceptions import InventoryError

from onehost.commands import reach
from onehost.remote import inventory


def test_static_hosts_with_users_and_ports():
    assert inventory.static_hosts("admin@203.0.113.10, deploy@app.example.com:2200", {}) == [
        ("203.0.113.10", {"ssh_user": "admin", "_sudo": True}),
        ("app.example.com", {"ssh_user": "deploy", "_sudo": True, "ssh_port": 2200}),
    ]


def test_static_host_defaults_to_admin_and_takes_a_key():
    assert inventory.static_hosts("198.51.100.7", {"ONEHOST_SSH_KEY": "/k"}) == [
        ("198.51.100.7", {"ssh_user": "admin", "_sudo": True, "ssh_key": "/k"})]


@pytest.mark.parametrize("value", ["", " , ", ","])
def test_an_inventory_naming_no_host_is_an_error(value):
    with pytest.raises(InventoryError, match="names no host"):
        inventory.hosts_from_environment({"ONEHOST_HOSTS": value})


@pytest.mark.parametrize("spec", ["admin@", "a b", "host:99999", "user@host:port"])
def test_malformed_host_is_an_error(spec):
    with pytest.raises(InventoryError, match=r"is not a host: write \[user@\]host\[:port\]"):
        inventory.parse_host_spec(spec)


def test_local_instance_not_running_says_how_to_start_it(monkeypatch):
    monkeypatch.setattr(inventory.docker_cli, "container_state", lambda name: None)
    with pytest.raises(InventoryError, match="onehost-x is not running: start it with `onehost instance up`"):
        inventory.hosts_from_environment({"ONEHOST_INSTANCE": "onehost-x"})


def test_local_instance_host_data(monkeypatch, tmp_path):
    monkeypatch.setenv("ONEHOST_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(inventory.docker_cli, "container_state", lambda name: "running")
    monkeypatch.setattr(inventory, "ssh_key", lambda: tmp_path / "id_ed25519")
    [(name, data)] = inventory.hosts_from_environment({"ONEHOST_SSH_PORT": "12222"})
    assert name == "onehost-local"
    assert data["ssh_hostname"] == "127.0.0.1" and data["ssh_port"] == 12222
    assert data["ssh_user"] == "admin" and data["_sudo"] is True
    assert data["ssh_strict_host_key_checking"] == "accept-new"
    assert data["postgres_image"] == "onehost-base/postgres:latest"


def test_tags_parse_into_pairs():
    assert inventory.parse_tags("project=timewarp, environment=production,role=app") == {
        "project": "timewarp", "environment": "production", "role": "app"}


@pytest.mark.parametrize("value", ["", "project", "project=", "=timewarp", "project=timewarp,,"])
def test_malformed_tags_are_an_error(value):
    with pytest.raises(InventoryError, match="write key=value pairs"):
        inventory.parse_tags(value)


def test_tags_without_a_region_are_an_error():
    with pytest.raises(InventoryError, match="set AWS_REGION"):
        inventory.hosts_from_environment({"ONEHOST_TAGS": "project=timewarp"})


def test_public_address_first_private_on_request():
    found = {"PublicIpAddress": "203.0.113.9", "PublicDnsName": "ec2.example", "PrivateIpAddress": "10.0.0.9"}
    assert reach.instance_address(found, "public") == "203.0.113.9"
    assert reach.instance_address({"PublicDnsName": "ec2.example"}, "public") == "ec2.example"
    assert reach.instance_address({"PublicDnsName": ""}, "public") is None
    assert reach.instance_address(found, "private") == "10.0.0.9"

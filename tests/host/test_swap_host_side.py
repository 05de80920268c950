"""What `onehost hosts swap` does on the hosts themselves, over SSH with the inventory's
settings (onehost.aws.hosts.SshHosts): wait for the host, stop every container on the old one,
start the stacks on the new one, and let /health/ through nginx decide.

The local instance's /data is a Docker volume: unmounting it would take the deployment away
from this instance for good, and it has no block device to mount by label, so the mount half of
the swap (onehost.commands.data_volume.mount_data_script) is checked as an exact script in the unit tier and
the volume's moves on moto (tests/aws/test_hosts.py)."""

from onehost.aws import hosts
from onehost.commands.data_volume import START_STACKS, STOP_STACKS
from onehost.remote.inventory import local_instance_host

ADDRESS = "127.0.0.1"


def test_stopping_and_starting_the_stacks_keeps_the_rows_and_health_tells(test_instance, deployed):
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Moved to a new host", "happened_at": "2026-12-01T12:00:00Z"})
    assert status == 201, created
    live = test_instance.live_container()
    _, ssh_data = local_instance_host(test_instance.config)
    patient = hosts.SshHosts(server_name="localhost", tls=False, ssh_data=ssh_data, health_attempts=60)
    impatient = hosts.SshHosts(server_name="localhost", tls=False, ssh_data=ssh_data, health_attempts=2)

    patient.wait_ready(ADDRESS)
    assert patient.healthy(ADDRESS), patient.last_error
    try:
        patient.run(ADDRESS, STOP_STACKS)
        # Nothing runs that could still write to /data while the volume moves.
        assert test_instance.inner("docker", "ps", "--quiet").stdout.strip() == ""
        assert not impatient.healthy(ADDRESS)
        assert "Failed to connect" in impatient.last_error
    finally:
        patient.run(ADDRESS, START_STACKS)
    assert patient.healthy(ADDRESS), patient.last_error
    status, fetched = test_instance.get(f"/api/events/{created['id']}/")
    assert status == 200 and fetched["title"] == "Moved to a new host"
    assert test_instance.live_container() == live

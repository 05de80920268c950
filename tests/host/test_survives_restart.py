"""The instance survives a restart of its container: the stacks come back by themselves and
the database keeps its rows. Runs last (alphabetically) of the host tier: it restarts the host."""

import subprocess

from onehost.local.instance import wait_until


def test_stacks_come_back_after_a_restart_with_their_rows(test_instance, deployed):
    status, created = test_instance.request("POST", "/api/events/", {
        "title": "Host restarted", "happened_at": "2026-11-25T12:00:00Z"})
    assert status == 201, created
    live = test_instance.live_container()

    subprocess.run(["docker", "restart", "--time", "30", test_instance.config.name],
                   capture_output=True, check=True, timeout=120)
    test_instance.wait_for_health(timeout=180)

    status, fetched = test_instance.get(f"/api/events/{created['id']}/")
    assert status == 200 and fetched["title"] == "Host restarted"
    assert test_instance.live_container() == live
    # The containers come back by Docker's restart policy, so /health/ can answer before the
    # unit has finished going through every stack: wait for it to settle.
    def settled():
        state = test_instance.inner("systemctl", "is-active", "onehost-stacks.service", check=False).stdout.strip()
        return state if state != "activating" else None
    state = wait_until(settled, "onehost-stacks.service to finish", 120)
    assert state == "active", test_instance.inner(
        "journalctl", "--unit", "onehost-stacks", "--no-pager", check=False).stdout
    # The unit found the stacks on the volume and brought each one up (nothing skipped).
    # (Its run since the restart: a container shares its host's boot id, so --boot cannot tell.)
    invocation = test_instance.inner("systemctl", "show", "--property", "InvocationID", "--value",
                                     "onehost-stacks.service").stdout.strip()
    journal = test_instance.inner("journalctl", f"_SYSTEMD_INVOCATION_ID={invocation}",
                                  "--no-pager", "--output", "cat").stdout
    assert "Container data-postgres-1" in journal, journal
    assert "skipped" not in journal and "nothing to start" not in journal, journal
    # SSH came back too, with the same host keys.
    wait_until(lambda: test_instance.inner("systemctl", "is-active", "ssh", check=False)
               .stdout.strip() == "active", "sshd after the restart", 30)

"""Releases no client can notice: a switch moves traffic without reloading nginx.

Clients that keep a connection open and never retry (Python's http.client on a kept
connection) see every connection nginx closes as a failed request, and a reload closes each
idle keep-alive connection. So these loads mix such clients (kind "no_retry") with clients that
open a connection per request ("fresh"), and each switch must fail none of either, leave nginx's
master and worker processes as they were, and move the answers to the new version.

A host deployed before the socket layout (upstream.inc naming a container, a reload per switch)
moves over on its next deploy with one reload, which fresh clients and clients that retry do not
see; from then on its switches reload nothing.
"""

import pytest

from onehost.commands import switch
from onehost.commands.compose_commands import reload_nginx
from onehost.local.instance import wait_until
from tests.host.load import Load
from tests.host.test_releases import V2, put_live, release_at, v1, variants  # noqa: F401 (fixtures)

EDGE_DIR = "/data/stacks/edge"
UPSTREAM = f"{EDGE_DIR}/conf.d/{switch.UPSTREAM_FILE}"


def nginx_processes(instance) -> list[str]:
    """`<pid> <command line>` of nginx's master and workers, as the instance's Docker sees them."""
    listed = instance.inner("docker", "top", "edge-nginx-1", "-o", "pid,args").stdout.splitlines()[1:]
    return sorted(" ".join(line.split()) for line in listed if "nginx:" in line)


def switch_under_load(deployer, instance, version: str, data: dict, deploy_file: str = "deploy.py",
                      retry: bool = False):
    before = nginx_processes(instance)
    with Load(instance, retry=retry) as load:
        result = deployer.run(data, deploy_file=deploy_file)
        load.until_version(version)
    return result, load.result, before, nginx_processes(instance)


def assert_nothing_dropped(load, versions: list[str]) -> None:
    kinds = load.by_kind
    assert kinds["no_retry"]["sent"] > 40 and kinds["fresh"]["sent"] > 40, load.summary()
    assert kinds["no_retry"]["failed"] == 0 and kinds["fresh"]["failed"] == 0, load.summary()
    assert load.failed == 0 and load.retried == 0, load.summary()
    assert load.versions == versions, load.summary()


@pytest.fixture(scope="module")
def v2_release(deployer, test_instance, v1):  # noqa: F811 (the fixture imported above)
    """v2 on the host (deployed once), then v1 live again."""
    deployer.run({"image": V2})
    v2 = release_at(test_instance, "current")
    put_live(deployer, test_instance, v1)
    return v2


def test_a_deploy_reloads_nothing_and_drops_no_kept_connection(deployer, test_instance, v1, v2_release):  # noqa: F811
    put_live(deployer, test_instance, v1)
    result, load, before, after = switch_under_load(deployer, test_instance, "test-v2", {"image": V2})
    assert_nothing_dropped(load, ["test-v1", "test-v2"])
    assert after == before, "nginx's master or workers changed: it was reloaded or restarted"
    assert "live.sock moved, no reload" in result.stdout + result.stderr
    # The live colour's socket is what nginx reaches; the link moved to it.
    live = switch.colour_in_upstream(test_instance.inner("cat", UPSTREAM).stdout)
    assert test_instance.readlink(f"{EDGE_DIR}/conf.d/sockets/live.sock") == switch.socket_name(live)


def test_a_rollback_reloads_nothing_and_drops_no_kept_connection(deployer, test_instance, v1, v2_release):  # noqa: F811
    put_live(deployer, test_instance, v2_release, previous=v1)
    result, load, before, after = switch_under_load(deployer, test_instance, "test-v1", {},
                                                    deploy_file="rollback.py")
    assert_nothing_dropped(load, ["test-v2", "test-v1"])
    assert after == before, "nginx's master or workers changed: it was reloaded or restarted"
    assert release_at(test_instance, "current") == v1


def test_a_host_of_the_reload_layout_moves_over_with_one_reload(deployer, test_instance, v1, v2_release):  # noqa: F811
    """upstream.inc names the live container, as the layout before sockets wrote it; nginx loaded it."""
    put_live(deployer, test_instance, v1)
    live = switch.colour_in_upstream(test_instance.inner("cat", UPSTREAM).stdout)
    test_instance.inner(*switch.write_upstream(f"{EDGE_DIR}/conf.d", switch.container(live), 8000))
    test_instance.inner(*reload_nginx(switch.EDGE_PROJECT, f"{EDGE_DIR}/compose.yaml", f"{EDGE_DIR}/stack.env"))
    wait_until(lambda: not any("shutting down" in line for line in nginx_processes(test_instance)),
               "the old nginx workers gone", 30)

    # The move: one reload, which clients that retry (and fresh ones) do not see.
    result, load, before, after = switch_under_load(deployer, test_instance, "test-v2", {"image": V2}, retry=True)
    # (Around a reload, nginx's old workers still answer requests sent on their kept connections
    # from the old colour for a moment: the versions may alternate before v2 holds.)
    assert load.failed == 0 and load.versions[0] == "test-v1" and load.versions[-1] == "test-v2", load.summary()
    assert "upstream.inc changed, nginx reloaded" in result.stdout + result.stderr
    assert after != before

    # From then on, no reload.
    result, load, before, after = switch_under_load(deployer, test_instance, "test-v1", {},
                                                    deploy_file="rollback.py")
    assert_nothing_dropped(load, ["test-v2", "test-v1"])
    assert after == before

"""What serves on a host, as the console commands (`run`, `shell`, `logs`, `status`) find it there.

The switch (onehost/commands/switch.py) leaves two records a console command can trust:
`<data_dir>/releases/current`, the link to the live release's directory (its compose.yaml,
release.env with the pinned APP_IMAGE, release.json), and the edge's `conf.d/upstream.inc`,
which names the colour nginx sends traffic to. These build POSIX sh lines that read them
on the host, so a command never needs the deploy's settings to find its way.
"""

from __future__ import annotations

import shlex

from onehost.commands.host_defaults import DATA_DIR
from onehost.commands.switch import COLOURS, UPSTREAM_FILE, HostLayout, container

# A remote script exits with this when the host has no release yet; the message it prints says so.
NO_RELEASE_EXIT = 64


def layout_at(data_dir: str = DATA_DIR) -> HostLayout:
    """The paths of a host whose data directory is `data_dir` (console commands read paths only)."""
    return HostLayout(data_dir=data_dir, network="", app_port=0, server_name="")


def no_release_message(host_name: str) -> str:
    return (f"{host_name} has no release yet: deploy one first "
            "(pyinfra deploy/inventory.py deploy/deploy.py --data image=...)")


def require_release(layout: HostLayout, host_name: str) -> str:
    """Sets $release to the live release's directory (the link resolved, so a deploy that moves
    `current` meanwhile does not change what this command runs), or stops with NO_RELEASE_EXIT."""
    current = shlex.quote(f"{layout.releases}/current")
    message = shlex.quote(f"error: {no_release_message(host_name)}")
    return (f'release=$(readlink -f {current}) && [ -f "$release/release.env" ] '
            f"|| {{ echo {message} >&2; exit {NO_RELEASE_EXIT}; }}")


def upstream_file(layout: HostLayout) -> str:
    return f"{layout.edge_dir}/conf.d/{UPSTREAM_FILE}"


def live_colour(layout: HostLayout) -> str:
    """Sets $colour to the colour upstream.inc names (empty when it names neither)."""
    upstream = shlex.quote(upstream_file(layout))
    cases = " ".join(f"*{container(colour)}:*) colour={colour} ;;" for colour in COLOURS)
    return f'case "$(cat {upstream} 2>/dev/null)" in {cases} *) colour= ;; esac'

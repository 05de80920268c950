"""The directories a deploy writes to, made (or given their modes) in one operation before the
tasks that fill them: one fact for all of them instead of one per directory."""

from pyinfra.api import deploy

from deploy.lib.directories import directories
from deploy.plans.release_plan import ReleasePlan
from deploy.settings import settings


def deploy_directories(plan: ReleasePlan) -> dict[str, str]:
    layout = settings().layout
    return {
        layout.data_stack_dir: "700",      # postgres.env: the database password
        layout.backups: "700",             # dumps and the backups' AWS credentials
        plan.releases: "755",
        plan.directory: "755",
        layout.static_dir: "755",          # nginx serves it
        f"{layout.edge_dir}/conf.d": "755",
        # The colours' Unix sockets and the live.sock link nginx proxies to (onehost/commands/
        # switch.py): any app user may create its socket there, as in /tmp.
        layout.sockets_dir: "1777",
    }


@deploy("Host layout")
def make_deploy_directories(plan: ReleasePlan):
    directories(name="Create the deploy's directories", wanted=deploy_directories(plan))

"""The broker: a Redis-compatible server (Valkey) for Celery or RQ, a long-lived stack like `data`.

On the shared network only (no published port), its data in <data_dir>/broker. An app deploy
does not restart it: `up` runs only when its own files changed or it is not running.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from deploy.lib import stacks
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan
from deploy.settings import settings
from deploy.tasks.images import ship_image
from onehost.commands import processes
from onehost.commands.release import render_env


def broker_stack_dir() -> str:
    return f"{settings().layout.data_dir}/stacks/{processes.BROKER_PROJECT}"


@deploy("Broker stack")
def deploy_broker_stack(plan: ReleasePlan):
    if plan.broker is None:
        host.noop("no broker on this host (broker = \"off\")")
        return []
    ship_image(plan.broker)
    stack_dir, data_dir = broker_stack_dir(), settings().layout.data_dir
    files.directory(name="Create the broker stack directory", path=stack_dir, mode="700")
    files.directory(name="Create the broker's data directory", path=f"{data_dir}/broker", mode="700")
    changes = [stacks.put_texts(name="Write the broker stack compose file and variables", texts={
        f"{stack_dir}/compose.yaml": (COMPOSE_DIR / "broker.yaml").read_text(),
        f"{stack_dir}/stack.env": render_env(processes.broker_stack_env(
            plan.broker.compose_reference, settings().deploy.network_name, data_dir,
            settings().processes.broker_maxmemory)),
    })]
    return stacks.converge(processes.BROKER_PROJECT, f"{stack_dir}/compose.yaml", f"{stack_dir}/stack.env",
                            (processes.BROKER_SERVICE,), changes)

"""The data service: PostgreSQL on the data volume, on the shared network only."""

from pyinfra.api import deploy
from pyinfra.operations import files

from deploy.lib import stacks
from deploy.lib.private_upload import private_file
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan
from deploy.settings import settings
from onehost.commands import switch
from onehost.commands.release import render_env

PROJECT = switch.DATA_PROJECT


@deploy("Data stack")
def deploy_data_stack(plan: ReleasePlan):
    stack_dir = settings().layout.data_stack_dir
    files.directory(name="Create the data stack directory", path=stack_dir, mode="700")
    changes = [
        stacks.put_text("Write the data stack compose file", (COMPOSE_DIR / "data.yaml").read_text(),
                        f"{stack_dir}/compose.yaml"),
        stacks.put_text("Write the data stack variables",
                        render_env({"POSTGRES_IMAGE": plan.postgres.compose_reference,
                                    "NETWORK_NAME": settings().deploy.network_name,
                                    "DATA_DIR": settings().layout.data_dir}),
                        f"{stack_dir}/stack.env"),
        private_file(name="Write the PostgreSQL credentials", content=plan.postgres_env,
                     dest=f"{stack_dir}/postgres.env"),
    ]
    return [stacks.converge(PROJECT, f"{stack_dir}/compose.yaml", f"{stack_dir}/stack.env",
                            ("postgres",), changes)]

"""The data service: PostgreSQL on the data volume, on the shared network only. Its directory
is made with the others (deploy/tasks/host_layout.py)."""

from pyinfra.api import deploy

from deploy.facts import FileStates, asked_while_planning
from deploy.lib import stacks
from deploy.lib.deploy_paths import data_stack_files
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan
from deploy.settings import settings
from onehost.commands import switch
from onehost.commands.release import render_env

PROJECT = switch.DATA_PROJECT


@deploy("Data stack")
def deploy_data_stack(plan: ReleasePlan):
    compose_file, env_file, postgres_file = data_stack_files()
    texts = {
        compose_file: (COMPOSE_DIR / "data.yaml").read_text(),
        env_file: render_env({"POSTGRES_IMAGE": plan.postgres.compose_reference,
                              "NETWORK_NAME": settings().deploy.network_name,
                              "DATA_DIR": settings().layout.data_dir}),
        postgres_file: plan.postgres_env,
    }
    # No operation before these writes the stack's files: both read them as they were when planning.
    before = asked_while_planning(FileStates, paths=data_stack_files())
    # A new image or setting that does not come up healthy is undone with these (converge_or_undo).
    stacks.keep_changing_files("Keep the data stack's current files until the new one is healthy", texts, before)
    changes = stacks.write_texts("Write the data stack compose file, variables and credentials", texts, before,
                                 private=(postgres_file,))
    return stacks.converge_or_undo(PROJECT, compose_file, env_file, ("postgres",), changes, list(texts))

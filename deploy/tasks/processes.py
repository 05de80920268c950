"""The declared processes (workers, beat) follow the live release: run after the web switch by
deploy.py and rollback.py.

The new colour's processes start from the release's image and app.env; the other colour's stop
with SIGTERM and process_stop_grace_seconds to finish their tasks. A scheduler (Celery beat) of
the old release stops before the new one starts, so one runs at a time; workers overlap, the old
ones stopping after the new ones run. A re-run with nothing changed changes nothing.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploy.facts import ProcessProjects, asked_while_planning
from deploy.lib import stacks
from deploy.plans.release_plan import COMPOSE_DIR
from deploy.plans.switch_plan import is_live
from deploy.settings import settings
from onehost.commands import compose_commands as commands
from onehost.commands import processes
from onehost.commands.release import render_env
from onehost.commands.switch import SwitchPlan


@deploy("Processes")
def follow_release(plan: SwitchPlan):
    """After the switch, the processes of `plan`'s release run on the colour it went live on."""
    section = settings().processes
    running = asked_while_planning(ProcessProjects)
    if not section.processes and not running:
        host.noop("no processes declared")
        return
    # The switch puts the release on the idle colour; a release that was live already stays put.
    colour = plan.live_colour if is_live(plan) else plan.idle_colour
    release_dir = plan.release_dir
    written = {}
    if section.processes:
        files.directory(name="Create the release's process settings directory", path=f"{release_dir}/processes",
                        mode="755")
        compose = stacks.put_text("Write the processes compose file", (COMPOSE_DIR / "processes.yaml").read_text(),
                                  processes.compose_file(release_dir))
        for name, command in section.processes.items():
            env = processes.process_env(name, command, colour, plan.host_image, plan.layout.network,
                                        section.stop_grace_seconds)
            written[name] = [compose, stacks.put_text(f"Write the {name} process variables", render_env(env),
                                                      processes.env_file(release_dir, name))]
    for step, name in processes.steps(dict(section.processes), colour, running):
        if step == "stop":
            server.shell(name=f"Stop process project {name} (SIGTERM, up to {section.stop_grace_seconds}s "
                              "for running tasks)",
                         commands=[commands.shell(processes.stop(name, section.stop_grace_seconds))])
            continue
        up_to_date = running.get(processes.project(colour, name)) == "running"
        server.shell(name=f"Start process {name} on {colour}",
                     commands=[commands.shell(processes.start(colour, name, release_dir))],
                     _if=lambda changes=written[name], up_to_date=up_to_date:
                         not up_to_date or any(op.did_change() for op in changes))

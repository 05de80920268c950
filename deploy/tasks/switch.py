"""Putting a release live: the blue/green switch (onehost.remote.switch) run over the pyinfra connection."""

import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import NestedOperationError
from pyinfra.operations import python, server

from deploy.facts import AppColours, asked_while_planning
from deploy.plans.switch_plan import is_live
from deploy.settings import settings
from onehost.commands import lock as deploy_lock
from onehost.commands import switch
from onehost.commands.switch import SwitchPlan
from onehost.remote.switch import Switch


@deploy("Switch")
def switch_to(plan: SwitchPlan):
    if is_live(plan):
        host.noop(f"release {plan.release_id} is live on {plan.live_colour}")
        return
    python.call(name=f"Put {plan.release_id} live on {plan.idle_colour} "
                     f"({'then stop ' + plan.live_colour if plan.live_colour else 'first release'})",
                function=run_switch, plan=plan)


LEGACY_PROJECT = "app"   # the single app project of layouts before blue/green


@deploy("Retire the single-colour app")
def retire_single_colour_app():
    """Hosts deployed before blue/green run project `app`; once a colour serves, it goes."""
    if LEGACY_PROJECT not in asked_while_planning(AppColours):
        host.noop("no single-colour app project")
        return
    server.shell(name="Stop and remove the app project of the single-colour layout",
                 commands=[shlex.join(["docker", "compose", "--project-name", LEGACY_PROJECT, "down",
                                       "--timeout", str(settings().deploy.drain_seconds)])])


def run_switch(plan: SwitchPlan) -> None:
    sudo = settings().deploy.sudo

    def run_command(command: list[str]) -> tuple[bool, str]:
        ok, output = host.run_shell_command(shlex.join(command), _sudo=sudo)
        return ok, "\n".join(output.stdout_lines + output.stderr_lines)

    try:
        Switch(plan, run_command, say=lambda line: logger.info(f"{host.name}: {line}")).execute()
    except (switch.SwitchFailed, deploy_lock.LockHeld) as failure:
        # One clear line; pyinfra would print a traceback for any other exception.
        host.log_styled(str(failure), fg="red", log_func=logger.error)
        raise NestedOperationError(str(failure)) from None

"""The switch's plan: what is live on the host, who holds the lock, and what the switch will do."""

from pyinfra import host, logger
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import Link

from deploy.facts import AppColours, DeployLock, TextFile, asked_while_planning
from deploy.settings import settings
from onehost.commands import lock as deploy_lock
from onehost.commands import switch
from onehost.commands.switch import HostLayout, SwitchPlan


def link_target(path: str) -> str | None:
    link = asked_while_planning(Link, path=path)
    return link["link_target"] if link else None


def live_colour(layout: HostLayout) -> str | None:
    """The colour nginx sends traffic to, when that colour is running."""
    upstream = asked_while_planning(TextFile, path=f"{layout.edge_dir}/conf.d/{switch.UPSTREAM_FILE}")
    colour = switch.colour_in_upstream(upstream or "")
    if colour and colour_state(colour)[0] == "running":
        return colour
    return None


def colour_state(colour: str) -> tuple[str | None, str | None]:
    """(container state, release directory) of a colour."""
    state, compose_file = asked_while_planning(AppColours).get(switch.project(colour), (None, None))
    return state, compose_file.rsplit("/", 1)[0] if compose_file else None


def check_lock(layout: HostLayout) -> None:
    """Refuse before anything changes when another deploy holds the lock (the switch takes it)."""
    held = asked_while_planning(DeployLock, lock_dir=layout.lock_dir)
    ttl = settings().deploy.lock_ttl_seconds
    if held and not deploy_lock.should_break(held, ttl, settings().deploy.break_lock):
        raise DeployError(deploy_lock.refusal(layout.lock_dir, held, ttl))


def switch_plan(action: str, release_id: str, release_dir: str, image: str, host_image: str,
                image_id: str | None, git_commit: str | None, pulled_by_digest: bool = False) -> SwitchPlan:
    layout, deploy = settings().layout, settings().deploy
    check_lock(layout)
    return SwitchPlan(
        action=action, release_id=release_id, release_dir=release_dir,
        live_colour=live_colour(layout), replaces=link_target(f"{layout.releases}/current"),
        image=image, host_image=host_image, image_id=image_id, git_commit=git_commit,
        image_digest=host_image if pulled_by_digest else None,
        layout=layout, db_user=deploy.db_user, db_name=deploy.db_name,
        health_timeout_seconds=deploy.health_timeout_seconds, drain_seconds=deploy.drain_seconds,
        lock_ttl_seconds=deploy.lock_ttl_seconds, break_lock=deploy.break_lock)


def is_live(plan: SwitchPlan) -> bool:
    """The release already serves: `current` names it and the live colour runs it."""
    return (plan.replaces == plan.release_dir and plan.live_colour is not None
            and colour_state(plan.live_colour)[1] == plan.release_dir)


def describe(plan: SwitchPlan, migrations: str) -> None:
    serving = (f"{plan.live_colour} serves {(plan.replaces or '?').rsplit('/', 1)[-1]}"
               if plan.live_colour else "nothing serves yet")
    if is_live(plan):
        logger.info(f"{host.name}: plan: {plan.release_id} is already live on {plan.live_colour}; "
                    "no switch")
        return
    logger.info(f"{host.name}: plan: {plan.action} {plan.release_id} ({plan.image}) on "
                f"{plan.idle_colour}; {serving}; migrations: {migrations}")

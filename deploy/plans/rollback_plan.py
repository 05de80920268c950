"""Which release a rollback puts back, checked before anything changes."""

import json
import re

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from deploy.facts import DockerImageId, ReleaseDirectories, TextFile, ask_while_planning_at_once, asked_while_planning
from deploy.plans import switch_plan as switching
from deploy.plans.questions import release_questions, switch_questions
from deploy.settings import settings
from onehost.commands.release import parse_env_file
from onehost.commands.switch import SwitchPlan

RELEASE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _on_host(releases: str) -> str:
    names = [name for _, name, _ in asked_while_planning(ReleaseDirectories, releases=releases)]
    return ", ".join(reversed(names)) or "none"


def plan_rollback() -> SwitchPlan:
    """To `previous`, or to the release named with --data release=<id>."""
    releases = settings().layout.releases
    name = settings().run.release
    ask_while_planning_at_once(switch_questions())
    if name:
        if not RELEASE_NAME.match(str(name)) or name in ("current", "previous"):
            raise DeployError(f"release {name!r} is not a release id: give one of {_on_host(releases)}")
        target = f"{releases}/{name}"
    else:
        target = switching.link_target(f"{releases}/previous")
        if not target:
            raise DeployError(f"{host.name} has no previous release to roll back to: name one with "
                              f"--data release=<id> (releases there: {_on_host(releases)})")
    ask_while_planning_at_once(release_questions(target))
    record_text = asked_while_planning(TextFile, path=f"{target}/release.json")
    env_text = asked_while_planning(TextFile, path=f"{target}/release.env")
    release_id = target.rsplit("/", 1)[-1]
    if record_text is None or env_text is None:
        raise DeployError(f"release {release_id} is not on {host.name} (pruned, or never deployed "
                          f"there): releases there: {_on_host(releases)}")
    record = json.loads(record_text)
    host_image = parse_env_file(env_text, f"{target}/release.env")["APP_IMAGE"]
    if asked_while_planning(DockerImageId, reference=host_image) is None:
        # A release pulled from a registry is pulled again; a shipped one needs its local image.
        pull = " --data pull=true" if record.get("image_digest") else ""
        raise DeployError(f"the image of release {release_id} ({host_image}) is no longer on "
                          f"{host.name}: deploy it again with --data image={record['image']}{pull}")
    plan = switching.switch_plan("rollback", release_id, target, record["image"], host_image,
                              record.get("image_id"), record.get("git_commit"),
                              pulled_by_digest=bool(record.get("image_digest")))
    switching.describe(plan, "not run by a rollback (a warning names any the release does not know)")
    return plan

"""The directories a deploy writes to, made (or given their modes) in one operation before the
tasks that fill them, their modes read while planning (deploy/plans/questions.py)."""

from pyinfra.api import deploy

from deploy.facts import DirectoryModes, asked_while_planning
from deploy.lib.deploy_paths import deploy_directories
from deploy.lib.directories import directories
from deploy.plans.release_plan import ReleasePlan


@deploy("Host layout")
def make_deploy_directories(plan: ReleasePlan):
    wanted = deploy_directories(plan.releases, plan.directory, plan.tls)
    directories(name="Create the deploy's directories", wanted=wanted,
                before=asked_while_planning(DirectoryModes, paths=tuple(wanted)))

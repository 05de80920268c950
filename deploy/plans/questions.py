"""What a deploy asks the host while it plans, asked in one round trip before any of it is read.

The plans and task modules read these through asked_while_planning, so the answers are the
same whether they came in this batch or one by one: a question missing here costs a round
trip, never a wrong answer."""

from pyinfra.facts.files import File, Link

from deploy.facts import (
    AppColours,
    ComposeServiceStates,
    DataStackIdentity,
    DeployLock,
    DirectoryModes,
    DockerImageId,
    FileStates,
    ProcessProjects,
    ReleaseDirectories,
    TextFile,
    ask_while_planning_at_once,
)
from deploy.lib.deploy_paths import (
    compared_release_files,
    data_stack_files,
    deploy_directories,
    edge_stack_files,
    in_live_release,
    site_files,
)
from deploy.settings import settings
from onehost.commands import media, release, switch
from onehost.commands.processes import BROKER_PROJECT
from onehost.commands.tls import TlsPlan


def switch_questions() -> list[tuple[type, dict]]:
    """What the switch's plan reads (deploy/plans/switch_plan.py) and the processes that follow it."""
    layout = settings().layout
    return [
        (DeployLock, {"lock_dir": layout.lock_dir}),
        (TextFile, {"path": f"{layout.edge_dir}/conf.d/{switch.UPSTREAM_FILE}"}),
        (AppColours, {}),
        (Link, {"path": f"{layout.releases}/current"}),
        (Link, {"path": f"{layout.releases}/previous"}),
        (ReleaseDirectories, {"releases": layout.releases}),
        (ProcessProjects, {}),
    ]


def deploy_questions(release_dir: str, pinned_images: list[str], tls: TlsPlan) -> list[tuple[type, dict]]:
    layout = settings().layout
    return [
        *switch_questions(),
        (DataStackIdentity, {"path": f"{layout.data_stack_dir}/postgres.env"}),
        *[(ComposeServiceStates, {"project": project})
          for project in (switch.DATA_PROJECT, switch.EDGE_PROJECT, BROKER_PROJECT)],
        *[(DockerImageId, {"reference": reference}) for reference in pinned_images],
        (File, {"path": f"{layout.backups}/config.json"}),
        (File, {"path": f"{release_dir}/release.json"}),
        (File, {"path": f"{release_dir}/{release.STATIC_PUBLISHED_MARKER}"}),
        (File, {"path": f"{release_dir}/{media.OWNED_MARKER}"}),
        *[(TextFile, {"path": in_live_release(name)})
          for name in (release.STATIC_PUBLISHED_MARKER, media.OWNED_MARKER)],
        # What the operations that make the directories and write the stacks' and the release's
        # files compare: no operation before them changes these.
        (DirectoryModes, {"paths": tuple(deploy_directories(layout.releases, release_dir, tls))}),
        (FileStates, {"paths": data_stack_files()}),
        (FileStates, {"paths": edge_stack_files()}),
        (FileStates, {"paths": tuple(site_files())}),
        (FileStates, {"paths": compared_release_files(release_dir)}),
    ]


def release_questions(release_dir: str) -> list[tuple[type, dict]]:
    """What a rollback reads of the release it puts back."""
    return [(TextFile, {"path": f"{release_dir}/release.json"}), (TextFile, {"path": f"{release_dir}/release.env"})]


def ask_deploy_questions(release_dir: str, pinned_images: list[str], tls: TlsPlan) -> None:
    ask_while_planning_at_once(deploy_questions(release_dir, pinned_images, tls))

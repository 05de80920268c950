"""The files and directories a deploy writes, by path. The tasks that write them and the
questions asked while planning (deploy/plans/questions.py) name the same ones, so each task reads
their state from the plan's one round trip instead of asking again as it runs."""

from deploy.settings import settings
from onehost.commands.tls import TlsPlan

# conf.d file -> its template. conf.d/*.conf is read at the main config's http level (00-http.conf
# first); the *.inc files are included by app.conf. Written in this order, the site last.
# (tls-certificate.inc is the certificate task's: it depends on what was issued.)
SITE_FILES = {
    "security-headers.inc": "security-headers.inc.j2",
    "proxy.inc": "proxy.inc.j2",
    "json-errors.inc": "json-errors.inc.j2",
    "client-limits.inc": "client-limits.inc.j2",
    "app-locations.inc": "app-locations.inc.j2",
    "acme-challenge.inc": "acme-challenge.inc.j2",
    "tls.inc": "tls.inc.j2",
    "00-http.conf": "http.conf.j2",
    "app.conf": "app.conf.j2",
}


def data_stack_files() -> tuple[str, str, str]:
    """The data stack's compose file, its variables and PostgreSQL's credentials."""
    stack_dir = settings().layout.data_stack_dir
    return f"{stack_dir}/compose.yaml", f"{stack_dir}/stack.env", f"{stack_dir}/postgres.env"


def edge_stack_files() -> tuple[str, str]:
    """The edge stack's compose file and its variables."""
    stack_dir = settings().layout.edge_dir
    return f"{stack_dir}/compose.yaml", f"{stack_dir}/stack.env"


def site_files() -> dict[str, str]:
    """nginx's site configuration in the edge's conf.d: path -> template."""
    return {f"{settings().layout.edge_dir}/conf.d/{name}": template for name, template in SITE_FILES.items()}


def release_files(directory: str) -> tuple[str, str, str, str]:
    """A release's compose file, its pinned image, the app's environment and its record."""
    return (f"{directory}/compose.yaml", f"{directory}/release.env", f"{directory}/app.env",
            f"{directory}/release.json")


def in_live_release(name: str) -> str:
    """A file of the release serving now: its markers (what it published, whom it gave the media
    to) and its app.env, which a new release of the same settings copies rather than receives."""
    return f"{settings().layout.releases}/current/{name}"


def compared_release_files(directory: str) -> tuple[str, ...]:
    """What the release's write compares, in one question: its files and the serving app.env."""
    return (*release_files(directory), in_live_release("app.env"))


def deploy_directories(releases: str, directory: str, tls: TlsPlan) -> dict[str, str]:
    """Every directory the deploy writes to: path -> mode."""
    layout = settings().layout
    wanted = {
        layout.data_stack_dir: "700",      # postgres.env: the database password
        layout.backups: "700",             # dumps and the backups' AWS credentials
        releases: "755",
        directory: "755",
        layout.static_dir: "755",          # nginx serves it
        f"{layout.edge_dir}/conf.d": "755",
        # The colours' Unix sockets and the live.sock link nginx proxies to (onehost/commands/
        # switch.py): any app user may create its socket there, as in /tmp.
        layout.sockets_dir: "1777",
        # nginx mounts it, TLS or not; certbot's webroot answers the ACME challenge.
        tls.letsencrypt_dir: "755",
    }
    if tls.enabled:
        wanted[tls.webroot] = "755"
    return wanted

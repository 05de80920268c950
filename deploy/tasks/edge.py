"""The edge: nginx in front of the app, and the check that the app answers through it."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.util import get_template
from pyinfra.operations import server

from deploy.facts import FileStates, TextFile, asked_while_planning
from deploy.lib import stacks
from deploy.lib.deploy_paths import SITE_FILES, edge_stack_files, site_files
from deploy.plans.release_plan import COMPOSE_DIR, ReleasePlan
from deploy.settings import EdgeSettings, settings
from deploy.tasks.certificates import prepare_certificate
from deploy.tasks.static_files import static_dir
from onehost.commands import cloudflare as cloudflare_ranges
from onehost.commands import compose_commands as commands
from onehost.commands import switch
from onehost.commands.release import render_env
from onehost.paths import REPO_ROOT

PROJECT = switch.EDGE_PROJECT
CERTIFICATE_ACCESS = "/usr/local/sbin/onehost-certificate-access"
NGINX_TEMPLATES = REPO_ROOT / "nginx" / "templates"
# The group_data keys the nginx templates read: the settings' edge section.
SITE_SETTINGS = EdgeSettings.keys()


@deploy("Edge stack")
def deploy_edge_stack(plan: ReleasePlan):
    stack_dir = settings().layout.edge_dir
    compose_file, env_file = edge_stack_files()
    stack_files = stacks.write_texts("Write the edge stack compose file and variables", {
        compose_file: (COMPOSE_DIR / "edge.yaml").read_text(),
        env_file: render_env({"NGINX_IMAGE": plan.nginx.compose_reference,
                              "NETWORK_NAME": settings().deploy.network_name,
                              "LETSENCRYPT_DIR": plan.tls.letsencrypt_dir,
                              "STATIC_DIR": static_dir()}),
    }, asked_while_planning(FileStates, paths=edge_stack_files()))
    # The switch owns upstream.inc from then on; until a release is live it names blue. A host
    # deployed before the socket layout keeps its file until the switch moves it over.
    upstream = f"{stack_dir}/conf.d/{switch.UPSTREAM_FILE}"
    if asked_while_planning(TextFile, path=upstream) is None:
        stacks.put_text("Point nginx at the first colour", switch.socket_upstream(
            switch.COLOURS[0], settings().layout.app_port), upstream)
    certificate = prepare_certificate(plan.tls)
    site_settings = settings().edge.template_values()
    cloudflare = cloudflare_ranges.shipped_ranges()
    values = {"tls": plan.tls.enabled, "static_files": bool(settings().deploy.app_static_dir),
              "cloudflare_ranges": cloudflare.networks, "cloudflare_ranges_taken": cloudflare.taken,
              **site_settings}
    # Rendered here as files.template renders (pyinfra's get_template), and compared in one fact.
    site = certificate + stacks.write_texts(
        f"Render the nginx configuration ({len(SITE_FILES)} files in conf.d)",
        {path: get_template(str(NGINX_TEMPLATES / template)).render(values) for path, template in site_files().items()},
        asked_while_planning(FileStates, paths=tuple(site_files())))
    started = stacks.converge(PROJECT, compose_file, env_file, ("nginx",), stack_files)
    if not site:
        host.noop("nginx's site configuration is unchanged: no reload")
        return started
    # Before a reload: the new configuration loads the certificate in the workers, per handshake.
    if certificate:
        server.shell(
            name="Let nginx's workers read the certificates",
            commands=[CERTIFICATE_ACCESS],
            _if=lambda: any(op.did_change() for op in certificate),
        )
    reloaded = server.shell(
        name="Reload nginx with the new site configuration",
        commands=[commands.shell(commands.reload_nginx(PROJECT, compose_file, env_file))],
        _if=lambda: any(op.did_change() for op in site) and not any(op.did_change() for op in started),
    )
    return [*started, reloaded]


@deploy("Health check")
def check_health_through_edge(changes):
    """After the edge or data stack restarted, the app still answers /health/ through nginx."""
    if not changes:
        host.noop("neither the edge nor the data stack could have restarted")
        return
    layout = settings().layout
    server.shell(
        name="Check /health/ through nginx",
        commands=[commands.shell(commands.edge_health_check(
            layout.server_name, layout.tls, attempts=settings().deploy.health_timeout_seconds))],
        _if=lambda: any(op.did_change() for op in changes),
    )

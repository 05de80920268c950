"""The edge's certificate: a placeholder until the first issuance, then certbot's, on /data.

Before the edge starts: the letsencrypt directory, the webroot and, while no certificate was
issued, a short-lived self-signed placeholder, so nginx can start and answer the challenge.
After the edge is up: certbot (webroot method) gets a certificate when none covers exactly
`server_names`, nginx is pointed at it and reloaded. A host whose /data already holds the
certificate (a replaced host, a re-run) does not ask the ACME server again. Renewal is the
image's timer (deploy/tasks/certbot.py).
"""

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploy.facts import CertificateNames, CertificateValid
from deploy.tasks.switch import host_layout
from onehost import compose_commands as commands
from onehost import switch, tls
from onehost.paths import REPO_ROOT

CERTIFICATE_TEMPLATE = REPO_ROOT / "nginx" / "templates" / "tls-certificate.inc.j2"
CERTIFICATE_INCLUDE = "tls-certificate.inc"


def _issued_names(plan: tls.TlsPlan) -> list[str] | None:
    return host.get_fact(CertificateNames, path=f"{plan.live_dir}/fullchain.pem")


def _point_nginx_at(plan: tls.TlsPlan, issued: bool, name: str):
    return files.template(name=name, src=str(CERTIFICATE_TEMPLATE),
                          dest=f"{host_layout().edge_dir}/conf.d/{CERTIFICATE_INCLUDE}", mode="644",
                          **tls.nginx_certificate(plan, issued))


@deploy("TLS certificate files")
def prepare_certificate(plan: tls.TlsPlan):
    """Everything nginx needs to start with TLS; returns the operations that changed its files."""
    if not plan.enabled:
        files.directory(name="Create the (unused) letsencrypt directory nginx mounts",
                        path=plan.letsencrypt_dir, mode="755")
        return []
    files.directory(name="Create the letsencrypt directory", path=plan.letsencrypt_dir, mode="755")
    files.directory(name="Create the ACME challenge webroot", path=plan.webroot, mode="755")
    if host.data.get("acme_ca_bundle"):
        files.put(name="Install the ACME server's CA bundle", src=str(Path(host.data.acme_ca_bundle).expanduser()),
                  dest=plan.ca_bundle, mode="644")
    else:
        files.file(name="No private ACME CA bundle", path=plan.ca_bundle, present=False)
    issued = _issued_names(plan) is not None
    changes = []
    if not issued and not host.get_fact(CertificateValid, path=f"{plan.placeholder_dir}/fullchain.pem",
                                        seconds=tls.PLACEHOLDER_RENEW_SECONDS):
        files.directory(name="Create the placeholder certificate directory", path=plan.placeholder_dir,
                        mode="700")
        changes.append(server.shell(
            name=f"Make a self-signed placeholder certificate for {', '.join(plan.names)}",
            commands=["umask 077 && " + commands.shell(tls.placeholder_command(plan))]))
    # Until the first issuance nginx serves the placeholder; a certificate for other names
    # (server_names changed) keeps serving until its replacement is issued.
    changes.append(_point_nginx_at(plan, issued, "Point nginx at the "
                                   + ("issued certificate" if issued else "placeholder certificate")))
    return changes


@deploy("TLS certificate")
def issue_certificate(plan: tls.TlsPlan):
    """certbot, only when no certificate on the host covers exactly these names."""
    if not plan.enabled:
        host.noop("TLS is off: nginx serves plain HTTP")
        return
    names = _issued_names(plan)
    if tls.certificate_matches(plan, names):
        host.noop(f"the certificate for {', '.join(plan.names)} is on the host; certbot renews it")
        return
    environment = tls.issue_environment(plan, with_ca_bundle=bool(host.data.get("acme_ca_bundle")))
    hint = (f"certbot could not get a certificate for {', '.join(plan.names)} from {plan.directory_url}: "
            "check that each name's DNS points at this host and that port 80 is reachable from the "
            "internet; nginx keeps serving " + ("the previous certificate" if names else "the placeholder"))
    server.shell(
        name=f"Get a certificate for {', '.join(plan.names)} from {plan.directory_url}",
        commands=[f"{commands.shell(tls.issue_command(plan))} || {{ echo {commands.shell([hint])} >&2; exit 1; }}"],
        _env=environment,
    )
    _point_nginx_at(plan, True, "Point nginx at the issued certificate")
    edge = host_layout().edge_dir
    server.shell(name="Reload nginx with the issued certificate", commands=[commands.shell(
        commands.reload_nginx(switch.EDGE_PROJECT, f"{edge}/compose.yaml", f"{edge}/stack.env"))])

"""The edge's certificate: a placeholder until the first issuance, then certbot's, on /data.

Before the edge starts (the letsencrypt directory and the webroot are made with the deploy's other
directories): while no certificate was issued, a short-lived self-signed placeholder, so nginx can
start and answer the challenge.
After the edge is up: certbot (webroot method) gets a certificate when none covers exactly
`server_names` from the ACME directory `acme_server` names (tls.issuance), nginx is pointed at
it and reloaded. Before certbot runs, the challenge path is fetched the way the ACME server
will, so a CDN that cannot pass it (CloudFlare in "Full (strict)") is named with the fix. A
host whose /data already holds the certificate (a replaced host, a re-run) does not ask the
ACME server again. Renewal is the image's timer (deploy/tasks/certbot.py).
"""

import secrets
import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError, NestedOperationError
from pyinfra.operations import files, python, server

from deploy.facts import CertificateNames, CertificateValid, TextFile
from deploy.settings import settings
from onehost.commands import cloudflare, switch, tls
from onehost.commands import compose_commands as commands
from onehost.paths import REPO_ROOT

CERTIFICATE_TEMPLATE = REPO_ROOT / "nginx" / "templates" / "tls-certificate.inc.j2"
CERTIFICATE_INCLUDE = "tls-certificate.inc"


def _issued_names(plan: tls.TlsPlan) -> list[str] | None:
    return host.get_fact(CertificateNames, path=f"{plan.live_dir}/fullchain.pem")


def _point_nginx_at(plan: tls.TlsPlan, issued: bool, name: str):
    return files.template(name=name, src=str(CERTIFICATE_TEMPLATE),
                          dest=f"{settings().layout.edge_dir}/conf.d/{CERTIFICATE_INCLUDE}", mode="644",
                          **tls.nginx_certificate(plan, issued))


@deploy("TLS certificate files")
def prepare_certificate(plan: tls.TlsPlan):
    """Everything nginx needs to start with TLS; returns the operations that changed its files."""
    # The letsencrypt directory and the webroot are made with the deploy's others
    # (deploy/tasks/host_layout.py).
    if not plan.enabled:
        return []
    if settings().tls.acme_ca_bundle:
        files.put(name="Install the ACME server's CA bundle", src=str(settings().tls.acme_ca_bundle),
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


def check_challenge_path(plan: tls.TlsPlan) -> None:
    """Fetch each name's challenge path from the host, as the ACME server will: a probe token in
    the webroot must come back. A CloudFlare answer that cannot (cloudflare.challenge_blocked)
    stops the deploy with the fix; anything else (no DNS yet, a firewall) is left to certbot."""
    sudo = settings().deploy.sudo
    token = f"onehost-probe-{secrets.token_hex(8)}"
    probe = f"{plan.webroot}{cloudflare.PROBE_PATH}{token}"

    def run(command: list[str]) -> tuple[bool, str]:
        ok, output = host.run_shell_command(shlex.join(command), _sudo=sudo)
        return ok, "\n".join(output.stdout_lines)

    run(["sh", "-c", 'mkdir -p "${1%/*}" && printf %s "$2" > "$1"', "write-probe", probe, token])
    try:
        for name in plan.names:
            answer = cloudflare.parse_probe(run(cloudflare.challenge_probe_command(name, token))[1])
            problem = cloudflare.challenge_blocked(name, token, answer)
            if problem:
                host.log_styled(problem, fg="red", log_func=logger.error)
                raise NestedOperationError(problem)
            if answer.body.strip() != token:
                logger.info(f"{host.name}: {cloudflare.challenge_url(name, token)} did not answer the "
                            f"probe here (status {answer.status or 'none'}); certbot will try")
    finally:
        run(["rm", "-f", probe])


@deploy("TLS certificate")
def issue_certificate(plan: tls.TlsPlan):
    """certbot, only when no certificate on the host covers exactly these names from this ACME directory."""
    if not plan.enabled:
        host.noop("TLS is off: nginx serves plain HTTP")
        return
    names = _issued_names(plan)
    issued_by = tls.issuing_directory(host.get_fact(TextFile, path=plan.renewal_config))
    try:
        decision = tls.issuance(plan, names, issued_by)
    except tls.TlsError as error:
        raise DeployError(str(error)) from None
    if not decision.needed:
        host.noop(decision.reason)
        return
    logger.info(f"{host.name}: a certificate is needed: {decision.reason}")
    python.call(name=f"Check that the ACME server can reach the challenge path of {', '.join(plan.names)}",
                function=check_challenge_path, plan=plan)
    environment = tls.issue_environment(plan, with_ca_bundle=settings().tls.acme_ca_bundle is not None)
    hint = (f"certbot could not get a certificate for {', '.join(plan.names)} from {plan.directory_url}: "
            "check that each name's DNS points at this host and that port 80 is reachable from the "
            "internet; nginx keeps serving " + ("the previous certificate" if names else "the placeholder"))
    command = tls.issue_command(plan, replace=decision.replace)
    server.shell(
        name=f"Get a certificate for {', '.join(plan.names)} from {plan.directory_url}",
        commands=[f"{commands.shell(command)} || {{ echo {commands.shell([hint])} >&2; exit 1; }}"],
        _env=environment,
    )
    _point_nginx_at(plan, True, "Point nginx at the issued certificate")
    server.shell(name="Let nginx's workers read the issued certificate",
                 commands=["/usr/local/sbin/onehost-certificate-access"])
    edge = settings().layout.edge_dir
    server.shell(name="Reload nginx with the issued certificate", commands=[commands.shell(
        commands.reload_nginx(switch.EDGE_PROJECT, f"{edge}/compose.yaml", f"{edge}/stack.env"))])

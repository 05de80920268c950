"""Facts about Docker on the host that pyinfra does not ship."""

import shlex

from pyinfra.api import FactBase


class DockerImageId(FactBase):
    """The id of an image on the host, or None when it is not there."""

    def command(self, reference):
        return (f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(reference)} "
                "2>/dev/null || true")

    def process(self, output):
        value = "".join(output).strip()
        return value or None


class ComposeServiceStates(FactBase):
    """{service: state} for one compose project's containers ('running', 'exited', ...)."""

    default = dict

    def command(self, project):
        label = shlex.quote(f"label=com.docker.compose.project={project}")
        return ("docker ps --all --filter " + label +
                " --format '{{.Label \"com.docker.compose.service\"}} {{.State}}'")

    def process(self, output):
        return dict(line.split(" ", 1) for line in output if " " in line)


class SystemdUnitEnabled(FactBase):
    """Whether a unit is enabled; works offline (an image build has no running systemd)."""

    def command(self, unit):
        return f"systemctl is-enabled {shlex.quote(unit)} 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() in ("enabled", "enabled-runtime", "alias", "static")

"""Facts about Docker on the host that pyinfra does not ship."""

import shlex

from pyinfra import host
from pyinfra.api import FactBase, StringCommand

from onehost.commands import (
    compose_commands,
    fact_batch,
    file_states,
    image_layers,
    lock,
    processes,
    release,
    switch,
    tls,
)

# Facts the plans read while pyinfra prepares the deploy files: no operation has run yet, so the
# host cannot have changed between two questions, and each is asked once per host and run (pyinfra
# asks the host again on every get_fact: each costs a round trip).
_ASKED_WHILE_PLANNING: dict = {}


def asked_while_planning(fact, **arguments):
    """host.get_fact(fact, **arguments), asked of each host once. Only for plan-time reads: an
    operation's own facts (read as it runs) must see what earlier operations changed."""
    key = (host.name, fact, tuple(sorted(arguments.items())))
    if key not in _ASKED_WHILE_PLANNING:
        _ASKED_WHILE_PLANNING[key] = host.get_fact(fact, **arguments)
    return _ASKED_WHILE_PLANNING[key]


class Several(FactBase):
    """The raw answers of many facts' commands, asked in one round trip (onehost.commands.fact_batch)."""

    def command(self, commands):
        return fact_batch.batch_command(commands)

    def process(self, output):
        return list(output)


def ask_while_planning_at_once(questions) -> None:
    """Ask the host every plan-time question of `questions` ([(fact, arguments), ...]) in one round
    trip, and keep each answer for asked_while_planning as if asked alone (the fact's own
    process() reads its own output). A question whose command failed is left to be asked alone,
    so pyinfra reports the failure as it always does."""
    pending = [(fact, arguments) for fact, arguments in questions
               if (host.name, fact, tuple(sorted(arguments.items()))) not in _ASKED_WHILE_PLANNING]
    batchable = [(fact, arguments) for fact, arguments in pending if _batchable(fact(), arguments)]
    if not batchable:
        return
    commands = tuple(_command_text(fact().command(**arguments)) for fact, arguments in batchable)
    # A batch that fails as a whole (no temporary file on a full disk) leaves every question to be
    # asked alone rather than failing the host: with _ignore_errors a failed fact is logged as a
    # warning and gives its default (pyinfra/api/facts.py, _get_fact).
    output = host.get_fact(Several, commands=commands, _ignore_errors=True) or []
    answers = fact_batch.parse_batch(output, len(commands))
    for (fact, arguments), answer in zip(batchable, answers, strict=True):
        if answer is not None and answer[0] == 0:
            _ASKED_WHILE_PLANNING[(host.name, fact, tuple(sorted(arguments.items())))] = fact_value(fact, answer[1])


def fact_value(fact: type[FactBase], lines: list[str]):
    """What pyinfra makes of a fact command's output when it succeeds (pyinfra/api/facts.py,
    _get_fact: process() of the stdout lines, the fact's default when there are none)."""
    instance = fact()
    return instance.process(lines) if lines else instance.default()


def _batchable(fact: FactBase, arguments: dict) -> bool:
    """Facts that need a command checked first or another shell are asked alone."""
    return fact.requires_command(**arguments) is None and not fact.shell_executable


def _command_text(command) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else str(command)


class DockerImageId(FactBase):
    """The id of an image on the host, or None when it is not there."""

    def command(self, reference):
        return (f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(reference)} "
                "2>/dev/null || true")

    def process(self, output):
        value = "".join(output).strip()
        return value or None


class FileStates(FactBase):
    """{path: "<sha1> <mode> <owner>"} of the given files that exist (onehost.commands.file_states)."""

    default = dict

    def command(self, paths):
        return shlex.join(file_states.states_command(paths))

    def process(self, output):
        return file_states.parse_states(output)


class DirectoryModes(FactBase):
    """{path: mode} of the given directories that exist (onehost.commands.file_states)."""

    default = dict

    def command(self, paths):
        return shlex.join(file_states.directory_modes_command(paths))

    def process(self, output):
        return file_states.parse_directory_modes(output)


class DockerLayerChains(FactBase):
    """The chain ids of every layer on the host, or None when its image store does not take
    partial archives (onehost.commands.image_layers)."""

    def command(self):
        return image_layers.host_layers_command()

    def process(self, output):
        return image_layers.host_chain_ids(output)


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


class TextFile(FactBase):
    """A small file's text, or None when it does not exist."""

    def command(self, path):
        quoted = shlex.quote(path)
        return f"if [ -f {quoted} ]; then cat {quoted}; else echo __absent__; fi"

    def process(self, output):
        text = "\n".join(output)
        return None if text.strip() == "__absent__" else text


class DataStackIdentity(FactBase):
    """{POSTGRES_USER, POSTGRES_DB} the data stack's env file names (never its password), or None
    when there is no such file yet (a first deploy)."""

    def command(self, path):
        quoted = shlex.quote(path)
        keys = "|".join(release.DATA_IDENTITY_KEYS)
        return (f"if [ -f {quoted} ]; then echo __present__; grep -E '^({keys})=' {quoted} || true; "
                "else echo __absent__; fi")

    def process(self, output):
        if not output or output[0].strip() != "__present__":
            return None
        return release.parse_env_file("\n".join(output[1:]), "postgres.env")


class CertificateNames(FactBase):
    """The DNS names a PEM certificate covers (sorted), or None when there is no such file."""

    def command(self, path):
        quoted = shlex.quote(path)
        return (f"if [ -f {quoted} ]; then openssl x509 -noout -ext subjectAltName -in {quoted}; "
                "else echo __absent__; fi")

    def process(self, output):
        text = "\n".join(output)
        return None if text.strip() == "__absent__" else tls.certificate_names(text)


class CertificateValid(FactBase):
    """True when a PEM certificate exists and is still valid `seconds` from now."""

    def command(self, path, seconds):
        quoted = shlex.quote(path)
        return (f"if [ -f {quoted} ] && openssl x509 -noout -checkend {int(seconds)} -in {quoted} "
                ">/dev/null; then echo valid; else echo invalid; fi")

    def process(self, output):
        return "".join(output).strip() == "valid"


class AppColours(FactBase):
    """{colour project: (state, compose file)} for the app's containers (one-off runs left out)."""

    default = dict

    def command(self):
        return ("docker ps --all --filter label=com.docker.compose.service=app "
                "--filter label=com.docker.compose.oneoff=False --format "
                "'{{.Label \"com.docker.compose.project\"}} {{.State}} "
                "{{.Label \"com.docker.compose.project.config_files\"}}'")

    def process(self, output):
        colours = {}
        for line in output:
            parts = line.split(" ", 2)
            if len(parts) == 3:
                colours[parts[0]] = (parts[1], parts[2])
        return colours


class DeployLock(FactBase):
    """The deploy lock when it is held (owner and age), else None."""

    def command(self, lock_dir):
        return shlex.join(lock.inspect(lock_dir))

    def process(self, output):
        return lock.parse_inspect("\n".join(output))


class ReleaseDirectories(FactBase):
    """[(modified epoch, release id, app image)] for every release directory, oldest first."""

    default = list

    def command(self, releases):
        return shlex.join(["sh", "-c", (
            'for dir in "$1"/*/; do [ -d "$dir" ] || continue; [ -L "${dir%/}" ] && continue; '
            'printf "%s %s %s\\n" "$(stat -c %Y "$dir")" "$(basename "$dir")" '
            '"$(sed -n "s/^APP_IMAGE=//p" "$dir/release.env" 2>/dev/null)"; done'),
            "list-releases", releases])

    def process(self, output):
        rows = []
        for line in output:
            parts = line.split(" ", 2)
            if len(parts) >= 2 and parts[0].isdigit():
                rows.append((int(parts[0]), parts[1], parts[2] if len(parts) == 3 else ""))
        return sorted(rows)


class PendingMigrations(FactBase):
    """Migrations an image would apply, asked of a throwaway container (--dry plans only):
    the list, or the last line the container printed when it could not say."""

    def command(self, image, release_dir):
        return shlex.join(compose_commands.app_one_off(
            release_dir, image, "python", "manage.py", "shell", "--command", switch.MIGRATION_STATE)
        ) + " 2>&1 || true"

    def process(self, output):
        state = switch.parse_migration_state("\n".join(output))
        if state is None:
            lines = [line.strip() for line in output if line.strip()]
            return lines[-1] if lines else "no output"
        return state["pending"]


class SystemdBooted(FactBase):
    """Whether systemd runs this host (sd_booted): False in an image build container."""

    def command(self):
        return "if [ -d /run/systemd/system ]; then echo yes; else echo no; fi"

    def process(self, output):
        return "".join(output).strip() == "yes"


class InContainer(FactBase):
    """Whether the host is a container (the local instance, an image build)."""

    def command(self):
        return "if systemd-detect-virt --container --quiet; then echo yes; else echo no; fi"

    def process(self, output):
        return "".join(output).strip() == "yes"


class SystemdUnitActive(FactBase):
    """Whether a unit is active (running, or a oneshot that stays active)."""

    def command(self, unit):
        return f"systemctl is-active {shlex.quote(unit)} 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() == "active"


class ProcessProjects(FactBase):
    """{project: state} of the process containers on the host (label onehost.process)."""

    default = dict

    def command(self):
        return compose_commands.shell(processes.running_processes())

    def process(self, output):
        return dict(line.split(" ", 1) for line in output if " " in line)

"""The package's layers and the deploy files' folders, read from their source (nothing is imported).

    onehost/commands/  pure builders and logic: nothing that reaches out, nothing else of ours
    onehost/aws/       boto3        onehost/local/   this machine    onehost/remote/  the hosts
    onehost/cli/       one module per console command; nothing imports it
"""

import ast
from pathlib import Path

import pytest

from onehost.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "onehost"
LAYERS = ("commands", "aws", "local", "remote", "cli")
# What a builder must not import: AWS, pyinfra, processes, Docker, SSH and the network.
NOT_IN_COMMANDS = {"boto3", "botocore", "pyinfra", "subprocess", "docker", "paramiko", "socket"}
# aws, local and remote may use commands and paths; between themselves only these
# (what the code needs: the swap's SSH and CommandFailed, the demo's deploy and the bake's
# pyinfra, the registry digest's ECR half, the inventory's instance settings).
CROSSINGS = {("aws", "local"), ("aws", "remote"), ("local", "aws"), ("local", "remote"), ("remote", "local")}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement in the file names (also imports inside functions),
    with `from onehost import x` read as onehost.x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "onehost":
                found += [(node.lineno, f"onehost.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "onehost" and len(parts) > 1 else None


def modules_in(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_every_module_sits_in_a_layer():
    loose = [path.name for path in PACKAGE.glob("*.py") if path.name not in ("__init__.py", "paths.py")]
    assert not loose, f"onehost/{loose} belong in one of onehost/{{{','.join(LAYERS)}}}/"
    for layer in LAYERS:
        assert len(modules_in(layer)) > 1, f"onehost/{layer}/ is missing or empty"


@pytest.mark.parametrize("path", modules_in("commands"), ids=lambda path: path.name)
def test_commands_import_nothing_that_reaches_out_and_nothing_else_of_ours(path):
    problems = []
    for line, module in imported_modules(path):
        if module.split(".")[0] in NOT_IN_COMMANDS:
            problems.append(f"line {line}: {module} (run it in aws/, local/ or remote/; build the command here)")
        elif module.split(".")[0] == "onehost" and layer_of(module) != "commands":
            problems.append(f"line {line}: {module} (commands import only commands)")
    assert not problems, f"{path.relative_to(REPO_ROOT)}:\n" + "\n".join(problems)


def test_imports_point_down_the_layers():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        here = relative.parts[0] if len(relative.parts) > 1 else None
        for line, module in imported_modules(path):
            there = layer_of(module)
            if there is None or there == here:
                continue
            where = f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
            if there == "cli":
                problems.append(f"{where}: nothing imports the console commands")
            elif here in ("aws", "local", "remote") and there not in ("commands", "paths") \
                    and (here, there) not in CROSSINGS:
                problems.append(f"{where}: {here}/ does not use {there}/ (add the crossing to CROSSINGS "
                                "only when the code needs it)")
            elif here in (None, "django_side") and there != "paths":
                problems.append(f"{where}: the top level and django_side/ depend on no layer")
    assert not problems, "\n".join(problems)


# --- the deploy files: deploy/tasks/ (@deploy tasks), deploy/plans/ (what a run will do),
# deploy/lib/ (helpers the tasks share)

DEPLOY = REPO_ROOT / "deploy"


def deploy_decorated(path: Path) -> list[str]:
    """The functions of a module decorated with pyinfra's @deploy(...)."""
    return [node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)
            and any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "deploy" for d in node.decorator_list)]


@pytest.mark.parametrize("path", sorted((DEPLOY / "tasks").glob("[!_]*.py")), ids=lambda path: path.name)
def test_every_task_module_holds_deploy_tasks(path):
    assert deploy_decorated(path), f"{path.relative_to(REPO_ROOT)} has no @deploy task: plans go to deploy/plans/, " \
                                   "helpers to deploy/lib/"


def test_plans_and_helpers_hold_no_tasks_and_do_not_import_them():
    problems = []
    for folder in ("plans", "lib"):
        for path in sorted((DEPLOY / folder).glob("*.py")):
            where = path.relative_to(REPO_ROOT)
            problems += [f"{where}: @deploy {name} belongs in deploy/tasks/" for name in deploy_decorated(path)]
            problems += [f"{where}:{line} imports {module}: tasks use plans and helpers, not the other way"
                         for line, module in imported_modules(path) if module.startswith("deploy.tasks")]
            if folder == "lib":
                problems += [f"{where}:{line} imports {module}: helpers do not plan"
                             for line, module in imported_modules(path) if module.startswith("deploy.plans")]
    assert not problems, "\n".join(problems)

"""Write the reference pages that are generated from the code, into docs/reference/:

    settings.md  the `--data` keys: deploy/group_data/all.py's values and comments
    cli.md       every `onehost` command and its options, from the argparse parser
    stack.md     deploy/aws/stack.yaml's parameters, resources and outputs
    packer.md    packer/'s sources, variables and plugins

Run `.venv/bin/python scripts/gen_reference.py` after changing any of those; add `--out DIR` to
write the pages elsewhere. tests/unit/test_docs_reference.py fails when a committed page differs
from what this writes.

The pages must come out the same on every machine and Python version: nothing here uses
argparse's help formatter (its layout changes between Python releases and with the terminal's
width), and paths of this checkout or of the user's home are written relative.
"""

import argparse
import ast
import json
import re
import runpy
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "reference"
COMMAND = ".venv/bin/python scripts/gen_reference.py"


# --- Markdown -----------------------------------------------------------------

CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
URL = re.compile(r"https?://[^\s<>()`]*[^\s<>()`.,;:!?'\"]")


def prose(text: str) -> str:
    """Text as Markdown that renders as written: code spans kept, the rest escaped for a
    table cell, bare URLs made links."""
    out, position = [], 0
    for span in CODE_SPAN.finditer(text):
        out.append(_plain(text[position:span.start()]))
        out.append(span.group(0))
        position = span.end()
    out.append(_plain(text[position:]))
    return "".join(out)


def _plain(text: str) -> str:
    out, position = [], 0
    for url in URL.finditer(text):
        out.append(_escape(text[position:url.start()]))
        out.append(f"<{url.group(0)}>")
        position = url.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    for char, escaped in (("\\", "\\\\"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("*", "\\*")):
        text = text.replace(char, escaped)
    return text


def code(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def banner(source: str) -> str:
    return (f"<!-- Generated from {source} by scripts/gen_reference.py: do not edit by hand; "
            f"run `{COMMAND}`. -->")


def comment_text(lines: list[str]) -> str:
    """`# ...` lines as one paragraph (the comments are wrapped prose)."""
    return " ".join(line.strip()[1:].strip() for line in lines).strip()


def relative(text: str) -> str:
    """This checkout's and the user's home paths, as they read on any machine."""
    text = text.replace(f"{REPO}/", "").replace(str(REPO), ".")
    return text.replace(str(Path.home()), "~")


# --- settings: deploy/group_data/all.py ----------------------------------------

SECTION = re.compile(r"^#\s*-{3}\s*(.+?)\s*-{3,}\s*$")


def python_literal(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(python_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python_literal(key)}: {python_literal(item)}" for key, item in value.items()) + "}"
    return repr(value)


def settings_page() -> str:
    path = REPO / "deploy" / "group_data" / "all.py"
    source = path.read_text()
    values = runpy.run_path(str(path))
    assigned = {}  # first line -> (name, last line)
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                assigned[node.lineno] = (targets[0].id, node.end_lineno)

    # A comment belongs to the key right below it; keys that follow without a comment of their
    # own (a comment may speak for a run of them, or not) get a row without one.
    intro: list[str] = []
    sections: list[dict] = []  # {"title", "text": [...], "keys": [(name, comment)]}
    pending: list[str] = []
    lines = source.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number].strip()
        number += 1
        if heading := SECTION.match(line):
            sections.append({"title": heading.group(1), "text": [], "keys": []})
            pending = []
        elif line.startswith("#"):
            pending.append(line)
        elif not line:
            if pending:
                (sections[-1]["text"] if sections else intro).append(comment_text(pending))
            pending = []
        elif number in assigned:
            name, last = assigned[number]
            number = last
            if not sections:
                sections.append({"title": "Other", "text": [], "keys": []})
            sections[-1]["keys"].append((name, comment_text(pending)))
            pending = []
    out = [
        "# Settings (`--data` keys)",
        "",
        banner("deploy/group_data/all.py"),
        "",
        *[prose(paragraph) + "\n" for paragraph in intro],
        "Give a key for one run with `--data key=value` "
        "(pyinfra reads `true`, `false`, whole numbers and JSON as such and anything else as a string: "
        "`--data pull=true`, `--data 'server_names=[\"api.example.com\"]'`), or for a group of hosts in an "
        "inventory's group data. The keys that name "
        "one run's inputs (`image`, `env_file`, `release`, ...) are in [Per-run data](index.md#per-run-data).",
        "",
    ]
    for section in sections:
        out += [f"## {section['title'][:1].upper()}{section['title'][1:]}", ""]
        out += [prose(paragraph) + "\n" for paragraph in section["text"]]
        rows = [[code(key), code(python_literal(values[key])), prose(comment)] for key, comment in section["keys"]]
        if rows:
            out += [table(["key", "default", "what it is"], rows), ""]
    return "\n".join(out)


# --- the command line: onehost.cli.build_parser ---------------------------------

def subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                yield name, subparser, helps.get(name) or ""


def metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        name = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        name = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        name = action.dest if not action.option_strings else action.dest.upper()
    return {None: name, "?": f"[{name}]", "*": f"[{name} ...]", "+": f"{name} [{name} ...]"}.get(
        action.nargs, name if action.nargs != 0 else "")


def expanded_help(action: argparse.Action, prog: str) -> str:
    """The help text with argparse's %(...)s placeholders filled, as --help shows it."""
    text = action.help or ""
    if "%" not in text:
        return text
    params = {key: value for key, value in vars(action).items() if value is not argparse.SUPPRESS}
    params["prog"] = prog
    for key in ("choices", "default"):
        if isinstance(params.get(key), (list, tuple)):
            params[key] = ", ".join(map(str, params[key]))
    return text % params


def default_of(action: argparse.Action) -> str:
    default = action.default
    if default in (None, argparse.SUPPRESS, [], "") or action.nargs == 0:
        return ""
    return code(relative(str(default)))


def description(parser: argparse.ArgumentParser) -> list[str]:
    text = (parser.description or "").replace("%(prog)s", parser.prog)
    if not text:
        return []
    if issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter):
        return ["```text", relative(text).rstrip("\n"), "```", ""]
    return [prose(relative(" ".join(text.split()))), ""]


def link(path: list[str]) -> str:
    """A link to a command's section (MkDocs makes the heading's anchor from its words)."""
    return f"[{code(' '.join(path))}](#{'-'.join(path)})"


def cli_page() -> str:
    from onehost.cli import build_parser  # the console script's entry point: stable across module moves

    root = build_parser()
    commands = []

    def walk(parser, path, summary):
        children = list(subcommands(parser))
        commands.append((path, parser, summary, bool(children)))
        for name, child, help_text in children:
            walk(child, [*path, name], help_text)

    for name, child, help_text in subcommands(root):
        walk(child, ["onehost", name], help_text)

    out = ["# Command line (`onehost`)", "", banner("onehost.cli.build_parser()"), ""]
    out += description(root)
    if root.epilog:
        out += [prose(" ".join(root.epilog.split())), ""]
    out += ["Every command also takes `--help`, which prints what this page shows.", ""]
    out += [table(["command", "what it does"], [[link(path), prose(summary)] for path, _, summary, _ in commands]), ""]
    for path, parser, summary, has_children in commands:
        prog = " ".join(path)
        out += [f"## {code(prog)}", ""]
        if summary:
            out += [prose(summary[:1].upper() + summary[1:]) + ".", ""]
        out += description(parser)
        rows = []
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            usage = metavar(action)
            name = ", ".join(code(f"{option} {usage}".strip()) for option in action.option_strings) or code(usage)
            what = prose(relative(expanded_help(action, prog)))
            if action.choices is not None and action.metavar is not None:
                what += " (one of " + ", ".join(code(str(choice)) for choice in action.choices) + ")"
            if action.required and action.option_strings:
                name += " (required)"
            rows.append([name, what, default_of(action)])
        if rows:
            out += [table(["argument", "what it does", "default"], rows), ""]
        if has_children:
            out += ["Subcommands: " + ", ".join(link([*path, name]) for name, _, _ in subcommands(parser)) + ".", ""]
    return "\n".join(out)


# --- the stack: deploy/aws/stack.yaml -------------------------------------------

class Tagged:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


class TemplateLoader(yaml.SafeLoader):
    """CloudFormation's short forms (!Ref, !GetAtt, !Sub, ...) kept as they are written."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return Tagged(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return Tagged(suffix, loader.construct_sequence(node, deep=True))
    return Tagged(suffix, loader.construct_mapping(node, deep=True))


TemplateLoader.add_multi_constructor("!", _tagged)


def cfn(value) -> str:
    if isinstance(value, Tagged):
        return f"!{value.tag} {cfn(value.value)}"
    if isinstance(value, list):
        return "[" + ", ".join(cfn(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {cfn(item)}" for key, item in value.items()) + "}"
    if isinstance(value, str):
        return value if re.fullmatch(r"[\w.:/-]+", value) else json.dumps(value)
    return json.dumps(value)


def leading_comments(source: str, section: str) -> dict[str, str]:
    """The `#` lines written right above each key of a top-level section, by key."""
    comments, pending, inside = {}, [], False
    for line in source.splitlines():
        if re.match(r"^\S", line):
            inside, pending = line.startswith(f"{section}:"), []
        elif inside and re.match(r"^  #", line):
            pending.append(line)
        elif inside and (key := re.match(r"^  (\w+):", line)):
            comments[key.group(1)] = comment_text(pending)
            pending = []
        elif not line.strip():
            pending = []
    return comments


def stack_page() -> str:
    path = REPO / "deploy" / "aws" / "stack.yaml"
    source = path.read_text()
    template = yaml.load(source, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader with CloudFormation's tags

    def said(section, name, body):
        parts = [" ".join(str(body.get("Description", "")).split()), leading_comments(source, section).get(name, "")]
        return prose(" ".join(part for part in parts if part))

    out = ["# AWS stack (`deploy/aws/stack.yaml`)", "", banner("deploy/aws/stack.yaml"), "",
           prose(" ".join(template["Description"].split())), "",
           "`onehost stack deploy` creates and updates it (`--parameter Name=value` for any parameter "
           "below); [the stack how-to](../how-to/stack.md) says what each part is for.", "",
           "## Parameters", ""]
    rows = []
    for name, body in template["Parameters"].items():
        allowed = []
        if "AllowedValues" in body:
            allowed.append(", ".join(code(str(value)) for value in body["AllowedValues"]))
        if "AllowedPattern" in body:
            allowed.append(code(body["AllowedPattern"]))
        if "MinValue" in body and "MaxValue" in body:
            allowed.append(f"{body['MinValue']} to {body['MaxValue']}")
        elif "MinValue" in body or "MaxValue" in body:
            allowed.append(f"at least {body['MinValue']}" if "MinValue" in body else f"at most {body['MaxValue']}")
        default = code(json.dumps(body["Default"]) if body.get("Default") == "" else str(body["Default"])) \
            if "Default" in body else "(required)"
        rows.append([code(name), code(body["Type"]), default, "<br>".join(allowed), said("Parameters", name, body)])
    out += [table(["parameter", "type", "default", "allowed", "what it is"], rows), ""]

    out += ["## Conditions", "",
            table(["condition", "true when"],
                  [[code(name), code(cfn(body))] for name, body in template.get("Conditions", {}).items()]), ""]

    out += ["## Resources", ""]
    rows = []
    for name, body in template["Resources"].items():
        when = []
        if "Condition" in body:
            when.append(f"only when {code(body['Condition'])}")
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if policy in body:
                when.append(f"{policy}: {code(body[policy])}")
        properties = body.get("Properties", {})
        declared = next((properties[key] for key in ("AlarmDescription", "Description") if key in properties), "")
        declared = declared.value if isinstance(declared, Tagged) else declared
        declared = re.sub(r"^\$\{Project\}-\$\{Environment\}:?\s*", "", str(declared))
        said_here = " ".join(part for part in (declared + "." if declared and not declared.endswith(".") else declared,
                                               leading_comments(source, "Resources").get(name, "")) if part)
        rows.append([code(name), code(body["Type"]), "<br>".join(when), prose(said_here)])
    out += [table(["resource", "type", "condition, policies", "what the template says of it"], rows), ""]

    out += ["## Outputs", "", "`onehost stack status` prints them.", ""]
    rows = [[code(name), code(cfn(body["Value"])),
             f"only when {code(body['Condition'])}" if "Condition" in body else "",
             said("Outputs", name, body)] for name, body in template["Outputs"].items()]
    out += [table(["output", "value", "condition", "what it is"], rows), ""]
    return "\n".join(out)


# --- Packer: packer/*.pkr.hcl -----------------------------------------------------

def hcl_blocks(source: str, kind: str):
    """Each top-level `kind "name" { ... }` block: its name, its top-level attributes (raw HCL
    expressions), the attributes of its nested blocks, and the `#` lines right above it."""
    lines = source.splitlines()
    pending = []
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        start = re.match(rf'^{kind} "([\w-]+)" \{{\s*$', line)
        if line.startswith("#"):
            pending.append(line)
            continue
        if not start:
            pending = [] if not line.strip() or not line.startswith(" ") else pending
            continue
        attributes, nested, depth, block = {}, {}, 1, None
        while depth and number < len(lines):
            body = lines[number]
            number += 1
            if depth == 1 and (attribute := re.match(r"^\s*(\w+)\s*=\s*(.+?)\s*$", body)):
                attributes[attribute.group(1)] = attribute.group(2)
            elif depth == 2 and (attribute := re.match(r"^\s*(\w+)\s*=\s*(.+?)\s*$", body)):
                nested.setdefault(block, {})[attribute.group(1)] = attribute.group(2)
            if depth == 1 and (opened := re.match(r"^\s*(\w+)\s*\{\s*$", body)):
                block = opened.group(1)
            depth += _braces(body)
        yield start.group(1), attributes, nested, comment_text([line for line in pending if not SECTION.match(line)])
        pending = []


def _braces(line: str) -> int:
    """Opened minus closed braces outside string literals."""
    count, quoted, escaped = 0, False, False
    for char in line:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "{":
            count += 1
        elif not quoted and char == "}":
            count -= 1
    return count


def hcl_string(expression: str) -> str:
    return json.loads(expression) if expression.startswith('"') else expression


def paragraphs(lines: list[str]) -> list[str]:
    """Comment lines (without their `#`) as paragraphs: blank lines part them."""
    text = "\n".join(lines)
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]


def top_comment(source: str) -> list[str]:
    lines = []
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return lines


def packer_page() -> str:
    template = (REPO / "packer" / "onehost.pkr.hcl").read_text()
    variables = (REPO / "packer" / "variables.pkr.hcl").read_text()
    plugins = (REPO / "packer" / "plugins" / "plugins.pkr.hcl").read_text()
    sources = re.findall(r'^source "([\w-]+)" "(\w+)"', template, re.M)

    out = ["# Packer template (`packer/`)", "", banner("packer/*.pkr.hcl"), "",
           "`packer/onehost.pkr.hcl` says what it builds and what a newer Packer would add:", "",
           "```text", *top_comment(template), "```", "",
           "## Sources", "",
           table(["source", "build only it with"],
                 [[code(f"{kind}.{name}"), code(f"packer build -only={kind}.{name} packer/")]
                  for kind, name in sources]),
           "",
           "## Variables (`packer/variables.pkr.hcl`)", "",
           *[prose(paragraph) + "\n" for paragraph in paragraphs(top_comment(variables))],
           "Give one with `-var name=value` (or `-var 'name=[\"a\"]'` for a list).", ""]
    # Sections as the file marks them (# --- title ---), each with its variables.
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in variables.splitlines():
        if heading := SECTION.match(line):
            sections.append((heading.group(1), []))
        elif name := re.match(r'^variable "(\w+)"', line):
            sections[-1][1].append(name.group(1))
    found = {name: (attributes, nested, comment)
             for name, attributes, nested, comment in hcl_blocks(variables, "variable")}
    for title, names in sections:
        if not names:
            continue
        if title:
            out += [f"### {prose(title[:1].upper() + title[1:])}", ""]
        rows = []
        for name in names:
            attributes, nested, comment = found[name]
            what = " ".join(part for part in (hcl_string(attributes.get("description", "")), comment) if part)
            if "validation" in nested:
                what += f" Checked: {hcl_string(nested['validation'].get('error_message', ''))}"
            default = code(attributes["default"]) if "default" in attributes else "(required)"
            rows.append([code(name), code(attributes.get("type", "")), default, prose(what.strip())])
        out += [table(["variable", "type", "default", "what it is"], rows), ""]

    required_version = re.search(r'required_version\s*=\s*"([^"]+)"', plugins)
    out += ["## Plugins (`packer/plugins/plugins.pkr.hcl`)", "",
            *[prose(paragraph) + "\n" for paragraph in paragraphs(top_comment(plugins))],
            f"Packer {code(required_version.group(1)) if required_version else ''}; install them with "
            "`packer init packer/plugins/`.", "",
            table(["plugin", "source", "version"],
                  [[code(name), code(source), code(version)] for name, source, version in re.findall(
                      r'(\w+)\s*=\s*\{\s*source\s*=\s*"([^"]+)"\s*version\s*=\s*"([^"]+)"\s*\}', plugins)]), ""]
    return "\n".join(out)


# --- entry point -------------------------------------------------------------------

PAGES = {"settings.md": settings_page, "cli.md": cli_page, "stack.md": stack_page, "packer.md": packer_page}


def pages() -> dict[str, str]:
    return {name: render().rstrip("\n") + "\n" for name, render in PAGES.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help="where the pages go (default docs/reference)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        target = args.out / name
        if target.exists() and target.read_text() == text:
            print(f"{relative(str(target))}: unchanged")
            continue
        target.write_text(text)
        print(f"{relative(str(target))}: written")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `onehost` from this checkout, also when it is not installed
    sys.exit(main())

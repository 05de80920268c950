"""What a Django project's settings modules say, read from their source (nothing is imported:
the project's dependencies need not be installed where `onehost init` runs).

manage.py, wsgi.py and asgi.py name the settings module with
`os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")` (what `django-admin startproject`
writes). A settings module builds on others with `from .base import *`. These helpers find those
names, the settings a module assigns, and the keys it gives DATABASES["default"].
"""

from __future__ import annotations

import ast
import re

SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"
SETTINGS_CALL = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][\w.]*)["']""")
# The keys of a DATABASES entry that say where the database is; everything else is how to use it.
CONNECTION_KEYS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def settings_default(text: str) -> str | None:
    """The module a file sets DJANGO_SETTINGS_MODULE to by default (setdefault or assignment)."""
    tree = _parse(text)
    if tree is None:
        match = SETTINGS_CALL.search(text)
        return match.group(1) if match else None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and len(node.args) == 2 and all(
                isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in node.args) \
                and node.args[0].value == SETTINGS_VARIABLE:
            return node.args[1].value
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
                        and target.slice.value == SETTINGS_VARIABLE:
                    return node.value.value
    return None


def _top_level(tree: ast.Module):
    """Module-level statements, also inside if/try/with blocks (settings often branch on DEBUG)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        yield node
        if isinstance(node, ast.If | ast.With):
            pending[:0] = node.body + getattr(node, "orelse", [])
        elif isinstance(node, ast.Try):
            pending[:0] = node.body + node.orelse + node.finalbody + [
                statement for handler in node.handlers for statement in handler.body]


def star_imports(text: str, module: str, is_package: bool = False) -> list[str]:
    """The absolute names of the modules `module` star-imports (`from .base import *`)."""
    tree = _parse(text)
    if tree is None:
        return []
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in _top_level(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                found.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                found.append(node.module)
    return found


def _base_name(target: ast.expr) -> str | None:
    while isinstance(target, ast.Subscript | ast.Attribute):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def assignment_targets(node: ast.AST) -> list[ast.expr]:
    """What a statement assigns or changes: the targets of =, : and +=, or the object a method
    is called on (DATABASES["default"].update(...), MIDDLEWARE.append(...))."""
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return [node.target]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
        return [node.value.func.value]
    return []


def assigned_settings(text: str) -> list[str]:
    """The upper-case names a module assigns or changes at module level, in order."""
    tree = _parse(text)
    names: list[str] = []
    if tree is None:
        return names
    for node in _top_level(tree):
        for target in assignment_targets(node):
            for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
                name = _base_name(element)
                if name and name.isupper() and name not in names:
                    names.append(name)
    return names


def _default_entry_keys(value: ast.expr) -> list[str]:
    if isinstance(value, ast.Dict):
        for key, entry in zip(value.keys, value.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "default" and isinstance(entry, ast.Dict):
                return [item.value for item in entry.keys if isinstance(item, ast.Constant)]
    return []


def _is_default_entry(node: ast.expr) -> bool:
    """DATABASES["default"]"""
    return isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "DATABASES" \
        and isinstance(node.slice, ast.Constant) and node.slice.value == "default"


def database_keys(text: str) -> list[str]:
    """The keys a module gives DATABASES["default"]: in a dict literal, by item assignment, or
    through .update(...)."""
    tree = _parse(text)
    keys: list[str] = []
    if tree is None:
        return keys

    def add(found):
        keys.extend(key for key in found if isinstance(key, str) and key not in keys)

    for node in _top_level(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == "DATABASES":
                    add(_default_entry_keys(node.value))
                elif isinstance(target, ast.Subscript) and _is_default_entry(target.value) \
                        and isinstance(target.slice, ast.Constant):
                    add([target.slice.value])
                elif _is_default_entry(target) and isinstance(node.value, ast.Dict):
                    add([key.value for key in node.value.keys if isinstance(key, ast.Constant)])
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "update" \
                and _is_default_entry(node.value.func.value):
            call = node.value
            for arg in call.args:
                if isinstance(arg, ast.Dict):
                    add([key.value for key in arg.keys if isinstance(key, ast.Constant)])
            add([keyword.arg for keyword in call.keywords if keyword.arg])
    return keys


def _reads_itself(name: str, value: ast.expr) -> bool:
    """Whether `value` reads the setting `name`: by name, or as globals().get("NAME", ...)."""
    for child in ast.walk(value):
        if isinstance(child, ast.Name) and child.id == name:
            return True
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "get" \
                and isinstance(child.func.value, ast.Call) and isinstance(child.func.value.func, ast.Name) \
                and child.func.value.func.id == "globals" and child.args \
                and isinstance(child.args[0], ast.Constant) and child.args[0].value == name:
            return True
    return False


def self_referencing(text: str) -> list[str]:
    """The names a module assigns from their own earlier value (MIDDLEWARE = [..., *MIDDLEWARE],
    DATABASES = f(globals().get("DATABASES", {}))): it extends them rather than replacing them."""
    tree = _parse(text)
    return [node.targets[0].id for node in (tree.body if tree else [])
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and _reads_itself(node.targets[0].id, node.value)]

"""Moves an SQLite database's rows into the app's own database, inside a container of the app's image.

    python sqlite_import.py inspect           the target's rows per table; the SQLite file's migrations
    python sqlite_import.py import [--flush]  migrate, dumpdata from SQLite, loaddata, reset sequences
    python sqlite_import.py verify            rows and a primary-key checksum per table, in both

`default` is the app's database (its settings module, from DJANGO_SETTINGS_MODULE); `sqlite`
is the file named by ONEHOST_SQLITE_FILE (onehost_import_settings adds it). The project's code
is found in the working directory (the image's WORKDIR, where manage.py is). Each command
prints progress, then one line `ONEHOST_SQLITE_IMPORT <json>` for the deploy to read; any
failure exits non-zero. Standard library and Django only.
"""
import hashlib
import json
import os
import resource
import sys
from pathlib import Path

MARKER = "ONEHOST_SQLITE_IMPORT "
HERE = Path(__file__).resolve().parent
SETTINGS_WRAPPER = "onehost_import_settings"
# Rebuilt by `migrate` (post_migrate) in every database, with ids of their own: they are not
# copied; rows that point at them travel by natural key (--natural-foreign).
RECREATED_MODELS = ("contenttypes.ContentType", "auth.Permission")
FIXTURE_NAME = "sqlite-data.jsonl"  # JSON Lines: loaddata streams them


def emit(report: dict) -> None:
    print(MARKER + json.dumps(report, sort_keys=True), flush=True)


def say(line: str) -> None:
    print(line, flush=True)


def setup_django() -> None:
    app_settings = os.environ.get("ONEHOST_APP_SETTINGS") or os.environ.get("DJANGO_SETTINGS_MODULE")
    if not app_settings or app_settings == SETTINGS_WRAPPER:
        sys.exit("DJANGO_SETTINGS_MODULE is not set in the app image or its release env file: "
                 "set it to the app's settings module (e.g. mysite.settings)")
    os.environ["ONEHOST_APP_SETTINGS"] = app_settings
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_WRAPPER
    sys.path[:0] = [str(HERE), os.getcwd()]
    import django
    django.setup()


def recreated_models() -> list:
    from django.apps import apps
    found = []
    for label in RECREATED_MODELS:
        app_label, name = label.split(".")
        try:
            found.append(apps.get_model(app_label, name))
        except LookupError:
            pass            # the app does not use contrib.contenttypes / contrib.auth
    return found


def data_models() -> list:
    """Models whose rows are the app's data: concrete, managed, with auto-created m2m tables."""
    from django.apps import apps
    recreated = set(recreated_models())
    return [model for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy and model not in recreated]


def count_rows(connection, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
        return cursor.fetchone()[0]


def migration_state(alias: str) -> dict:
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    executor = MigrationExecutor(connections[alias])
    if not executor.recorder.has_table():
        return {"migrated": False, "pending": [], "unknown": []}
    loader = executor.loader
    pending = [f"{m.app_label}.{m.name}" for m, _ in executor.migration_plan(loader.graph.leaf_nodes())]
    unknown = sorted(f"{a}.{n}" for a, n in set(loader.applied_migrations) - set(loader.disk_migrations))
    return {"migrated": True, "pending": pending, "unknown": unknown}


def inspect() -> dict:
    from django.db import connections
    target = connections["default"]
    return {
        "vendor": target.vendor,
        "target_rows": {table: count_rows(target, table) for table in target.introspection.table_names()},
        "recreated_tables": ["django_migrations"] + [model._meta.db_table for model in recreated_models()],
        "sqlite": migration_state("sqlite"),
    }


def import_rows(flush: bool) -> dict:
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connections, transaction

    say("migrate the target (the project's own migrations):")
    call_command("migrate", database="default", interactive=False, verbosity=1)
    if migration_state("sqlite")["pending"]:
        # The file was made by older code: bring its schema up to the code before reading it.
        say("migrate the uploaded copy of the SQLite file to this release's migrations:")
        call_command("migrate", database="sqlite", interactive=False, verbosity=1)
    fixture = Path(os.environ["ONEHOST_SQLITE_FILE"]).parent / FIXTURE_NAME   # the staging directory
    excluded = [model._meta.label for model in recreated_models()]
    try:
        with open(fixture, "w", encoding="utf-8") as out:
            os.chmod(fixture, 0o600)
            call_command("dumpdata", database="sqlite", natural_foreign=True, use_base_manager=True,
                         exclude=excluded, format="jsonl", stdout=out, verbosity=0)
        say(f"dumpdata from SQLite (natural foreign keys, {', '.join(excluded) or 'nothing'} left to "
            "migrate): done")
        with transaction.atomic(using="default"):
            if flush:
                call_command("flush", database="default", interactive=False, verbosity=0)
                say("flush: emptied the target's tables (replace_existing)")
            call_command("loaddata", str(fixture), database="default", verbosity=1)
            target = connections["default"]
            statements = target.ops.sequence_reset_sql(no_style(), data_models())
            with target.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        say(f"sequences reset: {len(statements)} statement(s)")
    finally:
        fixture.unlink(missing_ok=True)   # a plain-text copy of the user's data
    # The host has 1 GiB: say what the move took (ru_maxrss is in KiB on Linux).
    say(f"peak memory of the import: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return {"imported": True}


def natural_keys(model, alias: str) -> dict:
    return {obj.pk: list(obj.natural_key()) for obj in model._base_manager.using(alias).all()}


def identities(model, alias: str, recreated: set) -> list:
    """Primary keys; for an auto-created m2m table its pairs (loaddata gives those rows new ids),
    with a recreated model's side by natural key (its ids differ between the databases)."""
    manager = model._base_manager.using(alias)
    if not model._meta.auto_created:
        return list(manager.values_list("pk", flat=True))
    links = [field for field in model._meta.fields if field.is_relation]
    lookups = [natural_keys(field.related_model, alias) if field.related_model in recreated else None
               for field in links]
    return [tuple(lookup.get(value, value) if lookup is not None else value
                  for lookup, value in zip(lookups, row, strict=False))
            for row in manager.values_list(*[field.attname for field in links])]


def checksum(values: list) -> str:
    """sha256 over the keys as text, one a line, in order (sorted here: collations differ)."""
    try:
        ordered = sorted(values)
    except TypeError:
        ordered = sorted(values, key=repr)
    digest = hashlib.sha256()
    for value in ordered:
        digest.update(str(value).encode() + b"\n")
    return digest.hexdigest()


def table_state(model, alias: str, tables: set, recreated: set) -> dict:
    if model._meta.db_table not in tables:
        return {"rows": None, "checksum": None}
    keys = identities(model, alias, recreated)
    return {"rows": len(keys), "checksum": checksum(keys)}


def verify() -> dict:
    from django.db import connections
    recreated = set(recreated_models())
    tables = {alias: set(connections[alias].introspection.table_names()) for alias in ("sqlite", "default")}
    return {"tables": [
        {"model": model._meta.label, "table": model._meta.db_table,
         "sqlite": table_state(model, "sqlite", tables["sqlite"], recreated),
         "target": table_state(model, "default", tables["default"], recreated)}
        for model in data_models()]}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command not in ("inspect", "import", "verify"):
        sys.exit(f"usage: {Path(__file__).name} inspect | import [--flush] | verify")
    setup_django()
    if command == "inspect":
        emit(inspect())
    elif command == "import":
        emit(import_rows(flush="--flush" in argv[1:]))
    else:
        emit(verify())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Moves an SQLite database's rows into the app's own database, inside a container of the app's image.

    python sqlite_import.py inspect           the target's rows per table; the SQLite file's migrations
    python sqlite_import.py import [--flush]  migrate, dumpdata from SQLite, loaddata, reset sequences
    python sqlite_import.py verify            every SQLite row by primary key: in the target, equal?

`default` is the app's database (its settings module, from DJANGO_SETTINGS_MODULE); `sqlite`
is the file named by ONEHOST_SQLITE_FILE (onehost_import_settings adds it). The project's code
is found in the working directory (the image's WORKDIR, where manage.py is). Each command
prints progress, then one line `ONEHOST_SQLITE_IMPORT <json>` for the deploy to read; any
failure exits non-zero. Standard library and Django only; it runs on the app image's Python.

Before rows are read, the uploaded copy (never the user's file) is brought to the release:
migrated forward when older, and what the release has no place for is left out of it: the
tables no installed model uses (a dev-only app's), the django_migrations rows of apps the
release does not install, and their content types (with what points at them).
"""
import datetime
import decimal
import hashlib
import json
import os
import resource
import sys
import uuid
from pathlib import Path

MARKER = "ONEHOST_SQLITE_IMPORT "
HERE = Path(__file__).resolve().parent
SETTINGS_WRAPPER = "onehost_import_settings"
# Rebuilt by `migrate` (post_migrate) in every database, with ids of their own: they are not
# copied; rows that point at them travel by natural key (--natural-foreign).
RECREATED_MODELS = ("contenttypes.ContentType", "auth.Permission")
FIXTURE_NAME = "sqlite-data.jsonl"  # JSON Lines: loaddata streams them
MIGRATIONS_TABLE = "django_migrations"
# sqlite_sequence, sqlite_stat1, ...: SQLite's own bookkeeping, not the app's data.
SQLITE_INTERNAL_PREFIX = "sqlite_"
# How many primary keys a report names for each of missing, changed and new.
LISTED_KEYS = 5


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


def installed_labels() -> set:
    from django.apps import apps
    return {config.label for config in apps.get_app_configs()}


def migration_state(alias: str) -> dict:
    """Pending: this release's migrations the database lacks. Unknown: migrations recorded there
    that the release's installed apps do not have (newer code). Uninstalled: migrations of apps
    the release does not install (dev-only apps), which the import leaves out."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor
    executor = MigrationExecutor(connections[alias])
    if not executor.recorder.has_table():
        return {"migrated": False, "pending": [], "unknown": [], "uninstalled": []}
    loader = executor.loader
    pending = [f"{m.app_label}.{m.name}" for m, _ in executor.migration_plan(loader.graph.leaf_nodes())]
    not_on_disk = set(loader.applied_migrations) - set(loader.disk_migrations)
    installed = installed_labels()
    return {"migrated": True, "pending": pending,
            "unknown": sorted(f"{a}.{n}" for a, n in not_on_disk if a in installed),
            "uninstalled": sorted(f"{a}.{n}" for a, n in not_on_disk if a not in installed)}


def left_out(applied, installed: set, tables, model_tables) -> dict:
    """What of the SQLite file the release has no place for: the migrations of each app it does
    not install ({app: [names]}), and the tables no installed model uses (a dev-only app's)."""
    apps: dict = {}
    for app, name in sorted(applied):
        if app not in installed:
            apps.setdefault(app, []).append(name)
    known = {table.lower() for table in model_tables} | {MIGRATIONS_TABLE}
    stray = sorted(table for table in tables
                   if table.lower() not in known and not table.lower().startswith(SQLITE_INTERNAL_PREFIX))
    return {"apps": apps, "tables": stray}


def stale_content_types(alias: str) -> list:
    """Content types whose model the release does not have: rows pointing at them by natural key
    (a permission, a group's link to it) could not be loaded into the target."""
    from django.apps import apps
    if not apps.is_installed("django.contrib.contenttypes"):
        return []
    from django.contrib.contenttypes.models import ContentType
    return [content_type.pk for content_type in ContentType.objects.using(alias).all()
            if content_type.model_class() is None]


def leave_out_of_copy() -> dict:
    """Takes out of the uploaded copy what the release has no place for (left_out), so that
    dumpdata, the comparison and a later verify_only all read the same rows."""
    from django.apps import apps
    from django.db import connections, transaction
    from django.db.migrations.recorder import MigrationRecorder
    sqlite = connections["sqlite"]
    recorder = MigrationRecorder(sqlite)
    applied = recorder.applied_migrations().keys() if recorder.has_table() else []
    model_tables = [model._meta.db_table for model in apps.get_models(include_auto_created=True)]
    found = left_out(applied, installed_labels(), sqlite.introspection.table_names(), model_tables)
    stale = stale_content_types("sqlite")
    removed: dict = {}
    if found["apps"] or found["tables"] or stale:
        # One transaction: a dropped table's deferred foreign keys are checked at commit, when the
        # tables pointing at it are gone too (https://sqlite.org/lang_droptable.html).
        with transaction.atomic(using="sqlite"):
            with sqlite.cursor() as cursor:
                for table in found["tables"]:
                    # IF EXISTS: a virtual (full-text) table takes its shadow tables with it.
                    cursor.execute(f"DROP TABLE IF EXISTS {sqlite.ops.quote_name(table)}")
            recorder.migration_qs.filter(app__in=list(found["apps"])).delete()
            if stale:
                from django.contrib.contenttypes.models import ContentType
                # Django's collector: Permission.content_type is on_delete=CASCADE, so their permissions
                # and the links to those go too (django/django: django/contrib/auth/models.py).
                removed = ContentType.objects.using("sqlite").filter(pk__in=stale).delete()[1]
    return {**found, "removed": {label: count for label, count in sorted(removed.items()) if count}}


def prepare_copy() -> dict:
    """The uploaded copy brought to this release: migrated forward, then left_out taken out."""
    from django.core.management import call_command
    if migration_state("sqlite")["pending"]:
        # The file was made by older code: bring its schema up to the code before reading it.
        say("migrate the uploaded copy of the SQLite file to this release's migrations:")
        call_command("migrate", database="sqlite", interactive=False, verbosity=1)
    return leave_out_of_copy()


def inspect() -> dict:
    from django.db import connections
    target, sqlite = connections["default"], connections["sqlite"]
    return {
        "vendor": target.vendor,
        "target_rows": {table: count_rows(target, table) for table in target.introspection.table_names()},
        # What the file brings, table by table: rows the site wrote into a table the file leaves
        # empty (a beat schedule's, since the first deploy) do not stand in the import's way.
        "sqlite_rows": {table: count_rows(sqlite, table) for table in sqlite.introspection.table_names()
                        if not table.startswith(SQLITE_INTERNAL_PREFIX)},
        "recreated_tables": ["django_migrations"] + [model._meta.db_table for model in recreated_models()],
        "sqlite": migration_state("sqlite"),
    }


def import_rows(flush: bool) -> dict:
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connections, transaction

    say("migrate the target (the project's own migrations):")
    call_command("migrate", database="default", interactive=False, verbosity=1)
    left = prepare_copy()
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
                # CASCADE: a table an earlier release's app left behind (no installed model uses
                # it) may point at one of these; PostgreSQL refuses to truncate a table another
                # references unless it empties that one too (postgresql.org/docs/current/sql-truncate.html).
                # allow_cascade is flush's stealth option for it (django/core/management/commands/flush.py).
                call_command("flush", database="default", interactive=False, verbosity=0, allow_cascade=True)
                say("flush: emptied the target's tables (replace_existing), and the rows of leftover "
                    "tables that point at them")
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
    return {"imported": True, "left_out": left}


def natural_keys(model, alias: str) -> dict:
    return {obj.pk: tuple(obj.natural_key()) for obj in model._base_manager.using(alias).all()}


def canonical(value):
    """One form for one value, whichever database it was read from (the ORM has converted both)."""
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        # datetime.UTC is Python 3.11+; an app image may run 3.10 (Django 5's oldest).
        return value.astimezone(datetime.timezone.utc).isoformat()  # noqa: UP017
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())        # 1.50 and 1.5 are one number
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (float, datetime.timedelta, uuid.UUID)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    return value


def row_key(value):
    """A primary key (or an m2m pair) as a dict key and as JSON: int and str stay, others as text."""
    if isinstance(value, tuple):
        return tuple(row_key(item) for item in value)
    return value if isinstance(value, (int, str)) else json.dumps(canonical(value), sort_keys=True)


def keyed_rows(model, alias: str, recreated: set) -> dict:
    """{primary key: digest of the row's values}; an auto-created m2m table's rows by the pair they
    link ({pair: ""}: loaddata gives them new ids). A reference to a recreated model (content type,
    permission) is read as its natural key: its ids differ between the databases."""
    lookups: dict = {}

    def resolved(field, value):
        related = field.related_model if field.is_relation else None
        if related not in recreated or value is None:
            return value
        if related not in lookups:
            lookups[related] = natural_keys(related, alias)
        return lookups[related].get(value, value)

    rows = model._base_manager.using(alias).order_by()
    if model._meta.auto_created:
        links = [field for field in model._meta.fields if field.is_relation]
        return {row_key(tuple(resolved(field, value) for field, value in zip(links, row, strict=False))): ""
                for row in rows.values_list(*[field.attname for field in links]).iterator()}
    fields = [field for field in model._meta.concrete_fields
              if not field.primary_key and not getattr(field, "generated", False)]
    keyed = {}
    for key, *values in rows.values_list("pk", *[field.attname for field in fields]).iterator():
        text = json.dumps([canonical(resolved(field, value)) for field, value in zip(fields, values, strict=False)],
                          sort_keys=True, ensure_ascii=False)
        keyed[row_key(key)] = hashlib.sha256(text.encode()).digest()[:16]
    return keyed


def ordered(keys) -> list:
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=repr)


def compare_rows(sqlite, target, listed: int = LISTED_KEYS) -> dict:
    """Every SQLite row by its key: missing from the target, or there with other values (changed);
    rows only in the target are new (the site's use since the import). None: no such table."""
    source, present = sqlite or {}, target or {}
    missing = [key for key in source if key not in present]
    changed = [key for key in source if key in present and present[key] != source[key]]
    new = [key for key in present if key not in source]

    def part(keys: list) -> dict:
        return {"count": len(keys), "keys": [list(key) if isinstance(key, tuple) else key
                                             for key in ordered(keys)[:listed]]}
    return {"sqlite_rows": None if sqlite is None else len(sqlite),
            "target_rows": None if target is None else len(target),
            "missing": part(missing), "changed": part(changed), "new": part(new)}


def verify() -> dict:
    from django.db import connections
    left = prepare_copy()
    recreated = set(recreated_models())
    tables = {alias: {table.lower() for table in connections[alias].introspection.table_names()}
              for alias in ("sqlite", "default")}

    def rows(model, alias):
        return keyed_rows(model, alias, recreated) if model._meta.db_table.lower() in tables[alias] else None
    return {"left_out": left, "tables": [
        {"model": model._meta.label, "table": model._meta.db_table,
         **compare_rows(rows(model, "sqlite"), rows(model, "default"))}
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

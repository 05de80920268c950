"""The app's own settings with one more database, `sqlite`: the SQLite file being imported.

ONEHOST_APP_SETTINGS names the app's settings module (the container's DJANGO_SETTINGS_MODULE
before sqlite_import.py replaced it); ONEHOST_SQLITE_FILE is the file's path in the container.
"""
import importlib
import os

_app_settings = importlib.import_module(os.environ["ONEHOST_APP_SETTINGS"])
globals().update({name: value for name, value in vars(_app_settings).items() if name.isupper()})

DATABASES = {
    **_app_settings.DATABASES,
    "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["ONEHOST_SQLITE_FILE"]},
}
# A router written for one database would keep every model away from `sqlite` (dumpdata and
# migrate ask it): the import reads and writes each alias by name instead.
DATABASE_ROUTERS = []
# dumpdata and loaddata use JSON Lines that keep microseconds (onehost_import_jsonl).
SERIALIZATION_MODULES = {**getattr(_app_settings, "SERIALIZATION_MODULES", {}), "jsonl": "onehost_import_jsonl"}

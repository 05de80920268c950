"""The SQLite data move on a fresh local instance: seconds and peak memory for N rows.

    .venv/bin/python bench/import_sqlite.py [--rows 100000] [--keep]

Deploys the example, makes an SQLite file of the example's schema holding N events (Django's
own migrations, then rows inserted in bulk), runs deploy/import_sqlite.py and prints its time,
the file's size, the move's own phases as it printed them, and the import process's peak
memory (the host is a 1 GiB t3.micro).
"""

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deploy import BENCH_ENV, fresh_bench_instance
from onehost.local import instance
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import run_deploy

BATCH = 10_000


def example_sqlite(path: Path, rows: int) -> None:
    """The example's schema by its migrations, then `rows` events."""
    settings = path.parent / "bench_sqlite_settings.py"
    settings.write_text("from timewarp.settings.test import *  # noqa\n"
                        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
                        f"'NAME': {str(path)!r}}}}}\n")
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench_sqlite_settings",
               "PYTHONPATH": f"{settings.parent}:{REPO_ROOT / 'example'}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=REPO_ROOT / "example",
                   env=environ, check=True, timeout=300)
    with sqlite3.connect(path) as connection:
        for start in range(1, rows + 1, BATCH):
            connection.executemany(
                "INSERT INTO events_event (id, title, description, happened_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(i, f"event {i}", "x" * 80, "2026-01-01 00:00:00", "2026-01-01 00:00:00", "2026-01-01 00:00:00")
                 for i in range(start, min(start + BATCH, rows + 1))])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="events in the SQLite file (default 100000)")
    parser.add_argument("--keep", action="store_true", help="leave the bench instance running")
    args = parser.parse_args()
    config = fresh_bench_instance("timewarp:bench-v1", "timewarp:bench-v2")
    try:
        run_deploy("deploy.py", {"image": "timewarp:bench-v1"}, environ=BENCH_ENV, capture=True, timeout=900)
        with tempfile.TemporaryDirectory() as scratch:
            database = Path(scratch) / "timewarp.sqlite3"
            example_sqlite(database, args.rows)
            size = database.stat().st_size
            start = time.monotonic()
            result = run_deploy("import_sqlite.py", {"sqlite": str(database)}, environ=BENCH_ENV, capture=True,
                                timeout=3600)
            seconds = time.monotonic() - start
    finally:
        if not args.keep:
            instance.reset(config)
    printed = (result.stdout + result.stderr).decode(errors="replace")
    print(f"rows: {args.rows}, SQLite file: {size / 2**20:.1f} MiB")
    print(f"import (upload, dump, migrate, dumpdata, loaddata, sequences, verify): {seconds:.1f} s")
    for line in printed.splitlines():
        if re.search(r"(peak memory|done in|events_event)", line):
            print(f"  {line.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

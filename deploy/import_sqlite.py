"""Move a project's SQLite data into the host's PostgreSQL, once, and prove nothing was lost.

    pyinfra deploy/inventory.py deploy/import_sqlite.py --data sqlite=db.sqlite3
    pyinfra deploy/inventory.py deploy/import_sqlite.py --data sqlite=db.sqlite3 --data replace_existing=true
    pyinfra deploy/inventory.py deploy/import_sqlite.py --data sqlite=db.sqlite3 --data verify_only=true
    pyinfra deploy/inventory.py deploy/import_sqlite.py --data sqlite=db.sqlite3 --data media=./media

Into the database of the release that is live: its own migrations make the schema, Django's
dumpdata/loaddata move the rows, every sequence is reset, then rows and primary keys are
compared table by table (onehost/commands/sqlite_import.py). A database that already holds rows is
refused unless replace_existing; the live database is dumped first; verify_only only compares.
With media, the project's media files go to <data_dir>/media, checked by SHA-256 before (a file
there with the same name and other content refuses the import) and after (onehost/commands/media.py).
"""

from deploy.plans.sqlite_import_plan import plan_import
from deploy.tasks.sqlite_import import import_sqlite

import_sqlite(*plan_import())

"""Restore the database from a backup in S3, checked in a scratch database first.

    pyinfra deploy/inventory.py deploy/restore.py                       check the latest backup
    pyinfra deploy/inventory.py deploy/restore.py --data backup=NAME --data replace_live=true

Without replace_live nothing changes: the backup is downloaded, verified, restored into a
scratch database and its row counts compared, then the scratch database is dropped. With it,
the checked database replaces the live one while the app is stopped; the live one is kept
until the app is healthy again (and put back if it is not). `onehost backups list` lists names.
"""

from pyinfra.operations import server

from deploy.settings import settings

backup = settings().run.backup   # checked: a backup name, or latest
replace_live = settings().run.replace_live
arguments = ["restore", backup] + (["--replace-live"] if replace_live else [])
server.shell(name=f"Restore {backup}" + (" in place of the live database" if replace_live else
                                         " into a scratch database (a check; nothing changes)"),
             commands=[" ".join(["/usr/local/sbin/onehost-backup", *arguments])])

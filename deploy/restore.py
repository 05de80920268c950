"""Restore the database and the media files from a backup in S3, both checked first.

    pyinfra deploy/inventory.py deploy/restore.py                       check the latest backup
    pyinfra deploy/inventory.py deploy/restore.py --data backup=NAME --data replace_live=true

Without replace_live nothing changes: the backup is downloaded, verified, restored into a
scratch database and its row counts compared, its media files unpacked beside /data/media and
checked file by file against the backup's manifest, then both scratch copies are dropped. With
it, the checked database and media files replace the live ones while the app is stopped; the
live ones are kept until the app is healthy again (and put back if it is not). A backup made
where there was no /data/media restores the database alone and says so. `onehost backups list`
lists names.
"""

from pyinfra.operations import server

from deploy.settings import settings

backup = settings().run.backup   # checked: a backup name, or latest
replace_live = settings().run.replace_live
arguments = ["restore", backup] + (["--replace-live"] if replace_live else [])
server.shell(name=f"Restore {backup}" + (" in place of the live database and media files" if replace_live else
                                         " into a scratch database and media directory (a check; nothing changes)"),
             commands=[" ".join(["/usr/local/sbin/onehost-backup", *arguments])])

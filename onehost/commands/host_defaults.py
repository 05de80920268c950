"""Values the bake, the deploy, the AWS swap and the local images must agree on, kept in one place.

deploy/group_data/all.py takes its defaults from here (a host may be given another data_dir);
the AWS layer's swap mounts the data volume by the same label, and the local base images carry
the same PostgreSQL major version as the server image and the backup client.
"""

# The data volume (EBS on AWS, a Docker volume locally) is mounted here.
DATA_DIR = "/data"
DATA_VOLUME_LABEL = "onehost-data"
DATA_VOLUME_FSTYPE = "ext4"
# The PostgreSQL server's major version: the server image, the host's pg_dump client, the local
# base images.
POSTGRES_MAJOR = "17"
# A deploy lock older than this was left by a run that died: a deploy, `run --lock` and
# `onehost status` treat it as stale.
LOCK_TTL_SECONDS = 900

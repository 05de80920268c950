"""Hosts to deploy to: the local instance by default; ONEHOST_HOSTS names static hosts."""

from deploy.settings import record_dry_run
from onehost.remote.inventory import hosts_from_environment

app_hosts = hosts_from_environment()
# pyinfra's --dry is only visible here, where pyinfra loads the inventory (deploy/settings.py).
record_dry_run()

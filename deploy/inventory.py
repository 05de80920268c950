"""Hosts to deploy to: the local instance by default; ONEHOST_HOSTS names static hosts."""

from onehost.remote.inventory import hosts_from_environment

app_hosts = hosts_from_environment()

"""Reaching and running on hosts: the inventory, SSH, pyinfra deploys, the switch and SQLite
import runners, the release history."""

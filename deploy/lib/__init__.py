"""Helpers the tasks share: reading host.data, files from deploy/rootfs, systemd units, private
uploads, compose stacks. None of them is a `@deploy` task."""

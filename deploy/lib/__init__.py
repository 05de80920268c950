"""Helpers the tasks share: files from deploy/rootfs, systemd units, private
uploads, compose stacks. None of them is a `@deploy` task."""

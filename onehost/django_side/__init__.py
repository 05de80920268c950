"""Code that runs inside a one-off container of the app's own image (standard library and Django only).

The deploy copies these files to the host; nothing in onehost imports them.
"""

"""Pure builders and logic: argument lists, config renderers, parsers. No I/O imports
(boto3, pyinfra, subprocess, docker, SSH, sockets) and nothing else of onehost:
tests/unit/test_layers.py checks both."""

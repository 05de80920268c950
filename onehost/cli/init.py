"""`onehost init`: add the deploy's files to an existing Django project."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from onehost.local.init import (
    InitError,
    changes,
    inspect_project,
    next_steps,
    planned_files,
    refusal,
    warnings,
    write_files,
)


def run_command(args) -> int:
    project = inspect_project(Path(args.path))
    for line in project.describe():
        print(f"found {line}")
    app_name = args.app_name or project.root.name.lower().replace(" ", "-")
    files = planned_files(project, app_name, args.domain or ["api.example.com"], args.image or app_name,
                          args.registry)
    for line in changes(project, files):
        print(line)
    for line in warnings(project):
        print(line, file=sys.stderr)
    if args.dry:
        reason = refusal(files, args.force)
        if reason:  # what the real run would do: refuse, the same way
            raise InitError(f"{reason} (--dry: the real run would stop here)")
        for path, text in files.items():
            state = "replace" if path.exists() else "create"
            print(f"--- would {state} {path.relative_to(project.root)} ({len(text.splitlines())} lines)")
            print(text, end="" if text.endswith("\n") else "\n")
        print("(--dry: nothing was written)")
        return 0
    write_files(files, args.force)
    for path in files:
        print(f"wrote {path.relative_to(project.root)}")
    print("\n".join(next_steps(project, app_name)))
    return 0


HELP = """\
Add what the onehost deploy needs to an existing Django project, changing nothing else.

Run it in the directory that holds manage.py. It reads:

  settings       the module manage.py, wsgi.py and asgi.py name (DJANGO_SETTINGS_MODULE); a
                 production module of the project's own (production.py or prod.py, the one
                 wsgi.py names or the settings package's) is built on, never replaced
  WSGI           WSGI_APPLICATION, else <package>/wsgi.py
  requirements   requirements.txt (or requirements/production.txt) with every -r/-c file it
                 names, pyproject.toml with uv.lock or without, or Pipfile.lock
  Python         .python-version, runtime.txt, requires-python or the Pipfile's: a version the
                 image's Python does not match is a warning

says what it found and what the deploy will change, and writes:

  Dockerfile, .dockerignore     the image, the same shape as the example app's
  <settings>/production.py      deploy settings on top of the project's (or onehost.py beside
                                its own production.py): values from the release env file;
                                DATABASES["default"] keeps the project's options
  <package>/onehost/            health.py: /health/ (answered before the host check);
                                logs.py: JSON log lines with nginx's request id (one a
                                request; left out of MIDDLEWARE when the project logs each
                                request itself: django-structlog, django-guid,
                                django-request-logging, django-log-request-id or a
                                middleware of its own named like a request logger); env.py;
                                databases.py
  requirements-onehost.txt      what the image installs: the project's requirements as pip
                                reads them, with the deploy's gunicorn, psycopg and
                                dj-database-url where the project has none (a source-built
                                psycopg2 becomes psycopg2-binary); a conflict stops init
  gunicorn.conf.py              or, when the project has one, gunicorn.onehost.conf.py, which
                                reads it and sets what the deploy needs; gunicorn writes no
                                access log of its own either way
  compose.dev.yaml, onehost.toml (deploy settings)

Existing files are never overwritten unless --force; --dry prints the files instead, and stops
the same way the real run would.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("init", help="add the deploy's files to an existing Django project",
                                   description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", default=".", help="the project's directory (default: .)")
    parser.add_argument("--app-name", help="names the image and the database (default: the directory's name)")
    parser.add_argument("--domain", action="append", help="a public name the API is served under (repeat "
                                                          "for more; default api.example.com, edit onehost.toml)")
    parser.add_argument("--image", help="the image repository (default: the app name)")
    parser.add_argument("--registry", default="none",
                        help="none (ship images over SSH, the default), docker.io, an ECR registry or host:port")
    parser.add_argument("--dry", action="store_true", help="print the files it would write; write nothing")
    parser.add_argument("--force", action="store_true", help="replace files that exist")
    parser.set_defaults(func=run_command)

"""`onehost init`: add the deploy's files to an existing Django project."""

from __future__ import annotations

import argparse
from pathlib import Path

from onehost.local.init import inspect_project, next_steps, planned_files, write_files


def run_command(args) -> int:
    project = inspect_project(Path(args.path))
    for line in project.describe():
        print(f"found {line}")
    app_name = args.app_name or project.root.name.lower().replace(" ", "-")
    files = planned_files(project, app_name, args.domain or ["api.example.com"], args.image or app_name,
                          args.registry)
    if args.dry:
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

Run it in the directory that holds manage.py. It finds the settings module (manage.py's
DJANGO_SETTINGS_MODULE; a settings package such as config/settings/{base,dev}.py gets
production.py beside base.py, or onehost.py on top of a production.py it has; a single
settings.py gets settings_production.py), the WSGI
module (WSGI_APPLICATION) and the requirements (requirements.txt, pyproject.toml or Pipfile),
says what it found, and writes:

  Dockerfile, .dockerignore     the image, the same shape as the example app's
  <settings>/production.py      production settings read from the release env file
  <package>/onehost/            health.py: /health/ (answered before the host check);
                                logs.py: JSON log lines with nginx's request id; env.py
  gunicorn.conf.py, requirements-onehost.txt, compose.dev.yaml, onehost.toml (deploy settings)

Existing files are never overwritten unless --force; --dry prints the files instead.
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

"""gunicorn settings for the image's CMD (written by `onehost init`; edit it freely): the project's
own gunicorn.conf.py, read first and kept, then what the deploy needs on top of it.

gunicorn takes the settings a config file defines and ignores other names (benoitc/gunicorn
gunicorn/app/base.py, load_config_from_module_name_or_filename), so the project's settings and
server hooks come through as they are, whatever gunicorn version the project pins.
"""
import os
import runpy
from pathlib import Path

_PROJECT = runpy.run_path(str(Path(__file__).with_name("gunicorn.conf.py")))
globals().update({name: value for name, value in _PROJECT.items() if not name.startswith("__")})

# nginx and the deploy's health checks reach the app on port 8000 of its container.
bind = "0.0.0.0:8000"
# Workers heartbeat through files here; /dev/shm is memory, so a slow disk cannot make them look dead.
worker_tmp_dir = _PROJECT.get("worker_tmp_dir", "/dev/shm")
# On SIGTERM (the old colour stopping after a switch), in-flight requests get this long to finish;
# keep it under the deploy's drain_seconds (30) and the compose stop_grace_period (30s).
graceful_timeout = _PROJECT.get("graceful_timeout", int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25")))
# gunicorn 25+ opens a control socket under $HOME (here /app), which is read-only to the app user.
control_socket_disable = _PROJECT.get("control_socket_disable", True)
# No access log of gunicorn's own: the app logs each request once (onehost's request log or the
# project's), and a second line per request would double the log. gunicorn writes access lines
# when accesslog, a logging config or syslog is set (gunicorn/glogging.py, access_log_enabled);
# its logconfig_dict is applied over CONFIG_DEFAULTS, whose gunicorn.access logger prints them.
accesslog = None
disable_redirect_access_to_syslog = True
if _PROJECT.get("logconfig_dict"):
    from gunicorn.glogging import CONFIG_DEFAULTS  # what a dict without "loggers" keeps

    logconfig_dict = {**_PROJECT["logconfig_dict"], "loggers": {
        **_PROJECT["logconfig_dict"].get("loggers", CONFIG_DEFAULTS["loggers"]),
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    }}

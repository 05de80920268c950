"""gunicorn settings for the image's CMD; sizes come from the environment."""
import os


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} is {raw!r}: set it to a whole number of at least 1 in the release env file")
    return int(raw)


bind = "0.0.0.0:8000"
workers = _positive_int("GUNICORN_WORKERS", 2)
timeout = _positive_int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (the old colour stopping after a switch), in-flight requests get this long to
# finish; keep it under the deploy's drain_seconds (30) and the compose stop_grace_period (30s).
graceful_timeout = _positive_int("GUNICORN_GRACEFUL_TIMEOUT", 25)
# No access log of gunicorn's own: the app logs one JSON line per request (timewarp/logs.py).
accesslog = None
errorlog = "-"  # stderr: workers starting, timing out, crashing
# Workers heartbeat through files here; /dev/shm is memory, so a slow disk cannot make them look dead.
worker_tmp_dir = "/dev/shm"
# gunicorn 25+ opens a control socket under $HOME (here /app), which is read-only
# to the app user; nothing here uses `gunicornc`.
control_socket_disable = True

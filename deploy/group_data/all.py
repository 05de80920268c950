# Configuration for every host: what the bake installs and how the stacks are named.
# Values here are defaults; inventories, `--data` and `--group-data` override them.

# --- bake ---------------------------------------------------------------------
admin_user = "admin"
docker_packages = ["docker.io", "docker-cli", "docker-compose"]
# The bake removes what makes a host unique; a live host must never run it.
image_hygiene = True

# --- deploy -------------------------------------------------------------------
data_dir = "/data"
network_name = "onehost"
# Official images by default; the local instance is given Debian-built stand-ins.
postgres_image = "postgres:17-bookworm"
nginx_image = "nginx:1.27-bookworm"
app_name = "timewarp"
server_names = ["localhost", "127.0.0.1"]
# How long a stack may take to report healthy before the deploy gives up.
health_timeout_seconds = 120
# After the switch, how long the old colour may finish in-flight requests before it is stopped.
drain_seconds = 30
# A deploy lock older than this was left by a deploy that died; it is broken with a warning.
lock_ttl_seconds = 900
# Release directories kept on the host (current and previous are always kept).
keep_releases = 5

# --- edge (nginx) -----------------------------------------------------------------
app_port = 8000
client_max_body_size = "10m"
# Matches the app's Gunicorn timeout (GUNICORN_TIMEOUT, 30 s) plus headroom.
proxy_read_timeout = "35s"
resolver_valid = "10s"

# --- database ----------------------------------------------------------------------
db_name = "timewarp"
db_user = "timewarp"

# Configuration for every host: what the bake installs and how the stacks are named.
# Values here are defaults; inventories, `--data` and `--group-data` override them.

from onehost.commands import host_defaults as _shared  # the values other layers share

# --- bake ---------------------------------------------------------------------
admin_user = "admin"
# The ECR credential helper lets root's docker pull from ECR with the instance role (the
# delivery workflow's pull=true); other registries are pulled as before (anonymously).
docker_packages = ["docker.io", "docker-cli", "docker-compose", "amazon-ecr-credential-helper"]
# The bake removes what makes a host unique; a live host must never run it.
image_hygiene = True
timezone = "Etc/UTC"
# The data volume (EBS on AWS) is mounted at data_dir by this label, with nofail.
data_volume_label = _shared.DATA_VOLUME_LABEL
data_volume_fstype = _shared.DATA_VOLUME_FSTYPE
# What a swap uses to give a blank data volume its file system (Debian's cloud images have it;
# the local image's minimal base does not).
data_volume_packages = ["e2fsprogs"]
# cloud-init boots each host from its datasource (EC2's, or the local instance's NoCloud seed).
cloud_init_packages = ["cloud-init"]
# Hardening: security updates installed daily by unattended-upgrades; time from timesyncd.
hardening_packages = ["unattended-upgrades", "systemd-timesyncd", "tzdata", "rsyslog", "logrotate"]
# Backups: the PostgreSQL client of the server's major version (postgres_image below).
postgres_major = _shared.POSTGRES_MAJOR
backup_packages = [f"postgresql-client-{postgres_major}", "python3-boto3"]
# TLS: certbot renews the edge's certificates; openssl makes the placeholder and reads certificates.
tls_packages = ["certbot", "openssl"]
# What the bake makes: "local" (the instance image) or "aws" (the AMI build passes
# --data bake_target=aws).
bake_target = "local"
# CloudWatch agent: the official .deb is installed on AWS targets (or when this is true);
# every target renders and validates its config.
cloudwatch_agent_package = False
cloudwatch_namespace = "onehost"
# The log group the AWS layer creates (7-day retention there; the agent is told the same).
cloudwatch_log_group = "/onehost/host"
cloudwatch_log_retention_days = 7
cloudwatch_disks = ["/", _shared.DATA_DIR]
# log stream (after the instance id) -> file. nginx and the app log to Docker's json-file
# logs (one file per container); the system journal reaches /var/log/syslog via rsyslog.
cloudwatch_log_files = {
    "containers": "/var/lib/docker/containers/*/*-json.log",
    "syslog": "/var/log/syslog",
    "auth": "/var/log/auth.log",
}
# What the agent ships of the containers' logs (every line stays on the host in Docker's
# json-file logs, `docker logs`). CloudWatch Logs is free up to 5 GB ingested a month; each
# request writes an nginx access line and an app line (docs/explanation/costs.md).
# "errors": warnings and errors, 5xx answers, every line holding a cloudwatch_counted_terms
# term, and the lines of one request in cloudwatch_request_sample. "all": every line.
cloudwatch_container_logs = "errors"
# 1 request in N (a power of 16: 1, 16, 256, ...) is shipped whole, picked by its request id;
# 0 ships none.
cloudwatch_request_sample = 16
# The terms the stack's log metric filters count (deploy/aws/stack.yaml): lines holding them
# are always shipped, whatever the level (a unit test keeps this list and the stack together).
cloudwatch_counted_terms = ["server_error", "database_connection_failed", "certificate renewal failed"]

# --- deploy -------------------------------------------------------------------
data_dir = _shared.DATA_DIR
network_name = "onehost"
# Official images by default; the local instance is given Debian-built stand-ins.
postgres_image = f"postgres:{_shared.POSTGRES_MAJOR}-bookworm"
# nginx's stable line (an even minor version, https://www.nginx.com/blog/nginx-1-18-1-19-released/#NGINX-Versioning-Explained),
# on Debian trixie like the host and the local stand-in. The tag follows the line's patch releases; the
# official image names it <minor>-<debian suite> (nginx/docker-nginx generate-stackbrew-library.sh:
# stable is 1.30 since 14 April 2026, https://nginx.org/2026.html).
nginx_image = "nginx:1.30-trixie"
app_name = "timewarp"
server_names = ["localhost", "127.0.0.1"]
# How long a stack may take to report healthy before the deploy gives up.
health_timeout_seconds = 120
# After the switch, how long the old colour may finish in-flight requests before it is stopped
# (in the background: the deploy does not wait for it; the next start of that colour does).
drain_seconds = 30
# A deploy lock older than this was left by a deploy that died; it is broken with a warning.
lock_ttl_seconds = _shared.LOCK_TTL_SECONDS
# Release directories kept on the host (current and previous are always kept).
keep_releases = 5

# --- processes beside the web server, and their broker ---------------------------------
# name -> command line, run from the release's image with its app.env, one container each,
# following the live colour (onehost.toml's [processes]; `onehost init` fills it from a Procfile).
processes = {}
# A stopping process gets SIGTERM, then this long before SIGKILL: Celery's warm shutdown finishes
# the tasks it runs (https://docs.celeryq.dev/en/stable/userguide/workers.html#stopping-the-worker).
process_stop_grace_seconds = 60
# "valkey": a Redis-compatible broker on the host (its own stack, the shared network only, data
# in <data_dir>/broker); the release env gets CELERY_BROKER_URL and REDIS_URL. "off": none.
broker = "off"
# Valkey's official image (its releases list the tags: https://valkey.io/download/); the local
# instance gets a stand-in built from Debian trixie's valkey-server.
broker_image = "valkey/valkey:8.1-bookworm"
# A 1 GiB host: PostgreSQL 256M, app 384M, nginx 64M; the broker's data stays under this.
broker_maxmemory = "64mb"

# --- registry (the app image with --data pull=true) --------------------------------
# With pull=true the app image's tag is resolved to its digest on this machine (ECR through
# boto3, other registries through the local Docker daemon) and the host pulls that digest.
# ECR needs no settings here (AWS credentials here, the instance role on the host). Other
# private registries: the user, with the password in the environment variable
# ONEHOST_REGISTRY_PASSWORD or in a file on this machine; never as --data registry_password.
registry_username = None
registry_password_file = None

# --- edge (nginx) -----------------------------------------------------------------
app_port = 8000
client_max_body_size = "10m"
# Matches the app's Gunicorn timeout (GUNICORN_TIMEOUT, 30 s) plus headroom.
proxy_read_timeout = "35s"
proxy_send_timeout = "35s"
# The app answers on the shared network or not at all: fail fast (502) instead of hanging.
proxy_connect_timeout = "5s"
resolver_valid = "10s"
# Request rate limit per client address on every route of the app, /api/ or not (nginx
# limit_req: rate, then a burst served at once; beyond it a JSON 429). /health/ and the files
# nginx serves itself (/static/) are not limited. The zone holds ~16000 addresses a MB.
api_rate_limit = "20r/s"
api_rate_limit_burst = 40
api_rate_limit_zone_size = "10m"
# How long nginx waits on a client (nginx's defaults: 60 s each, keep-alive 75 s). A real client
# sends its request header in one go; a slow-header client (slowloris) is cut off after 10 s
# instead of holding a connection for a minute. Body and response timeouts count between two
# reads or writes, not the whole transfer. nginx answers nothing on a header timeout; it closes.
client_header_timeout = "10s"
client_body_timeout = "10s"
send_timeout = "10s"
keepalive_timeout = "30s"
# Requests in progress at once per client address (nginx limit_conn; over it a JSON 429). The
# app's few workers serve far fewer; this keeps one address from taking the edge's 1024
# connections a worker. A MB of zone holds about 16000 addresses (ngx_http_limit_conn_module).
connections_per_client = 32
connections_zone_size = "5m"
# The port clients reach HTTPS on, where HTTP redirects them: 443 on a host; the local instance's
# published port there (onehost/remote/inventory.py), so a redirect stays on this machine.
public_https_port = 443

# Static files: nginx serves /static/ from <data_dir>/static, where each deploy copies the
# directory the app image keeps its collectstatic output in (before the switch). Files with
# a content hash in the name (Django's ManifestStaticFilesStorage) are cached for a year.
# "" serves no static files from nginx (the app then answers /static/ itself, or nobody).
app_static_dir = "/app/staticfiles"

# CloudFlare proxies the domain (SSL/TLS mode "Full (strict)"): nginx restores each client's
# address from CF-Connecting-IP on connections from CloudFlare's ranges (nginx/cloudflare-ips.txt).
cloudflare = False

# Content-Security-Policy. HTML pages the app answers (Django's admin, DRF's browsable API) load
# their own CSS, scripts, images and fonts, call and post forms to their own origin, and are
# framed by nobody; every other answer (JSON, static files, nginx's own) loads nothing.
# Directives separated by ; (docs/how-to/security-headers.md).
content_security_policy_html = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'none'")
content_security_policy = "default-src 'none'; frame-ancestors 'none'"

# --- TLS ----------------------------------------------------------------------------
# "letsencrypt": HTTPS on 443 with one certificate for all server_names, got and renewed by
# certbot (each name a public domain whose DNS points at this host, port 80 reachable); HTTP
# answers ACME challenges and redirects everything else to HTTPS. "off": plain HTTP on port 80
# (the local instance, or TLS ended before the host).
tls = "letsencrypt"
# Let's Encrypt's contact for this account (expiry warnings). Required with tls=letsencrypt.
letsencrypt_email = None
# "production", "staging" (untrusted certificates, generous rate limits: for a first try) or
# the https:// directory URL of another ACME server. Changing it gets a new certificate from the
# new directory on the next deploy (certbot's renewal file records which one issued it).
acme_server = "production"
# A PEM file on the deploying machine: the CA of the ACME server's own HTTPS certificate, for
# ACME servers with a private CA (test servers, internal CAs). Copied to the host.
acme_ca_bundle = None
# Strict-Transport-Security on HTTPS responses; includeSubDomains and preload are opt-in (both
# bind every subdomain to HTTPS, preload for years: https://hstspreload.org).
hsts_max_age = 63072000
hsts_include_subdomains = False
hsts_preload = False

# --- backups ------------------------------------------------------------------------
# The S3 bucket for nightly pg_dump backups (the AWS layer's stack makes it). A deploy without
# it keeps the settings the host already has (a CI deploy does not switch backups off);
# backups="off" removes them, with a warning.
backup_bucket = None
backups = "on"
backup_prefix = "backups/"
aws_region = "eu-west-1"
# S3 and CloudWatch somewhere else than AWS (an S3-compatible store; the tests' moto server).
aws_endpoint_url = None
# Off EC2 (no instance role): a local AWS credentials file, copied to the host with mode 0600.
backup_aws_credentials = None
# The Host dimension of the backup heartbeat (the stack's alarm watches <project>-<environment>);
# unset: the inventory's host name. The tag inventory sets it from the instance's tags.
metrics_host = None
# Local dumps kept after a confirmed upload, newest first.
backup_keep_local = 2
# When the nightly backup runs (systemd OnCalendar, UTC).
backup_time = "*-*-* 03:00:00 UTC"

# --- database ----------------------------------------------------------------------
db_name = "timewarp"
db_user = "timewarp"
